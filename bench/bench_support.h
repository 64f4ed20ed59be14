// Helpers shared by the micro-benchmarks: a scratch directory and the rule
// that a benchmark whose code under test fails reports an error instead of a
// figure (a decoder that throws on its first byte must not look fast).
#pragma once

#include <benchmark/benchmark.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <system_error>

namespace walstream::bench {

// A fresh directory walstream-bench-XXXXXX, removed with its contents on
// destruction. It is made under $WALSTREAM_BENCH_DIR when set, else under
// `default_parent` (a disk for benchmarks about durability, /dev/shm for
// those that should not measure the disk).
class BenchDirectory {
 public:
  explicit BenchDirectory(const std::filesystem::path& default_parent) {
    const char* chosen = std::getenv("WALSTREAM_BENCH_DIR");
    std::filesystem::path parent = chosen != nullptr && *chosen != '\0' ? chosen : default_parent;
    if (!std::filesystem::is_directory(parent)) parent = "/tmp";
    std::string pattern = (parent / "walstream-bench-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) {
      throw std::system_error(errno, std::generic_category(), "mkdtemp " + pattern);
    }
    path_ = pattern;
  }
  ~BenchDirectory() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  BenchDirectory(const BenchDirectory&) = delete;
  BenchDirectory& operator=(const BenchDirectory&) = delete;

  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// Runs `step`; an exception marks the benchmark as failed with its message.
// Returns false then, and the caller leaves its loop (SkipWithError does not).
template <typename Step>
bool run_step(benchmark::State& state, Step&& step) {
  try {
    step();
    return true;
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
    return false;
  }
}

// Marks the benchmark as failed unless `ok`; returns `ok`.
inline bool check(benchmark::State& state, bool ok, const char* what) {
  if (!ok) state.SkipWithError(what);
  return ok;
}

}  // namespace walstream::bench
