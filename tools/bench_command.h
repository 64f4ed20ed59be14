// `walstream bench`: the connection flags of `walstream clone`, the stages to
// run and their limits; prints the report as a table, or as JSON (--json).
#pragma once

#include <CLI/CLI.hpp>
#include <string>

#include "walreceiver/bench.h"

namespace walstream::tools {

class BenchCommand {
 public:
  explicit BenchCommand(CLI::App& app);
  bool selected() const { return command_->parsed(); }
  // Runs the benchmark and prints its report; throws walstream::Error on
  // failure. Returns the exit code.
  int run();

 private:
  CLI::App* command_;
  walreceiver::BenchOptions options_;
  std::string stages_ = "backup,wal";
  std::string checkpoint_ = "fast";
  std::string compress_;
  std::string write_to_;
  double duration_seconds_ = 10;
  std::uint64_t wal_megabytes_ = 0;
  std::string wal_start_ = "retained";
  bool json_ = false;
  bool progress_ = false;
  bool verbose_ = false;
};

// Parses --stages: "backup", "wal" or both, comma-separated, in any order.
// Sets options.run_backup and options.run_wal. Throws walstream::Error
// (kUsage).
void parse_bench_stages(const std::string& text, walreceiver::BenchOptions& options);

}  // namespace walstream::tools
