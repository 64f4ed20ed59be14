#!/usr/bin/env bash
# A guided tour: clone a throwaway PostgreSQL primary with `walstream clone`,
# start the clone as a hot standby, write on the primary and read the rows
# back from the standby. Everything lives in a temporary directory that is
# removed at the end. Run as root (it installs dependencies and runs the
# servers as the unprivileged user walstream-demo) or as a normal user.
set -euo pipefail

readonly demo_user=walstream-demo
readonly pg_bin=/usr/lib/postgresql/15/bin
# A fresh random password each run (letters and digits: safe in SQL and .pgpass).
readonly password=$(tr -dc 'A-Za-z0-9' </dev/urandom | head -c 20)

step() { printf '\n==> %s\n' "$*"; }

# Runs a command with its output in a log; shows the log only on failure.
quiet() {
  local log
  log=$(mktemp)
  if ! "$@" >"$log" 2>&1; then
    cat "$log" >&2
    rm -f "$log"
    echo "demo.sh: failed: $*" >&2
    return 1
  fi
  rm -f "$log"
}

# A TCP port on 127.0.0.1 that nothing listens on right now.
free_port() {
  local port
  for _ in $(seq 200); do
    port=$((20000 + RANDOM % 40000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port"
      return 0
    fi
  done
  echo "demo.sh: no free port found" >&2
  return 1
}

stop_server() {  # data_dir mode
  if [[ -f $1/postmaster.pid ]]; then
    "$pg_bin/pg_ctl" -D "$1" -m "$2" -w stop >/dev/null 2>&1 || true
  fi
}

# ---------------------------------------------------------------------------
# Inner part: runs as the unprivileged user, inside the work directory.
demo() {
  # Globals, not locals: the EXIT trap still needs them.
  work=$1
  primary=$work/primary
  standby=$work/standby
  sock=$work/sock
  walstream=$work/walstream
  mkdir -p "$sock"
  trap 'stop_server "$standby" fast; stop_server "$primary" fast' EXIT

  local port
  port=$(free_port)
  step "1. Create a throwaway primary in $primary (port $port)"
  quiet "$pg_bin/initdb" -D "$primary" -U postgres --auth-local=trust \
    --auth-host=scram-sha-256 -E UTF8 --locale=C --no-sync --no-instructions
  cat >>"$primary/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$sock'
wal_level = replica
max_wal_senders = 5
CONF
  echo "host replication r 127.0.0.1/32 scram-sha-256" >>"$primary/pg_hba.conf"
  echo "    postgresql.conf: wal_level = replica, max_wal_senders = 5"
  echo "    pg_hba.conf:     host replication r 127.0.0.1/32 scram-sha-256"
  quiet "$pg_bin/pg_ctl" -D "$primary" -l "$work/primary.log" -w start
  psql_primary() { "$pg_bin/psql" -X -q -h "$sock" -p "$port" -U postgres -d postgres "$@"; }
  psql_primary -c "CREATE ROLE r REPLICATION LOGIN PASSWORD '$password'"
  echo "    role r: REPLICATION LOGIN, password in ~/.pgpass"
  umask 077
  echo "127.0.0.1:$port:*:r:$password" >"$HOME/.pgpass"
  chmod 0600 "$HOME/.pgpass"
  umask 022

  step "2. Clone it: walstream clone -h 127.0.0.1 -p $port -U r -D $standby -P -v"
  "$walstream" clone -h 127.0.0.1 -p "$port" -U r -D "$standby" -P -v
  echo "    standby.signal: $([[ -f $standby/standby.signal ]] && echo present || echo MISSING)"
  echo "    postgresql.auto.conf:"
  grep -E '^primary_(conninfo|slot_name)' "$standby/postgresql.auto.conf" |
    sed -E "s/(password)=('[^']*'|[^ ']*)/\1=********/" | sed 's/^/      /'

  local standby_port
  standby_port=$(free_port)
  step "3. Start the clone as a hot standby on port $standby_port"
  quiet "$pg_bin/pg_ctl" -D "$standby" -l "$work/standby.log" -w \
    -o "-p $standby_port -c unix_socket_directories='$sock' -c listen_addresses=127.0.0.1" start
  psql_standby() { "$pg_bin/psql" -X -q -h "$sock" -p "$standby_port" -U postgres -d postgres "$@"; }
  echo "    pg_is_in_recovery() = $(psql_standby -Atc 'SELECT pg_is_in_recovery()')"

  step "4. Write on the primary"
  psql_primary -c "CREATE TABLE greetings (id int PRIMARY KEY, said_at timestamptz DEFAULT now(), text text);
    INSERT INTO greetings (id, text) VALUES (1, 'hello'), (2, 'from the'), (3, 'primary')"
  echo "    created table greetings with 3 rows"

  step "5. Wait for the standby to replay them"
  local count=""
  for _ in $(seq 600); do
    count=$(psql_standby -Atc "SELECT count(*) FROM greetings" 2>/dev/null || true)
    [[ $count == 3 ]] && break
    sleep 0.1
  done
  if [[ $count != 3 ]]; then
    echo "demo.sh: the standby did not replay the rows within 60 s" >&2
    tail -n 30 "$work/standby.log" >&2
    return 1
  fi

  step "6. Read them back from the standby (port $standby_port)"
  psql_standby -c "SELECT id, text FROM greetings ORDER BY id"

  step "7. The standby's WAL receiver"
  psql_standby -x -c "SELECT status, sender_host, sender_port, flushed_lsn, latest_end_lsn
    FROM pg_stat_wal_receiver"

  step "8. Stop both servers and clean up"
}

if [[ ${1:-} == --inner ]]; then
  demo "$2"
  exit 0
fi

# ---------------------------------------------------------------------------
# Outer part: dependencies, build, work directory, then the inner part.
repo=$(cd "$(dirname "$0")/.." && pwd)
step "0. Install dependencies and build walstream"
bash "$repo/tools/install-deps.sh"
bash "$repo/tools/build.sh"

work=$(mktemp -d /tmp/walstream-demo-XXXXXX)
cleanup() {
  local status=$?
  for dir in "$work/standby" "$work/primary"; do
    if [[ -f $dir/postmaster.pid ]]; then
      if ((EUID == 0)); then
        runuser -u "$demo_user" -- "$pg_bin/pg_ctl" -D "$dir" -m immediate -w stop \
          >/dev/null 2>&1 || true
      else
        stop_server "$dir" immediate
      fi
    fi
  done
  rm -rf "$work"
  if ((status == 0)); then
    echo "    done: servers stopped, $work removed"
  fi
}
trap cleanup EXIT
cp "$repo/build/tools/walstream" "$work/walstream"
cp "$repo/tools/demo.sh" "$work/demo.sh"
chmod 0755 "$work" "$work/walstream" "$work/demo.sh"

if ((EUID == 0)); then
  if ! id "$demo_user" >/dev/null 2>&1; then
    quiet useradd --system --create-home --shell /bin/bash "$demo_user"
  fi
  home=$(getent passwd "$demo_user" | cut -d: -f6)
  mkdir -p "$home"
  chown "$demo_user:" "$home"
  chown -R "$demo_user:" "$work"
  echo "    servers and walstream run as OS user $demo_user (PostgreSQL refuses root)"
  runuser -u "$demo_user" -- env -i PATH=/usr/local/bin:/usr/bin:/bin HOME="$home" \
    USER="$demo_user" LOGNAME="$demo_user" LANG=C.UTF-8 bash "$work/demo.sh" --inner "$work"
else
  # Leave the caller's own ~/.pgpass and PG* settings alone.
  mkdir -p "$work/home"
  env -u PGHOST -u PGPORT -u PGUSER -u PGPASSWORD -u PGPASSFILE -u PGDATABASE \
    HOME="$work/home" bash "$work/demo.sh" --inner "$work"
fi
