// `walstream bench`: measures what a server's replication delivers, without
// keeping anything. Stage 1 runs BASE_BACKUP and takes every archive through
// the steps a clone takes (decompression, tar parsing) into a sink that only
// counts; stage 2 streams WAL over START_REPLICATION into a sink that only
// counts, for a duration or a byte count. With --write-to each stage also
// writes what it received (a data directory, WAL segments), syncs it, and
// removes it again. Each step is timed with steady_clock (BenchReport).
//
// Nothing is left behind: the WAL stage's slot is temporary (it dies with the
// connection, and is dropped at once when the stage ends), and the
// --write-to directory is emptied (or removed, when this command created it)
// on success, on failure and on SIGINT/SIGTERM.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>

#include "protocol/replication_commands.h"
#include "walreceiver/bench_report.h"
#include "walreceiver/connection_options.h"

namespace walstream::walreceiver {

enum class BenchStage { kBackup, kWal };

struct BenchProgress {
  BenchStage stage = BenchStage::kBackup;
  std::uint64_t bytes = 0;
  // The backup's size as the server estimates it; the WAL stage's --wal-bytes.
  std::optional<std::uint64_t> bytes_total;
  BenchDuration elapsed{};
  bool finished = false;
};

struct BenchOptions {
  ConnectionOptions connection;
  bool run_backup = true;
  bool run_wal = true;
  protocol::CheckpointMode checkpoint = protocol::CheckpointMode::kFast;
  // --compress=server-ALG[:DETAIL] (15+).
  std::string server_compression;
  std::string server_compression_detail;
  // Also write what is received here (missing or empty; emptied afterwards).
  std::optional<std::filesystem::path> write_to;
  std::chrono::milliseconds duration{10'000};
  std::optional<std::uint64_t> wal_max_bytes;
  WalStartFrom wal_start = WalStartFrom::kRetained;
  // With kGiven: where to start (its segment's start). Nothing protects that
  // WAL from removal but the server's own retention (a slot, wal_keep_size).
  protocol::Lsn wal_start_lsn;
  std::chrono::milliseconds status_interval{10'000};
  std::function<void(const BenchProgress&)> on_progress;
};

// Runs the selected stages; SIGINT/SIGTERM abort them. Throws
// walstream::Error on failure, after removing what it wrote.
BenchReport run_bench(const BenchOptions& options);

}  // namespace walstream::walreceiver
