// What `walstream bench` measured, and the arithmetic and formatting of it:
// throughput, the split of a stage's time into its steps, the JSON document
// and the aligned table a person reads. Pure: no clock, no I/O; the
// measurements come in as counts and durations.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "protocol/replication_commands.h"
#include "protocol/stream_position.h"

namespace walstream::walreceiver {

using BenchDuration = std::chrono::nanoseconds;

// Time spent inside nested steps of the base backup's processing, each
// including the steps below it: archive handling (decompression, and the tar
// parsing it feeds) includes tar parsing, which includes writing files.
struct BackupInclusiveTimes {
  BenchDuration handler{};  // every call into the backup stream handler
  BenchDuration archive{};  // archive data and ends: decompression + tar + write
  BenchDuration tar{};      // the tar parser: parsing + write
  BenchDuration write{};    // creating and writing files (--write-to)
};

// The same time split into steps that do not overlap.
struct BackupStepTimes {
  BenchDuration receive{};     // waiting in libpq and on the socket
  BenchDuration decompress{};  // server-compressed archives only
  BenchDuration tar_parse{};
  BenchDuration write{};
};

// `transfer` is the wall time from the backup's start position to the last
// byte handled; what our handler did not spend of it went to receiving.
// Differences are clamped at zero (clock granularity).
BackupStepTimes split_backup_times(BenchDuration transfer, const BackupInclusiveTimes& inclusive,
                                   bool compressed);

struct BackupStageResult {
  std::string checkpoint;   // "fast" or "spread"
  std::string compression;  // server-side algorithm; empty for none
  bool manifest = false;    // a backup manifest was requested (13+)
  // CopyData messages of the backup and their payload bytes.
  std::uint64_t messages = 0;
  std::uint64_t bytes = 0;
  // Archive bytes as sent (compressed when the server compressed them), and
  // the plain tar bytes the parser saw.
  std::uint64_t archive_bytes = 0;
  std::uint64_t tar_bytes = 0;
  std::uint64_t manifest_bytes = 0;
  std::uint64_t archives = 0;
  std::uint64_t files = 0;
  // File contents written (--write-to only).
  std::optional<std::uint64_t> written_bytes;

  BenchDuration start{};              // BASE_BACKUP sent until its start position: the checkpoint
  BenchDuration transfer{};           // start position until the last byte was handled
  BackupStepTimes steps;              // how the transfer's time was spent
  BenchDuration end{};                // last byte until the end position
  std::optional<BenchDuration> sync;  // final sync of what was written (--write-to)
  BenchDuration total{};
};

enum class WalStartFrom {
  kRetained,  // the oldest WAL a new slot keeps: its restart position (15+)
  kCurrent,   // the server's current position
  kGiven,     // a position the user named (--wal-start LSN)
};
const char* to_string(WalStartFrom from);

enum class WalStopReason { kDuration, kBytes, kServerEnded };
const char* to_string(WalStopReason reason);

struct WalStageResult {
  WalStartFrom start_from = WalStartFrom::kCurrent;
  protocol::StreamPosition start;
  protocol::StreamPosition end;
  WalStopReason stop_reason = WalStopReason::kDuration;
  std::uint64_t messages = 0;  // every CopyData message from the server
  std::uint64_t keepalives = 0;
  std::uint64_t bytes = 0;             // WAL payload bytes
  BenchDuration streaming{};           // COPY started until the stop
  BenchDuration receive{};             // of which waiting in libpq and on the socket
  std::optional<BenchDuration> write;  // --write-to only
  std::optional<BenchDuration> sync;   // final sync of the segments (--write-to)
  BenchDuration total{};
};

struct BenchReport {
  protocol::ServerVersion server_version;
  std::uint64_t system_id = 0;
  protocol::TimelineId timeline = 0;
  std::uint64_t segment_size = 0;
  std::optional<std::string> write_to;
  std::optional<BackupStageResult> backup;
  std::optional<WalStageResult> wal;
};

// Units: 1 MB = 1024 * 1024 bytes, as PostgreSQL counts. 0 for no time.
double seconds(BenchDuration duration);
double per_second(double amount, BenchDuration duration);
double megabytes(std::uint64_t bytes);

// The whole report as one JSON document (pretty-printed, ending in '\n').
std::string bench_report_json(const BenchReport& report);

// Lays out rows as columns, each as wide as its widest cell plus two spaces
// between columns: the first column left-aligned, the others right-aligned.
// Each line ends in '\n', without trailing blanks.
std::string format_table(const std::vector<std::vector<std::string>>& rows);

// The report for a person: a throughput table and the time per step.
std::string bench_report_text(const BenchReport& report);

}  // namespace walstream::walreceiver
