#!/usr/bin/env bash
# THE test command: installs dependencies, fetches the PostgreSQL servers of
# the version matrix (11 to 18), builds, and runs every stage:
#   format  clang-format check of every .h/.cc
#   main    the build/ tree's unit tests and fuzz replays, and the
#           integration tests (real PostgreSQL servers) that need the release
#           binary: every other major, kill -9 loops, benchmarks, memory
#           bounds, storage faults, the package, the S3 client
#   asan    AddressSanitizer + UBSan build (build-asan/): unit tests, then
#           every other integration test, against PostgreSQL 15 with the
#           sanitized walstream (each integration test runs once in all)
#   tsan    ThreadSanitizer build (build-tsan/): unit tests of the threaded
#           storage parts (syncer, writers, write pool, S3 uploader)
#   fuzz    libFuzzer build (clang, build-fuzz/): each fuzz target fuzzes
#           for WALSTREAM_FUZZ_SECONDS (15) from its corpus
# Every stage runs even when an earlier one failed; a line per stage at the
# end says how it went and how long it took, and the exit status is 0 only if
# every stage passed. WALSTREAM_TEST_STAGES="asan fuzz" runs only those.
set -uo pipefail
cd "$(dirname "$0")/.."

stages=${WALSTREAM_TEST_STAGES:-format main asan tsan fuzz}
fuzz_seconds=${WALSTREAM_FUZZ_SECONDS:-15}
jobs=$(nproc)

# The integration tests the main stage runs with the release binary; the
# asan stage runs all the others with the sanitized one. Release only: the
# matrix tests (and the one pinned to 14) cover the other majors, the asan
# stage PostgreSQL 15; the kill -9 loops time their kills for a release
# build's speed (a sanitized walstream starts too slowly for them to land
# while it streams); the benchmarks and the memory bounds measure the
# release build; the storage fault tests repeat one run under every fault;
# the package is the release build's; the S3 client, uploader and bucket
# scan tests run code linked into the (unsanitized) test binary.
release_only='Matrix|OldMajor|FaultTest|KillNine|Pgbench|Bench|Memory|Package|S3Client|S3Uploader|S3ArchiveScan'

# Without dependencies, servers or the main build nothing below can run.
bash tools/install-deps.sh || exit 1
bash tools/fetch-postgres.sh || exit 1
bash tools/build.sh || exit 1

summary=()
failed=0
# record NAME STATUS START [DETAIL]
record() {
  local elapsed=$((SECONDS - $3))
  local line
  line=$(printf '%-6s %-6s %3dm%02ds' "$1" "$2" $((elapsed / 60)) $((elapsed % 60)))
  [[ -n ${4:-} ]] && line+="  $4"
  summary+=("$line")
  [[ $2 == passed ]] || failed=1
}

wants() { [[ " $stages " == *" $1 "* ]]; }

# Sanitizer builds compile with -O1 and line tables only (-g1): quicker to
# build than -O2 -g, and the reports still name file and line. The unit test
# files themselves take -O0 (half the compile time; the code they test keeps
# -O1).
sanitizer_flags=(-DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1 -DNDEBUG" -DWALSTREAM_UNOPTIMIZED_TESTS=ON)

# configure_and_build DIR TARGETS... -- CMAKE_ARGS...: quiet unless it fails.
configure_and_build() {
  local dir=$1
  shift
  local targets=()
  while [[ $1 != -- ]]; do
    targets+=("$1")
    shift
  done
  shift
  local log
  log=$(mktemp)
  if ! {
    cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DWALSTREAM_WERROR=ON "$@" &&
      cmake --build "$dir" -j"$jobs" --target "${targets[@]}"
  } >"$log" 2>&1; then
    cat "$log" >&2
    rm -f "$log"
    return 1
  fi
  rm -f "$log"
}

# Sanitizer reports of processes whose output no test reads (the walstream
# runs of the integration tests) are written here and fail the stage.
# Prints the reports and returns 1 if there are any.
report_sanitizer_logs() {
  local dir=$1
  local logs=("$dir"/*)
  [[ -e ${logs[0]} ]] || return 0
  echo "run-tests.sh: sanitizer reports in $dir:" >&2
  for log in "${logs[@]}"; do
    echo "==> $log" >&2
    cat "$log" >&2
  done
  return 1
}

if wants format; then
  start=$SECONDS
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
    record format FAILED "$start" "${#unformatted[@]} files not clang-formatted"
  else
    record format passed "$start"
  fi
fi

if wants main; then
  start=$SECONDS
  # PackageTest checks the .deb installed on this machine: installing needs
  # root, which the integration tests drop before any test runs, so it is
  # built and installed here and purged after the tests.
  package_problem=""
  # CPack writes the .deb to build/packages (CPACK_OUTPUT_FILE_PREFIX).
  package_dir=$PWD/build/packages
  rm -rf "$package_dir" build/_CPack_Packages
  deb_env=()
  if ! (cd build && cpack -G DEB) >"$package_dir.log" 2>&1; then
    package_problem="cpack failed (see $package_dir.log)"
  else
    deb=$(find "$package_dir" -maxdepth 1 -name 'walstream_*.deb' | head -n 1)
    if [[ -z $deb ]] || ! dpkg -i "$deb" >>"$package_dir.log" 2>&1; then
      package_problem="dpkg -i of the .deb failed (see $package_dir.log)"
    else
      deb_env=(WALSTREAM_TEST_INSTALLED_DEB="$deb")
    fi
  fi
  # Two tests at a time (each integration test has its own servers, ports
  # and directories; the timed ones are RUN_SERIAL, tests/CMakeLists.txt).
  ctest --test-dir build --output-on-failure --timeout 900 -j"$jobs" -LE '^integration$'
  ctest_status=$?
  env "${deb_env[@]}" ctest --test-dir build --output-on-failure --timeout 900 -j"$jobs" \
    -L '^integration$' -R "$release_only" || ctest_status=1
  if ((${#deb_env[@]} > 0)); then
    if ! dpkg --purge walstream >>"$package_dir.log" 2>&1 || [[ -e /usr/bin/walstream ]]; then
      package_problem="dpkg --purge left /usr/bin/walstream (see $package_dir.log)"
    fi
  fi
  if ((ctest_status == 0)) && [[ -z $package_problem ]]; then
    record main passed "$start"
  elif [[ -n $package_problem ]]; then
    record main FAILED "$start" "$package_problem"
  else
    record main FAILED "$start" "see ctest's summary above"
  fi
fi

if wants asan; then
  start=$SECONDS
  logs=$PWD/build-asan/sanitizer-logs
  # The integration tests are the main build's, run against the sanitized
  # walstream (WALSTREAM_TEST_BINARY): the harness is not what is under test,
  # and compiling it again would cost minutes.
  # No fuzz replays here: the fuzz stage starts from every corpus input
  # under the same sanitizers.
  if ! configure_and_build build-asan walstream unit_tests -- \
    -DWALSTREAM_SANITIZE=address,undefined "${sanitizer_flags[@]}"; then
    record asan FAILED "$start" "build failed"
  else
    rm -rf "$logs" && mkdir -p "$logs" && chmod 1777 "$logs"
    # Reports go to files: the integration tests read walstream's stderr as
    # its output, and a test expecting a failure would pass over one.
    # verify_asan_link_order=0: the storage fault tests preload their shim
    # (tests/fault) ahead of the ASan runtime.
    export ASAN_OPTIONS="log_path=$logs/asan:detect_leaks=1:strict_string_checks=1:check_initialization_order=1:verify_asan_link_order=0"
    export UBSAN_OPTIONS="log_path=$logs/ubsan:print_stacktrace=1:halt_on_error=1"
    ctest --test-dir build-asan --output-on-failure --timeout 900 -j"$jobs" -L '^unit-.*$'
    unit_status=$?
    # Every integration test the main stage does not run ($release_only).
    WALSTREAM_TEST_BINARY=$PWD/build-asan/tools/walstream WALSTREAM_TEST_SANITIZED=address \
      ctest --test-dir build --output-on-failure --timeout 900 -j"$jobs" -L '^integration$' \
      -E "$release_only"
    integration_status=$?
    unset ASAN_OPTIONS UBSAN_OPTIONS
    report_sanitizer_logs "$logs"
    reports=$?
    if ((unit_status == 0 && integration_status == 0 && reports == 0)); then
      record asan passed "$start"
    else
      detail="unit $([[ $unit_status == 0 ]] && echo passed || echo FAILED)"
      detail+=", integration $([[ $integration_status == 0 ]] && echo passed || echo FAILED)"
      ((reports == 0)) || detail+=", sanitizer reports in $logs"
      record asan FAILED "$start" "$detail"
    fi
  fi
fi

if wants tsan; then
  start=$SECONDS
  # The parts that run threads: only their tests are built, so only they
  # run (the other executables' cases are NOT_BUILT placeholders, unlabelled).
  if ! configure_and_build build-tsan wal_syncer_test wal_archive_writer_test \
    zstd_archiver_test file_write_pool_test background_writer_test wal_segment_writer_test \
    s3_archive_uploader_test -- \
    -DWALSTREAM_SANITIZE=thread "${sanitizer_flags[@]}"; then
    record tsan FAILED "$start" "build failed"
  elif TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1" \
    ctest --test-dir build-tsan --output-on-failure --timeout 900 -j"$jobs" -L '^unit-storage$'; then
    record tsan passed "$start"
  else
    record tsan FAILED "$start" "see ctest's summary above"
  fi
fi

if wants fuzz; then
  start=$SECONDS
  artifacts=$PWD/build-fuzz/fuzz/artifacts
  if ! configure_and_build build-fuzz fuzz_targets -- -DCMAKE_CXX_COMPILER=clang++ \
    -DWALSTREAM_FUZZ=ON -DWALSTREAM_FUZZ_SECONDS="$fuzz_seconds"; then
    record fuzz FAILED "$start" "build failed"
  else
    rm -rf "$artifacts" && mkdir -p "$artifacts"
    # Two fuzzers at a time, one per core.
    ctest --test-dir build-fuzz --output-on-failure -j"$jobs" -L '^fuzz-run$'
    status=$?
    found=("$artifacts"/*)
    if [[ -e ${found[0]} ]]; then
      echo "run-tests.sh: inputs that crashed a fuzz target (add each to its corpus, fix," \
        "see tests/fuzz/README.md):" >&2
      printf '  %s\n' "${found[@]}" >&2
    fi
    if ((status == 0)); then
      record fuzz passed "$start"
    else
      record fuzz FAILED "$start" "see ctest's summary and $artifacts"
    fi
  fi
fi

echo
echo "run-tests.sh: stage  status  time"
printf 'run-tests.sh: %s\n' "${summary[@]}"
exit "$failed"
