// `walstream clone`: flags named as pg_basebackup names them where the meaning
// is the same.
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <utility>
#include <vector>

#include "walreceiver/clone.h"

namespace walstream::tools {

class CloneCommand {
 public:
  explicit CloneCommand(CLI::App& app);
  bool selected() const { return command_->parsed(); }
  // Runs the clone; throws walstream::Error on failure. Returns the exit code.
  int run();

 private:
  CLI::App* command_;
  walreceiver::CloneOptions options_;
  std::string pgdata_;
  std::string slot_;
  std::string checkpoint_ = "fast";
  std::string max_rate_;
  std::vector<std::string> tablespace_mappings_;
  std::string waldir_;
  std::string compress_;
  bool progress_ = false;
  bool no_sync_ = false;
  bool no_direct_io_ = false;
  bool no_standby_config_ = false;
  bool verbose_ = false;
  int status_interval_seconds_ = 10;
};

// Parses -r/--max-rate as pg_basebackup does: a number of kB/s, or with a
// suffix k or M; 32 kB/s to 1 GB/s. Throws walstream::Error (kUsage).
std::uint32_t parse_max_rate(const std::string& text);

// Parses --compress for a plain-format clone: server-gzip, server-lz4 or
// server-zstd, optionally ":DETAIL" (a level, or "level=N,workers=N").
// Returns {algorithm, detail}. Throws walstream::Error (kUsage).
std::pair<std::string, std::string> parse_server_compression(const std::string& text);

}  // namespace walstream::tools
