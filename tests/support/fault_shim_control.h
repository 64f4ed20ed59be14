// In-process control of the storage fault shim (tests/fault/fault_shim.c) for
// unit tests that run with it preloaded: arm a fault ("pwrite:3:ENOSPC"), run
// the code under test, read how many matching calls there were and which
// path the failed one was on. run_under_fault_shim() makes a test binary
// preload the shim by running itself again with LD_PRELOAD set.
#pragma once

#include <dlfcn.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>

namespace walstream::test_support {

class FaultShim {
 public:
  // The shim is in this process.
  static bool loaded() { return symbol("walstream_fault_configure", false) != nullptr; }

  // Replaces the fault in force; calls whose path contains `path_filter`
  // (all, if empty) count. The counts start again from zero.
  static void arm(const std::string& spec, const std::string& path_filter = "") {
    using Configure = int (*)(const char*, const char*);
    auto configure = reinterpret_cast<Configure>(symbol("walstream_fault_configure"));
    if (configure(spec.c_str(), path_filter.c_str()) != 0) {
      throw std::invalid_argument("fault shim spec not understood: " + spec);
    }
  }
  static void disarm() { arm("", ""); }

  // Matching calls and failed calls since the last arm().
  static long calls() { return read_count("walstream_fault_calls"); }
  static long failures() { return read_count("walstream_fault_failures"); }
  // Path of the first call that was made to fail, "" if none.
  static std::string failed_path() {
    using Read = void (*)(char*, std::size_t);
    char path[4096] = {};
    reinterpret_cast<Read>(symbol("walstream_fault_failed_path"))(path, sizeof path);
    return path;
  }

 private:
  static void* symbol(const char* name, bool required = true) {
    void* found = ::dlsym(RTLD_DEFAULT, name);
    if (found == nullptr && required) {
      throw std::logic_error(std::string("the fault shim is not loaded (no ") + name + ")");
    }
    return found;
  }
  static long read_count(const char* name) {
    using Read = long (*)();
    return reinterpret_cast<Read>(symbol(name))();
  }
};

// Arms a fault for its lifetime.
class ScopedFault {
 public:
  explicit ScopedFault(const std::string& spec, const std::string& path_filter = "") {
    FaultShim::arm(spec, path_filter);
  }
  ~ScopedFault() { FaultShim::disarm(); }
  ScopedFault(const ScopedFault&) = delete;
  ScopedFault& operator=(const ScopedFault&) = delete;
};

// Call first in main(): when the shim at `shim_path` is not loaded yet, runs
// this program again with it in LD_PRELOAD (and does not return); exits with
// an error if even that did not load it.
inline void run_under_fault_shim(const char* shim_path, char** argv) {
  if (FaultShim::loaded()) return;
  constexpr const char* kGuard = "WALSTREAM_FAULT_SHIM_REEXEC";
  if (std::getenv(kGuard) != nullptr) {
    std::fprintf(stderr, "the fault shim %s did not load through LD_PRELOAD\n", shim_path);
    std::exit(1);
  }
  std::string preload = shim_path;
  if (const char* existing = std::getenv("LD_PRELOAD"); existing != nullptr && *existing != '\0') {
    preload += ":" + std::string(existing);
  }
  ::setenv("LD_PRELOAD", preload.c_str(), 1);
  ::setenv(kGuard, "1", 1);
  ::execv("/proc/self/exe", argv);
  std::perror("execv /proc/self/exe");
  std::exit(1);
}

}  // namespace walstream::test_support
