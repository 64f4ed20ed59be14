#!/usr/bin/env bash
# THE test command: installs dependencies, fetches the PostgreSQL servers of
# the version matrix (11 to 18), builds, checks formatting, and
# runs every test (unit, fuzz replay, integration against real PostgreSQL
# servers). Exits with ctest's status.
set -euo pipefail
cd "$(dirname "$0")/.."

bash tools/install-deps.sh
bash tools/fetch-postgres.sh
bash tools/build.sh

source_dirs=()
for dir in protocol storage walreceiver tools tests bench; do
  [[ -d $dir ]] && source_dirs+=("$dir")
done
unformatted=()
while IFS= read -r -d '' file; do
  clang-format --dry-run --Werror "$file" >/dev/null 2>&1 || unformatted+=("$file")
done < <(find "${source_dirs[@]}" -type f \( -name '*.h' -o -name '*.cc' \) -print0 | sort -z)
if ((${#unformatted[@]} > 0)); then
  echo "run-tests.sh: these files are not clang-formatted (fix with clang-format -i):" >&2
  printf '  %s\n' "${unformatted[@]}" >&2
  exit 1
fi

exec ctest --test-dir build --output-on-failure --timeout 900
