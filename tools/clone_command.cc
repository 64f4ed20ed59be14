#include "tools/clone_command.h"

#include <spdlog/spdlog.h>

#include <cstdio>
#include <tuple>

#include "protocol/error.h"
#include "tools/connection_flags.h"
#include "tools/logging.h"
#include "tools/terminal.h"

namespace walstream::tools {

std::uint32_t parse_max_rate(const std::string& text) {
  std::size_t used = 0;
  double value = 0;
  try {
    value = std::stod(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  std::string suffix = text.substr(used);
  double factor = 1;
  if (suffix == "M") {
    factor = 1024;
  } else if (suffix != "" && suffix != "k") {
    used = 0;
  }
  double kbps = value * factor;
  if (used == 0 || kbps < 32 || kbps > 1024 * 1024) {
    throw Error(ErrorKind::kUsage, "invalid transfer rate \"" + text + "\"",
                "give -r/--max-rate in kB/s from 32 to 1048576, or with suffix M (e.g. 100M)");
  }
  return static_cast<std::uint32_t>(kbps);
}

std::pair<std::string, std::string> parse_server_compression(const std::string& text) {
  const std::string prefix = "server-";
  std::string spec = text;
  std::string detail;
  if (auto colon = spec.find(':'); colon != std::string::npos) {
    detail = spec.substr(colon + 1);
    spec = spec.substr(0, colon);
  }
  if (spec.rfind(prefix, 0) == 0) {
    std::string algorithm = spec.substr(prefix.size());
    if (algorithm == "gzip" || algorithm == "lz4" || algorithm == "zstd") {
      if (text.find(':') != std::string::npos && detail.empty()) {
        throw Error(ErrorKind::kUsage, "empty compression detail in \"" + text + "\"",
                    "write e.g. --compress=server-zstd:level=3,workers=2");
      }
      return {algorithm, detail};
    }
  }
  throw Error(ErrorKind::kUsage, "invalid compression \"" + text + "\"",
              "a clone is extracted as it arrives, so only server-side compression applies: "
              "--compress=server-gzip|server-lz4|server-zstd[:DETAIL]");
}

CloneCommand::CloneCommand(CLI::App& app) {
  command_ = app.add_subcommand(
      "clone", "Make a hot standby of a primary in one command (pg_basebackup -X stream -R)");
  auto& c = *command_;
  c.set_help_flag("--help", "Show help");
  c.add_option("-D,--pgdata", pgdata_, "Target directory (must be absent or empty)")->required();
  add_connection_flags(c, options_.connection);
  c.add_option("-S,--slot", slot_, "Replication slot to use (named in the standby config)");
  c.add_flag("-C,--create-slot", options_.create_slot,
             "Create the slot (-S) before the backup starts");
  c.add_option("-c,--checkpoint", checkpoint_, "Checkpoint mode: fast (default) or spread")
      ->check(CLI::IsMember({"fast", "spread"}));
  c.add_option("-l,--label", options_.label, "Backup label");
  c.add_option("-r,--max-rate", max_rate_, "Server-side transfer limit in kB/s (suffix M: MB/s)");
  c.add_option("-T,--tablespace-mapping", tablespace_mappings_,
               "Relocate a tablespace: OLDDIR=NEWDIR (repeatable)");
  c.add_option("--waldir", waldir_, "Put pg_wal here (absolute path; pg_wal becomes a symlink)");
  c.add_option("--compress", compress_,
               "Server-side compression (15+): server-gzip|server-lz4|server-zstd[:DETAIL]");
  c.add_flag("-P,--progress", progress_, "Show progress");
  c.add_flag("-N,--no-sync", no_sync_, "Do not wait for the clone to be safely on disk");
  c.add_flag("--no-direct-io", no_direct_io_,
             "Write data files through the page cache instead of with direct I/O");
  c.add_flag("--no-standby-config", no_standby_config_,
             "Do not write standby.signal / recovery.conf and primary_conninfo");
  c.add_option("-s,--status-interval", status_interval_seconds_,
               "Seconds between status packets on the WAL connection")
      ->check(CLI::Range(1, 3600));
  c.add_flag("-v,--verbose", verbose_, "Report each step");
}

int CloneCommand::run() {
  set_log_identity(walreceiver::connection_identity(options_.connection));
  if (verbose_) log_verbose();
  options_.pgdata = pgdata_;
  if (!slot_.empty()) options_.slot = slot_;
  options_.checkpoint =
      checkpoint_ == "spread" ? protocol::CheckpointMode::kSpread : protocol::CheckpointMode::kFast;
  if (!max_rate_.empty()) options_.max_rate_kbps = parse_max_rate(max_rate_);
  for (const auto& spec : tablespace_mappings_) options_.tablespace_mapping.add(spec);
  if (!waldir_.empty()) options_.waldir = waldir_;
  if (!compress_.empty() && compress_ != "none") {
    std::tie(options_.server_compression, options_.server_compression_detail) =
        parse_server_compression(compress_);
  }
  options_.sync = !no_sync_;
  options_.direct_io = !no_direct_io_;
  options_.write_standby_config = !no_standby_config_;
  options_.status_interval = std::chrono::seconds(status_interval_seconds_);
  ProgressPrinter printer;
  if (progress_) {
    options_.on_progress = [&printer](const walreceiver::CloneProgress& p) { printer.update(p); };
  }
  auto summary = walreceiver::run_clone(options_);
  spdlog::info("clone completed: WAL {} to {} on timeline {}, {} MB of data",
               protocol::to_string(summary.start.lsn), protocol::to_string(summary.end.lsn),
               summary.end.timeline, summary.bytes >> 20);
  return 0;
}

}  // namespace walstream::tools
