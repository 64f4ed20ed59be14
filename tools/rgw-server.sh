#!/usr/bin/env bash
# A one-node Ceph cluster with a RADOS Gateway: a real S3 server for tests.
#
#   rgw-server.sh start DIR MON_PORT S3_PORT
#   rgw-server.sh purge DIR BUCKET
#   rgw-server.sh stop DIR
#   rgw-server.sh stop-gateway DIR
#   rgw-server.sh start-gateway DIR
#
# start creates DIR (which must not exist or be empty), runs a monitor on
# 127.0.0.1:MON_PORT, one OSD holding its data in memory (memstore) and the
# gateway on 127.0.0.1:S3_PORT, creates an S3 user with fresh random keys and
# writes DIR/env (mode 0600), lines NAME=VALUE:
#   AWS_ENDPOINT_URL  AWS_REGION  AWS_ACCESS_KEY_ID  AWS_SECRET_ACCESS_KEY
# It prints the endpoint URL, nothing else. Everything the daemons write (data,
# logs, pid files, sockets) stays in DIR; nothing runs as another user. On
# failure it stops what it started, prints the cause (with the tail of the
# daemon's log) on stderr and exits 1.
#
# purge deletes BUCKET and every object in it at once (deleted objects
# otherwise wait hours for the gateway's garbage collection, holding the
# memory of the in-memory OSD).
#
# stop-gateway ends the gateway alone (the bucket's data stays in the OSD):
# the S3 endpoint refuses connections, as in an outage. start-gateway starts
# it again on the same port and waits until it answers.
#
# stop ends the daemons in the order gateway, OSD, monitor (the fast order)
# and waits until they are gone; DIR is left for the caller to delete.
#
# Keep MON_PORT and S3_PORT outside 6800-7300, the range the OSD takes ports
# from. Needs the packages radosgw ceph-mon ceph-osd ceph-common
# (tools/install-deps.sh). Environment: RGW_STORE_BYTES (memstore size,
# default 4 GiB, only what is written takes memory: a full OSD makes
# requests hang, not fail), RGW_START_TIMEOUT (seconds, default 60).
set -euo pipefail

readonly rgw_name=client.rgw.walstream
readonly store_bytes=${RGW_STORE_BYTES:-4294967296}
readonly start_timeout=${RGW_START_TIMEOUT:-60}
# Every call of the ceph CLI gets a bound: it waits forever for a monitor.
readonly cli_timeout=30

die() {
  echo "rgw-server.sh: $*" >&2
  exit 1
}

usage() {
  echo "usage: rgw-server.sh start DIR MON_PORT S3_PORT | purge DIR BUCKET | stop DIR |" \
    "stop-gateway DIR | start-gateway DIR" >&2
  exit 2
}

require_programs() {
  local missing=() program
  for program in ceph ceph-mon ceph-osd monmaptool radosgw radosgw-admin curl; do
    command -v "$program" >/dev/null || missing+=("$program")
  done
  if ((${#missing[@]} > 0)); then
    die "missing ${missing[*]}: install the packages radosgw ceph-mon ceph-osd ceph-common" \
      "(tools/install-deps.sh as root)"
  fi
}

valid_port() {
  [[ $1 =~ ^[0-9]+$ ]] && (($1 > 0 && $1 < 65536)) || die "invalid port \"$1\""
  if (($1 >= 6800 && $1 <= 7300)); then
    die "port $1 is in 6800-7300, where the OSD takes its ports"
  fi
}

random_text() {  # LENGTH CHARACTERS
  local text
  text=$(LC_ALL=C tr -dc "$2" </dev/urandom | head -c "$1") || true
  echo "$text"
}

# Last lines of a daemon's log, for an error message.
log_tail() {
  local log=$dir/log/ceph-$1.log
  [[ -f $log ]] && tail -n 15 "$log" >&2 || true
}

# True while PID names a live process (a zombie counts as gone).
alive() {
  local state
  state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
  [[ -n $state && $state != Z && $state != X ]]
}

stop_daemon() {  # NAME (mon.a, osd.0, client.rgw.walstream)
  local pid_file=$dir/run/ceph-$1.pid pid i
  [[ -f $pid_file ]] || return 0
  pid=$(<"$pid_file")
  [[ $pid =~ ^[0-9]+$ ]] || return 0
  if alive "$pid"; then
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 200; i++)); do  # 10 s
      alive "$pid" || break
      sleep 0.05
    done
    if alive "$pid"; then
      kill -KILL "$pid" 2>/dev/null || true
      for ((i = 0; i < 100; i++)); do
        alive "$pid" || break
        sleep 0.05
      done
    fi
  fi
  rm -f "$pid_file"
}

stop_all() {
  stop_daemon "$rgw_name"
  stop_daemon osd.0
  stop_daemon mon.a
}

ceph_cli() {
  timeout "$cli_timeout" ceph --conf "$conf" --connect-timeout "$cli_timeout" "$@"
}

# Polls COMMAND... every 50 ms until it succeeds or the start timeout passes.
wait_for() {
  local deadline=$((SECONDS + start_timeout))
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || return 1
    sleep 0.05
  done
}

osd_up() { ceph_cli osd dump 2>/dev/null | grep -q '^osd\.0 up'; }

gateway_answers() { curl -sf --max-time 2 -o /dev/null "$endpoint/"; }

write_conf() {  # FSID MON_PORT S3_PORT
  cat >"$conf" <<EOF
[global]
fsid = $1
mon host = [v2:127.0.0.1:$2]
public addr = 127.0.0.1
cluster addr = 127.0.0.1
ms bind msgr1 = false
ms bind msgr2 = true
auth cluster required = none
auth service required = none
auth client required = none
keyring = $dir/keyring
run dir = $dir/run
pid file = $dir/run/\$cluster-\$name.pid
admin socket = $dir/run/\$cluster-\$name.asok
log file = $dir/log/\$cluster-\$name.log
crash dir = $dir/crash
mon data = $dir/mon/\$cluster-\$id
osd data = $dir/osd/\$cluster-\$id
osd objectstore = memstore
memstore device bytes = $store_bytes
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon warn on pool no redundancy = false
# One monitor batches changes once a second by default: start-up took 13 s.
paxos propose interval = 0.01

[$rgw_name]
rgw frontends = beast endpoint=127.0.0.1:$3
rgw data = $dir/rgw
# Without cephx the default secure mode never gets the monitor's config.
ms mon client mode = crc
# Lifecycle threads make the gateway slow to stop; tests need no lifecycle.
rgw enable lc threads = false
EOF
}

start() {
  [[ $# -eq 3 ]] || usage
  dir=$1
  valid_port "$2"
  valid_port "$3"
  [[ $2 != "$3" ]] || die "MON_PORT and S3_PORT must differ"
  require_programs
  if [[ -e $dir ]] && [[ -n $(ls -A "$dir") ]]; then
    die "$dir is not empty"
  fi
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  conf=$dir/ceph.conf
  endpoint=http://127.0.0.1:$3
  mkdir -p "$dir"/{run,log,crash,mon,osd/ceph-0,rgw}
  : >"$dir/keyring"
  # Whatever ends the start early stops what it started.
  trap 'stop_all' EXIT
  trap 'exit 1' INT TERM

  local fsid osd_uuid osd_id access_key secret_key
  fsid=$(</proc/sys/kernel/random/uuid)
  osd_uuid=$(</proc/sys/kernel/random/uuid)
  write_conf "$fsid" "$2" "$3"

  monmaptool --create --fsid "$fsid" --addv a "[v2:127.0.0.1:$2]" "$dir/monmap" \
    >>"$dir/log/setup.log" 2>&1 || { cat "$dir/log/setup.log" >&2; die "monmaptool failed"; }
  ceph-mon --conf "$conf" --mkfs -i a --monmap "$dir/monmap" >>"$dir/log/setup.log" 2>&1 ||
    { log_tail mon.a; die "ceph-mon --mkfs failed"; }
  ceph-mon --conf "$conf" -i a >>"$dir/log/setup.log" 2>&1 ||
    { log_tail mon.a; die "the monitor did not start (port $2 taken?)"; }

  # Another cluster's monitor on the port would answer too: check it is ours.
  local answered_fsid
  answered_fsid=$(ceph_cli fsid 2>>"$dir/log/setup.log") ||
    { log_tail mon.a; die "the monitor does not answer on port $2 (port taken?)"; }
  [[ $answered_fsid == "$fsid" ]] || die "port $2 is another cluster's monitor"
  osd_id=$(ceph_cli osd new "$osd_uuid" 2>>"$dir/log/setup.log") ||
    { log_tail mon.a; die "the monitor does not answer on port $2 (ceph osd new failed)"; }
  [[ $osd_id == 0 ]] || die "ceph osd new returned \"$osd_id\", expected 0"
  # MemStore asserts unless its data directory exists: mkfs does not create it.
  ceph-osd --conf "$conf" -i 0 --mkfs --osd-uuid "$osd_uuid" >>"$dir/log/setup.log" 2>&1 ||
    { log_tail osd.0; die "ceph-osd --mkfs failed"; }
  ceph-osd --conf "$conf" -i 0 >>"$dir/log/setup.log" 2>&1 ||
    { log_tail osd.0; die "the OSD did not start"; }
  wait_for osd_up || { log_tail osd.0; die "the OSD is not up after ${start_timeout} s"; }

  radosgw --conf "$conf" -n "$rgw_name" >>"$dir/log/setup.log" 2>&1 ||
    { log_tail "$rgw_name"; die "the gateway did not start"; }
  wait_for gateway_answers ||
    { log_tail "$rgw_name"; die "the gateway does not answer on $endpoint after ${start_timeout} s" \
      "(port $3 taken?)"; }

  access_key=$(random_text 20 'A-Z0-9')
  secret_key=$(random_text 40 'A-Za-z0-9')
  timeout "$cli_timeout" radosgw-admin --conf "$conf" user create \
    --uid=walstream --display-name=walstream --access-key="$access_key" \
    --secret-key="$secret_key" >/dev/null 2>>"$dir/log/setup.log" ||
    { tail -n 15 "$dir/log/setup.log" >&2; die "radosgw-admin user create failed"; }

  # Likewise for the gateway: only ours knows these keys.
  (
    umask 077
    printf 'user = "%s:%s"\n' "$access_key" "$secret_key" >"$dir/check.curl"
  )
  curl -sf --max-time 10 -K "$dir/check.curl" --aws-sigv4 "aws:amz:us-east-1:s3" \
    -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" -o /dev/null "$endpoint/" ||
    { rm -f "$dir/check.curl"; die "$endpoint is not this cluster's gateway (port $3 taken?)"; }
  rm -f "$dir/check.curl"

  (
    umask 077
    cat >"$dir/env.tmp" <<EOF
AWS_ENDPOINT_URL=$endpoint
AWS_REGION=us-east-1
AWS_ACCESS_KEY_ID=$access_key
AWS_SECRET_ACCESS_KEY=$secret_key
EOF
  )
  mv "$dir/env.tmp" "$dir/env"
  trap - EXIT INT TERM
  echo "$endpoint"
}

purge() {
  [[ $# -eq 2 ]] || usage
  dir=$1
  conf=$dir/ceph.conf
  [[ -f $conf ]] || die "$dir holds no gateway"
  timeout "$cli_timeout" radosgw-admin --conf "$conf" bucket rm --bucket="$2" \
    --purge-objects --bypass-gc >/dev/null 2>>"$dir/log/setup.log" ||
    { tail -n 15 "$dir/log/setup.log" >&2; die "radosgw-admin bucket rm $2 failed"; }
}

stop_gateway() {
  [[ $# -eq 1 ]] || usage
  dir=$1
  [[ -f $dir/ceph.conf ]] || die "$dir holds no gateway"
  stop_daemon "$rgw_name"
}

start_gateway() {
  [[ $# -eq 1 ]] || usage
  dir=$1
  conf=$dir/ceph.conf
  [[ -f $conf && -f $dir/env ]] || die "$dir holds no gateway"
  endpoint=$(sed -n 's/^AWS_ENDPOINT_URL=//p' "$dir/env")
  [[ -n $endpoint ]] || die "$dir/env has no AWS_ENDPOINT_URL"
  local pid_file=$dir/run/ceph-$rgw_name.pid
  if [[ -f $pid_file ]] && alive "$(<"$pid_file")"; then
    die "the gateway in $dir is running already"
  fi
  radosgw --conf "$conf" -n "$rgw_name" >>"$dir/log/setup.log" 2>&1 ||
    { log_tail "$rgw_name"; die "the gateway did not start"; }
  wait_for gateway_answers ||
    { log_tail "$rgw_name"; die "the gateway does not answer on $endpoint after ${start_timeout} s"; }
}

stop() {
  [[ $# -eq 1 ]] || usage
  dir=$1
  [[ -d $dir ]] || return 0
  stop_all
}

case ${1:-} in
  start) shift && start "$@" ;;
  purge) shift && purge "$@" ;;
  stop) shift && stop "$@" ;;
  stop-gateway) shift && stop_gateway "$@" ;;
  start-gateway) shift && start_gateway "$@" ;;
  *) usage ;;
esac
