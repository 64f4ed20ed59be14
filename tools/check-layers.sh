#!/usr/bin/env bash
# Fails (exit 1, one line per violation) when a source file includes what its
# layer must not see. The build runs it before compiling anything; per-layer
# include roots already make a header of a higher layer unreachable, this
# adds what include paths cannot express:
#   protocol/     the C++ standard library and nlohmann/json only (no POSIX,
#                 no libpq, no Asio), and no clock reads
#   storage/      no libpq, no Asio, no spdlog, no CLI
#   walreceiver/  no CLI (the command line belongs to tools/)
#   everywhere    no "../" in an include, no header of a higher layer
set -euo pipefail
cd "$(dirname "$0")/.."

violations=0
report() {
  echo "check-layers: $1" >&2
  violations=$((violations + 1))
}

# Layers in order, lowest first; a file may include its own layer and lower.
layers=(protocol storage walreceiver tools)
rank() {
  local i
  for i in "${!layers[@]}"; do [[ ${layers[$i]} == "$1" ]] && echo "$i" && return; done
  echo -1
}

for layer in "${layers[@]}"; do
  own=$(rank "$layer")
  while IFS= read -r -d '' file; do
    while IFS= read -r line; do
      number=${line%%:*}
      text=${line#*:}
      where="$file:$number"
      if [[ $text =~ \#include[[:space:]]*\"([^\"]+)\" ]]; then
        target=${BASH_REMATCH[1]}
        if [[ $target == *..* ]]; then
          report "$where: include with \"..\": $target"
          continue
        fi
        top=${target%%/*}
        other=$(rank "$top")
        if ((other > own)); then
          report "$where: $layer/ includes $target, a header of $top/ above it"
        elif ((other < 0)); then
          report "$where: $target is not a header of a layer"
        fi
      elif [[ $text =~ \#include[[:space:]]*\<([^\>]+)\> ]]; then
        header=${BASH_REMATCH[1]}
        case $layer in
          protocol)
            if [[ $header == */* || $header == *.h* ]] && [[ $header != nlohmann/json.hpp ]]; then
              report "$where: protocol/ includes <$header>; it uses the standard library only"
            fi
            ;;
          storage)
            case $header in
              libpq-fe.h | boost/* | spdlog/* | CLI/*)
                report "$where: storage/ includes <$header>; no libpq, Asio, logging or CLI there"
                ;;
            esac
            ;;
          walreceiver)
            [[ $header == CLI/* ]] && report "$where: walreceiver/ includes <$header>"
            ;;
        esac
      fi
    done < <(grep -n '^[[:space:]]*#[[:space:]]*include' "$file" || true)
  done < <(find "$layer" -type f \( -name '*.h' -o -name '*.cc' \) -print0 | sort -z)
done

# Sans-I/O means no clock either: time comes in as an argument.
while IFS= read -r line; do
  report "${line%%:*}:$(cut -d: -f2 <<<"$line"): protocol/ reads the clock"
done < <(grep -rnE '(system_clock|steady_clock|high_resolution_clock)::now|time\(nullptr\)' protocol || true)

if ((violations > 0)); then
  echo "check-layers: $violations violation(s) of the layering (docs/ARCHITECTURE.md, Layers)" >&2
  exit 1
fi
