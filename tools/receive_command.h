// `walstream receive` and `walstream restore-wal`: flags named as
// pg_receivewal names them where the meaning is the same.
#pragma once

#include <CLI/CLI.hpp>
#include <optional>
#include <string>

#include "walreceiver/receive.h"

namespace walstream::tools {

class ReceiveCommand {
 public:
  explicit ReceiveCommand(CLI::App& app);
  bool selected() const { return command_->parsed(); }
  int run();

 private:
  CLI::App* command_;
  walreceiver::ReceiveOptions options_;
  std::string directory_;
  std::string slot_;
  std::string endpos_;
  std::string compress_;
  std::string archive_;
  int upload_parallelism_ = 3;
  std::uint64_t max_spool_size_ = std::uint64_t{1} << 30;
  std::string ack_ = "local";
  int status_interval_seconds_ = 10;
  std::uint64_t fsync_batch_bytes_ = 8 * 1024 * 1024;
  int fsync_batch_ms_ = 200;
  bool verbose_ = false;
  std::string metrics_listen_;
  bool progress_ = false;
  bool no_progress_ = false;
};

class RestoreWalCommand {
 public:
  explicit RestoreWalCommand(CLI::App& app);
  bool selected() const { return command_->parsed(); }
  int run();

 private:
  CLI::App* command_;
  std::string archive_;
  std::string file_name_;
  std::string destination_;
};

// Parses --compress: "zstd" or "zstd:LEVEL" (1..22); nullopt for "none".
// Throws walstream::Error (kUsage).
std::optional<int> parse_compression(const std::string& text);

// Parses --metrics-listen: HOST:PORT. Throws walstream::Error (kUsage).
walreceiver::ListenAddress parse_metrics_listen(const std::string& text);

}  // namespace walstream::tools
