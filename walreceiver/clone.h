// `walstream clone`: a base backup extracted as a plain data directory, the
// WAL it needs streamed into its pg_wal over a second connection at the same
// time, and standby configuration, so the directory starts as a streaming hot
// standby. Both connections run as coroutines on one io_context thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>

#include "protocol/lsn.h"
#include "protocol/replication_commands.h"
#include "walreceiver/connection_options.h"
#include "walreceiver/tablespace_mapping.h"

namespace walstream::walreceiver {

struct CloneProgress {
  std::uint64_t bytes_done = 0;
  std::optional<std::uint64_t> bytes_total;  // the server's estimate
  bool finished = false;
};

struct CloneOptions {
  ConnectionOptions connection;
  std::filesystem::path pgdata;
  std::optional<std::string> slot;  // -S
  bool create_slot = false;         // -C
  protocol::CheckpointMode checkpoint = protocol::CheckpointMode::kFast;
  std::string label = "walstream clone";
  std::optional<std::uint32_t> max_rate_kbps;
  bool sync = true;                  // false with -N
  bool write_standby_config = true;  // false with --no-standby-config
  std::chrono::milliseconds status_interval{10'000};
  std::function<void(const CloneProgress&)> on_progress;
  // --compress=server-ALG[:DETAIL] (15+): the server compresses, we
  // decompress while extracting.
  std::string server_compression;
  std::string server_compression_detail;
  TablespaceMapping tablespace_mapping;         // -T OLDDIR=NEWDIR
  std::optional<std::filesystem::path> waldir;  // --waldir: pg_wal becomes a symlink to it
  // Data files are written with O_DIRECT (false with --no-direct-io: through
  // the page cache).
  bool direct_io = true;
};

struct CloneSummary {
  std::uint64_t system_id = 0;
  protocol::ServerVersion server_version;
  protocol::BackupPosition start;
  protocol::BackupPosition end;
  std::uint64_t bytes = 0;
};

// Runs the whole clone; SIGINT/SIGTERM abort it. On any failure, removes what
// it created (the directory or its contents, a slot made with -C) and throws
// walstream::Error.
CloneSummary run_clone(const CloneOptions& options);

}  // namespace walstream::walreceiver
