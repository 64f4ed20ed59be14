#!/usr/bin/env bash
# Man pages from the same help text the binary prints: walstream(1) and one
# walstream-SUBCOMMAND(1) each, by help2man. Usage: make-man.sh WALSTREAM OUTDIR
set -euo pipefail
walstream=$1
out=$2
mkdir -p "$out"
wrappers=$(mktemp -d)
trap 'rm -rf "$wrappers"' EXIT
help2man --no-info --name "PostgreSQL physical replication client" \
  --output "$out/walstream.1" "$walstream"
for sub in clone receive restore-wal verify bench check; do
  # help2man runs PROGRAM --help / --version: a wrapper per subcommand.
  printf '#!/bin/sh\nexec %q %s "$@"\n' "$walstream" "$sub" >"$wrappers/walstream-$sub"
  chmod +x "$wrappers/walstream-$sub"
  summary=$("$walstream" "$sub" --help | head -n 1)
  help2man --no-info --name "$summary" --output "$out/walstream-$sub.1" "$wrappers/walstream-$sub"
done
