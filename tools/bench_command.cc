#include "tools/bench_command.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <sstream>
#include <tuple>

#include "protocol/error.h"
#include "protocol/lsn.h"
#include "tools/clone_command.h"
#include "tools/connection_flags.h"
#include "tools/logging.h"

namespace walstream::tools {
namespace {

// One progress line per stage on stderr, redrawn in place on a terminal,
// every few seconds otherwise.
class BenchProgressPrinter {
 public:
  BenchProgressPrinter() : tty_(::isatty(STDERR_FILENO) != 0) {}

  void update(const walreceiver::BenchProgress& progress) {
    const auto now = std::chrono::steady_clock::now();
    const auto interval = tty_ ? std::chrono::milliseconds(250) : std::chrono::milliseconds(5000);
    if (!progress.finished && now - last_print_ < interval) return;
    last_print_ = now;
    const auto kb = static_cast<unsigned long long>(progress.bytes / 1024);
    const double seconds = walreceiver::seconds(progress.elapsed);
    const char* stage = progress.stage == walreceiver::BenchStage::kBackup ? "base backup" : "WAL";
    if (progress.bytes_total && *progress.bytes_total > 0) {
      const auto total_kb = static_cast<unsigned long long>(
          std::max(*progress.bytes_total / 1024, progress.bytes / 1024));
      const int percent = static_cast<int>(kb * 100 / std::max<unsigned long long>(total_kb, 1));
      std::fprintf(stderr, "%s: %llu/%llu kB (%d%%), %.1f s", stage, kb, total_kb, percent,
                   seconds);
    } else {
      std::fprintf(stderr, "%s: %llu kB, %.1f s", stage, kb, seconds);
    }
    // Clear what a longer earlier line left on a terminal.
    std::fputs(tty_ ? (progress.finished ? "\x1b[K\n" : "\x1b[K\r") : "\n", stderr);
    std::fflush(stderr);
  }

 private:
  bool tty_;
  std::chrono::steady_clock::time_point last_print_{};
};

}  // namespace

void parse_bench_stages(const std::string& text, walreceiver::BenchOptions& options) {
  options.run_backup = false;
  options.run_wal = false;
  std::stringstream list(text);
  std::string stage;
  bool any = false;
  while (std::getline(list, stage, ',')) {
    if (stage == "backup") {
      options.run_backup = true;
    } else if (stage == "wal") {
      options.run_wal = true;
    } else {
      throw Error(ErrorKind::kUsage, "unknown stage \"" + stage + "\" in --stages \"" + text + "\"",
                  "give --stages backup, wal or backup,wal");
    }
    any = true;
  }
  if (!any || text.back() == ',') {
    throw Error(ErrorKind::kUsage, "empty stage in --stages \"" + text + "\"",
                "give --stages backup, wal or backup,wal");
  }
}

BenchCommand::BenchCommand(CLI::App& app) {
  command_ = app.add_subcommand(
      "bench", "Measure replication throughput (base backup, WAL stream), keeping nothing");
  auto& c = *command_;
  c.set_help_flag("--help", "Show help");
  add_connection_flags(c, options_.connection);
  c.add_option("--stages", stages_, "Stages to run: backup, wal or backup,wal (default)");
  c.add_option("-c,--checkpoint", checkpoint_, "Checkpoint mode: fast (default) or spread")
      ->check(CLI::IsMember({"fast", "spread"}));
  c.add_option("--compress", compress_,
               "Server-side compression (15+): server-gzip|server-lz4|server-zstd[:DETAIL]");
  c.add_option("--write-to", write_to_,
               "Also write what arrives into this missing or empty directory, sync it, and "
               "remove it again");
  c.add_option("--duration", duration_seconds_, "Seconds to stream WAL (default 10)")
      ->check(CLI::PositiveNumber);
  c.add_option("--wal-bytes", wal_megabytes_, "Stop the WAL stream once this many MB arrived")
      ->check(CLI::PositiveNumber);
  c.add_option("--wal-start", wal_start_,
               "Where the WAL stream starts: retained (default: the oldest WAL a new slot keeps, "
               "15+), current, or an LSN such as 0/3000000 (its segment's start; the server must "
               "still hold that WAL)");
  c.add_flag("--json", json_, "Print the report as JSON");
  c.add_flag("-P,--progress", progress_, "Show progress on stderr");
  c.add_flag("-v,--verbose", verbose_, "Report each step");
}

int BenchCommand::run() {
  set_log_identity(walreceiver::connection_identity(options_.connection));
  if (verbose_) log_verbose();
  parse_bench_stages(stages_, options_);
  options_.checkpoint =
      checkpoint_ == "spread" ? protocol::CheckpointMode::kSpread : protocol::CheckpointMode::kFast;
  if (!compress_.empty() && compress_ != "none") {
    try {
      std::tie(options_.server_compression, options_.server_compression_detail) =
          parse_server_compression(compress_);
    } catch (const Error& error) {
      throw Error(ErrorKind::kUsage, error.what(),
                  "the bench decompresses as it receives, as a clone does, so only server-side "
                  "compression applies: --compress=server-gzip|server-lz4|server-zstd[:DETAIL]");
    }
  }
  if (!write_to_.empty()) options_.write_to = write_to_;
  options_.duration = std::chrono::milliseconds(std::llround(duration_seconds_ * 1000));
  if (wal_megabytes_ > 0) options_.wal_max_bytes = wal_megabytes_ * 1024 * 1024;
  if (wal_start_ == "retained") {
    options_.wal_start = walreceiver::WalStartFrom::kRetained;
  } else if (wal_start_ == "current") {
    options_.wal_start = walreceiver::WalStartFrom::kCurrent;
  } else if (const auto lsn = protocol::parse_lsn(wal_start_); lsn && lsn->valid()) {
    options_.wal_start = walreceiver::WalStartFrom::kGiven;
    options_.wal_start_lsn = *lsn;
  } else {
    throw Error(ErrorKind::kUsage, "--wal-start: \"" + wal_start_ + "\" is not a start",
                "use retained, current, or an LSN such as 0/3000000");
  }
  BenchProgressPrinter printer;
  if (progress_) {
    options_.on_progress = [&printer](const walreceiver::BenchProgress& p) { printer.update(p); };
  }
  const walreceiver::BenchReport report = walreceiver::run_bench(options_);
  const std::string text =
      json_ ? walreceiver::bench_report_json(report) : walreceiver::bench_report_text(report);
  std::fputs(text.c_str(), stdout);
  return 0;
}

}  // namespace walstream::tools
