#!/usr/bin/env bash
# End-to-end comparison against the stock tools, on one throwaway primary:
#   clone:   pg_basebackup -X stream -R   vs  walstream clone      (both durable)
#   catchup: pg_receivewal --endpos X     vs  walstream receive -E X (a backlog of WAL
#            held by an idle slot, received from its start, durable at exit)
# Runs alternate A/B (the machines are noisy), prints every run, the medians and
# the ratios walstream/stock, and the machine it ran on.
#
# Usage (as root, after tools/build.sh): bash bench/e2e_compare.sh [SCALE] [RUNS]
#   SCALE  pgbench scale of the primary (default 50, about 750 MB)
#   RUNS   runs per tool (default 5)
set -euo pipefail
cd "$(dirname "$0")/.."

scale=${1:-50}
runs=${2:-5}
bin=/usr/lib/postgresql/15/bin
user=walstream-bench
walstream_src=build/tools/walstream
[[ -x $walstream_src ]] || { echo "build first: bash tools/build.sh" >&2; exit 1; }
id "$user" >/dev/null 2>&1 || useradd --system --create-home --shell /bin/bash "$user"

work=$(mktemp -d /tmp/walstream-bench-XXXXXX)
chown "$user" "$work"
cp "$walstream_src" "$work/walstream"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
as_user() { runuser -u "$user" -- env PGPASSWORD=bench "$@"; }
cleanup() {
  as_user "$bin/pg_ctl" -D "$work/primary" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

echo "== machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(uname -r), disk of $work: $(df -h "$work" | awk 'NR==2{print $1}')"
as_user "$bin/initdb" -D "$work/primary" -U postgres --auth-local=trust --auth-host=scram-sha-256 >/dev/null
cat >>"$work/primary/postgresql.conf" <<EOF
port = $port
listen_addresses = '127.0.0.1'
unix_socket_directories = '$work'
wal_level = replica
max_wal_senders = 10
max_wal_size = 4GB
shared_buffers = 256MB
EOF
echo "host replication r 127.0.0.1/32 scram-sha-256" >>"$work/primary/pg_hba.conf"
as_user "$bin/pg_ctl" -D "$work/primary" -l "$work/primary.log" -w start >/dev/null
psql_p() { as_user psql -h "$work" -p "$port" -U postgres -Atq "$@"; }
psql_p -c "CREATE ROLE r REPLICATION LOGIN PASSWORD 'bench'"
echo "== pgbench -i -s $scale"
as_user "$bin/pgbench" -h "$work" -p "$port" -U postgres -i -s "$scale" -q postgres 2>&1 | tail -1

# Prints "<elapsed s> <user+sys s>" of a command run as the bench user.
timed() {
  /usr/bin/time -o "$work/time" -f "%e %U %S" runuser -u "$user" -- env PGPASSWORD=bench "$@" \
    >/dev/null 2>"$work/err" || { cat "$work/err" >&2; return 1; }
  awk '{printf "%.2f %.2f\n", $1, $2 + $3}' "$work/time"
}
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

declare -A elapsed cpu
record() { elapsed[$1]+="$2"$'\n'; cpu[$1]+="$3"$'\n'; printf '  %-22s %6.2f s elapsed %6.2f s cpu\n' "$1" "$2" "$3"; }

echo "== clone ($runs runs each, alternating; target on the same disk, durable)"
for ((i = 1; i <= runs; i++)); do
  for tool in pg_basebackup walstream_clone; do
    rm -rf "$work/target"; sync
    if [[ $tool == pg_basebackup ]]; then
      read -r e c < <(timed "$bin/pg_basebackup" -h 127.0.0.1 -p "$port" -U r -D "$work/target" -X stream -R -c fast)
    else
      read -r e c < <(timed "$work/walstream" clone -h 127.0.0.1 -p "$port" -U r -D "$work/target" -c fast)
    fi
    record "$tool" "$e" "$c"
  done
done
rm -rf "$work/target"

echo "== WAL catch-up: a backlog held by an idle slot, received from its start to the same end LSN"
# No slot for the receivers (a reported flush would advance it between runs);
# both start at the segment of an empty .partial seeded into the directory,
# which both treat as "continue here".
psql_p -c "SELECT pg_create_physical_replication_slot('bench_anchor', true)" >/dev/null
start_lsn=$(psql_p -c "SELECT pg_current_wal_lsn()")
start_segment=$(psql_p -c "SELECT pg_walfile_name('$start_lsn')")
as_user "$bin/pgbench" -h "$work" -p "$port" -U postgres -n -c 2 -t 20000 postgres >/dev/null 2>&1
end_lsn=$(psql_p -c "SELECT pg_current_wal_lsn()")
echo "  backlog: $start_lsn to $end_lsn ($(psql_p -c "SELECT pg_size_pretty(pg_wal_lsn_diff('$end_lsn', '$start_lsn'))"))"
for ((i = 1; i <= runs; i++)); do
  for tool in pg_receivewal walstream_receive; do
    rm -rf "$work/archive"; as_user mkdir "$work/archive"
    as_user touch "$work/archive/$start_segment.partial"; sync
    if [[ $tool == pg_receivewal ]]; then
      read -r e c < <(timed "$bin/pg_receivewal" -h 127.0.0.1 -p "$port" -U r -D "$work/archive" -E "$end_lsn" -n)
    else
      read -r e c < <(timed "$work/walstream" receive -h 127.0.0.1 -p "$port" -U r -D "$work/archive" -E "$end_lsn" -n)
    fi
    record "$tool" "$e" "$c"
  done
done

echo "== medians"
for pair in "pg_basebackup walstream_clone" "pg_receivewal walstream_receive"; do
  read -r stock ours <<<"$pair"
  se=$(median <<<"${elapsed[$stock]}"); oe=$(median <<<"${elapsed[$ours]}")
  sc=$(median <<<"${cpu[$stock]}"); oc=$(median <<<"${cpu[$ours]}")
  printf '  %-18s %6.2f s (cpu %5.2f s)   %-18s %6.2f s (cpu %5.2f s)   time ratio %.2f, cpu ratio %.2f\n' \
    "$stock" "$se" "$sc" "$ours" "$oe" "$oc" "$(awk -v a="$oe" -v b="$se" 'BEGIN{print a/b}')" \
    "$(awk -v a="$oc" -v b="$sc" 'BEGIN{print (b > 0 ? a/b : 0)}')"
done
