#include "tools/receive_command.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <memory>

#include "protocol/error.h"
#include "protocol/s3_location.h"
#include "storage/s3_client.h"
#include "storage/s3_credentials.h"
#include "storage/wal_restore.h"
#include "tools/connection_flags.h"
#include "tools/live_line.h"
#include "tools/logging.h"
#include "walreceiver/receive_status_text.h"

namespace walstream::tools {

std::optional<int> parse_compression(const std::string& text) {
  if (text.empty() || text == "none") return std::nullopt;
  const std::string prefix = "zstd";
  if (text.rfind(prefix, 0) == 0) {
    std::string rest = text.substr(prefix.size());
    if (rest.empty()) return 3;
    if (rest[0] == ':') {
      std::string level = rest.substr(1);
      if (level.rfind("level=", 0) == 0) level = level.substr(6);
      try {
        std::size_t used = 0;
        int value = std::stoi(level, &used);
        if (used == level.size() && value >= 1 && value <= 22) return value;
      } catch (const std::exception&) {
      }
    }
  }
  throw Error(ErrorKind::kUsage, "invalid compression \"" + text + "\"",
              "use --compress=zstd or --compress=zstd:LEVEL with LEVEL from 1 to 22");
}

walreceiver::ListenAddress parse_metrics_listen(const std::string& text) {
  if (auto address = walreceiver::parse_listen_address(text)) return *address;
  throw Error(ErrorKind::kUsage, "invalid --metrics-listen \"" + text + "\"",
              "give HOST:PORT, such as 127.0.0.1:9187, [::1]:9187 or :9187 (all interfaces); "
              "port 0 lets the system pick one");
}

namespace {

// The live status of `walstream receive`: on a terminal one line redrawn
// every second; elsewhere (with -P) a plain line every 10 seconds.
class ReceiveStatusPrinter {
 public:
  explicit ReceiveStatusPrinter(bool tty) {
    if (tty) line_ = std::make_unique<LiveLine>();
  }

  void update(const walreceiver::ReceiveStats& stats, bool finished) {
    const auto now = std::chrono::steady_clock::now();
    rate_.add(now, stats.received_bytes());
    if (finished) {
      if (line_) line_->erase();
      return;
    }
    const std::string text = walreceiver::receive_status_text(
        walreceiver::receive_status(stats, std::chrono::system_clock::now(), rate_.rate()));
    if (line_) {
      line_->show(text);
    } else if (!printed_ || now - last_print_ >= std::chrono::seconds(10)) {
      std::fprintf(stderr, "%s\n", text.c_str());
      std::fflush(stderr);
      printed_ = true;
      last_print_ = now;
    }
  }

  // Before a password prompt on the terminal.
  void erase() {
    if (line_) line_->erase();
  }

 private:
  std::unique_ptr<LiveLine> line_;
  walreceiver::RateWindow rate_;
  bool printed_ = false;
  std::chrono::steady_clock::time_point last_print_{};
};

}  // namespace

ReceiveCommand::ReceiveCommand(CLI::App& app) {
  command_ = app.add_subcommand(
      "receive", "Keep a durable, gap-free WAL archive by streaming (replaces pg_receivewal)");
  auto& c = *command_;
  c.set_help_flag("--help", "Show help");
  c.add_option("-D,--directory", directory_,
               "Archive directory (created if missing); with --archive s3://, the spool");
  c.add_option("--archive", archive_,
               "Keep the archive in S3: s3://BUCKET/PREFIX (endpoint, region and keys from the "
               "AWS_* environment); -D is then a spool files leave once in the bucket");
  c.add_option("--ack", ack_,
               "With --archive s3://: report WAL flushed to the slot once it is durable in the "
               "spool (local, the default) or only once it is in the bucket (remote)")
      ->check(CLI::IsMember({"local", "remote"}));
  c.add_option("--upload-parallelism", upload_parallelism_,
               "With --archive s3://: uploads at a time (default 3)")
      ->check(CLI::Range(1, 64));
  c.add_option("--max-spool-size", max_spool_size_,
               "With --archive s3://: stop reading from the server while the spool holds this "
               "much WAL not yet in the bucket, e.g. 512MB (default 1GB)")
      ->transform(CLI::AsSizeValue(false))
      ->check(CLI::Range(std::uint64_t{1} << 20, std::uint64_t{1} << 50));
  add_connection_flags(c, options_.connection);
  c.add_option("-S,--slot", slot_, "Replication slot (its flush position is reported)");
  c.add_flag("--create-slot", options_.create_slot, "Create the slot (fine if it exists) and exit");
  c.add_flag("--drop-slot", options_.drop_slot, "Drop the slot and exit");
  c.add_option("-E,--endpos", endpos_, "Stop exactly at this LSN and exit 0");
  c.add_flag("-n,--no-loop", options_.no_loop, "Exit on connection loss instead of retrying");
  c.add_option("-s,--status-interval", status_interval_seconds_,
               "Seconds between status packets (default 10)")
      ->check(CLI::Range(1, 3600));
  c.add_flag("--synchronous", options_.synchronous,
             "Flush and report after every batch (to act as a synchronous standby)");
  c.add_flag("--no-direct-io{false}", options_.direct_io,
             "Write WAL through the page cache instead of with direct I/O");
  c.add_option("--compress", compress_, "Compress completed segments: zstd[:LEVEL]");
  c.add_option("--fsync-batch-bytes", fsync_batch_bytes_,
               "Start an fdatasync once this many bytes are unsynced (default 8 MiB)")
      ->check(CLI::Range(std::uint64_t{8192}, std::uint64_t{1} << 30));
  c.add_option("--fsync-batch-ms", fsync_batch_ms_,
               "Start an fdatasync once data has waited this long (default 200)")
      ->check(CLI::Range(1, 60000));
  c.add_option("--metrics-listen", metrics_listen_,
               "Serve Prometheus metrics at http://HOST:PORT/metrics (port 0: any free port)");
  auto* progress = c.add_flag("-P,--progress", progress_,
                              "Show a status line (the default when stderr is a terminal)");
  c.add_flag("--no-progress", no_progress_, "Never show the status line")->excludes(progress);
  c.add_flag("-v,--verbose", verbose_, "Report each step");
}

int ReceiveCommand::run() {
  set_log_identity(walreceiver::connection_identity(options_.connection));
  if (verbose_) log_verbose();
  options_.directory = directory_;
  if (!slot_.empty()) options_.slot = slot_;
  if (!endpos_.empty()) {
    auto lsn = protocol::parse_lsn(endpos_);
    if (!lsn) {
      throw Error(ErrorKind::kUsage, "invalid end position \"" + endpos_ + "\"",
                  "give -E/--endpos as an LSN such as 0/3000000");
    }
    options_.endpos = *lsn;
  }
  options_.zstd_level = parse_compression(compress_);
  if (!archive_.empty()) {
    if (!protocol::is_s3_url(archive_)) {
      throw Error(ErrorKind::kUsage, "invalid --archive \"" + archive_ + "\"",
                  "give s3://BUCKET/PREFIX (a directory archive is -D alone)");
    }
    if (directory_.empty()) {
      throw Error(ErrorKind::kUsage, "--archive s3:// needs a spool directory",
                  "add -D/--directory DIR: WAL is made durable there before its upload");
    }
    // Endpoint, region and keys from the AWS_* environment, as restore-wal
    // and verify take them.
    walreceiver::S3ArchiveTarget target;
    target.location = protocol::parse_s3_location(archive_);
    target.client = storage::s3_client_options_from_environment();
    target.credentials = storage::resolve_s3_credentials();
    target.parallelism = upload_parallelism_;
    target.max_spool_bytes = max_spool_size_;
    options_.s3_archive = std::move(target);
  }
  if (!options_.s3_archive) {
    for (const char* flag : {"--max-spool-size", "--upload-parallelism"}) {
      if (command_->count(flag) > 0) {
        throw Error(ErrorKind::kUsage, std::string(flag) + " needs --archive s3://BUCKET/PREFIX",
                    "a directory archive has no spool and uploads nothing");
      }
    }
  }
  if (ack_ == "remote") {
    if (!options_.s3_archive) {
      throw Error(ErrorKind::kUsage, "--ack=remote needs --archive s3://BUCKET/PREFIX",
                  "a directory archive is acknowledged once durable (--ack=local)");
    }
    if (options_.synchronous) {
      throw Error(ErrorKind::kUsage, "--ack=remote and --synchronous cannot be combined",
                  "a synchronous standby must report each commit as soon as it is durable; "
                  "use --ack=local");
    }
    options_.remote_ack = true;
  }
  options_.status_interval = std::chrono::seconds(status_interval_seconds_);
  options_.fsync_batch_bytes = fsync_batch_bytes_;
  options_.fsync_batch_window = std::chrono::milliseconds(fsync_batch_ms_);
  if (!metrics_listen_.empty()) options_.metrics_listen = parse_metrics_listen(metrics_listen_);

  const bool tty = ::isatty(STDERR_FILENO) != 0;
  std::unique_ptr<ReceiveStatusPrinter> printer;
  if (!no_progress_ && (tty || progress_)) {
    printer = std::make_unique<ReceiveStatusPrinter>(tty);
    options_.on_status = [&printer](const walreceiver::ReceiveStats& stats, bool finished) {
      printer->update(stats, finished);
    };
    if (options_.connection.password_prompt) {
      options_.connection.password_prompt = [&printer,
                                             prompt = options_.connection.password_prompt] {
        printer->erase();
        return prompt();
      };
    }
  }
  return walreceiver::run_receive(options_);
}

RestoreWalCommand::RestoreWalCommand(CLI::App& app) {
  command_ = app.add_subcommand(
      "restore-wal",
      "restore_command helper: restore-wal ARCHIVE %f %p serves plain or .zst segments from a "
      "directory or s3://BUCKET/PREFIX");
  auto& c = *command_;
  c.set_help_flag("--help", "Show help");
  c.add_option("archive", archive_,
               "Archive directory written by walstream receive, or s3://BUCKET/PREFIX")
      ->required();
  c.add_option("file", file_name_, "The WAL file PostgreSQL asks for (%f)")->required();
  c.add_option("destination", destination_, "Where to put it (%p)")->required();
}

int RestoreWalCommand::run() {
  auto outcome = storage::restore_wal_file(archive_, file_name_, destination_);
  if (outcome == storage::RestoreOutcome::kNotFound) {
    // PostgreSQL asks for files past the end of the archive as a matter of
    // course; this is an answer, not an error.
    std::fprintf(stderr, "walstream: \"%s\" is not in the archive\n", file_name_.c_str());
    return 1;
  }
  return 0;
}

}  // namespace walstream::tools
