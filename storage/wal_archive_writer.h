// Where a WAL stream goes on disk: a WAL archive in pg_receivewal's layout
// (`walstream receive`) or the pg_wal of a new data directory (`walstream
// clone`). It composes the segment writer (io thread: pwritev from libpq's
// buffers into NAME.partial), the syncer thread (fdatasync in batches, full
// segments completed: page check, rename, directory fsync, .done) and, when
// asked, the zstd archiver thread (completed segments compressed).
//
// The caller decides *when* (the WAL stream state machine: which bytes, when
// to sync, when a timeline ends); this class decides *how*. Durability is
// reported as (timeline, LSN) positions through on_durable, in the order the
// syncs were requested.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <exception>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "protocol/bytes.h"
#include "protocol/replication_commands.h"
#include "protocol/stream_position.h"
#include "protocol/wal_page.h"
#include "storage/segment_completion.h"
#include "storage/wal_segment_writer.h"
#include "storage/wal_syncer.h"
#include "storage/zstd_archiver.h"

namespace walstream::storage {

// What an incomplete segment is called when the stream lets go of it.
enum class IncompleteSegments {
  kKeepPartial,  // NAME.partial: an archive, which a later run continues
  kFinalName,    // NAME: a clone's pg_wal, where recovery (and pg_verifybackup) read it
};

enum class WalDurability {
  kSynced,    // fdatasync on request and at segment completion (receive)
  kDeferred,  // no fsync at all: the caller syncs the filesystem at the end (clone)
};

struct WalArchiveWriterOptions {
  std::filesystem::path directory;
  std::uint64_t segment_size = 0;
  mode_t file_mode = 0600;
  WalDurability durability = WalDurability::kSynced;
  // archive_status/NAME.done for full segments and history files (a clone's
  // pg_wal, like pg_basebackup).
  bool mark_done = false;
  IncompleteSegments incomplete_segments = IncompleteSegments::kKeepPartial;
  // Page header rules every full segment is checked against before it gets
  // its final name; nullopt skips the check.
  std::optional<protocol::PageCheck> page_check;
  // Compress completed segments into NAME.zst at this level.
  std::optional<int> zstd_level;
  // New segments are written with O_DIRECT (see WalSegmentWriter).
  bool direct_io = true;
  // How new segments get their full size (see SegmentPreallocation).
  SegmentPreallocation preallocation = SegmentPreallocation::kZeroFill;
  // Syncs and segment completions run on the thread that writes, with no
  // syncer thread (a synchronous standby: see WalSyncerOptions::inline_jobs).
  bool sync_inline = false;
  // Called on the syncer thread (the writing thread with sync_inline) with
  // each durable position, in order.
  std::function<void(const protocol::StreamPosition&)> on_durable;
  // Called on a background thread when it fails (the failure is final).
  std::function<void(std::exception_ptr)> on_failure;
  // For statistics; each may be empty. How long each fdatasync of a segment
  // file took (on the thread that synced); each full segment's name once it
  // has its final name (syncer thread); each segment's name once its NAME.zst
  // is durable (archiver thread).
  std::function<void(std::chrono::nanoseconds)> on_fdatasync;
  std::function<void(const std::string& segment_name)> on_segment_completed;
  std::function<void(const std::string& segment_name)> on_segment_compressed;
};

class WalArchiveWriter {
 public:
  explicit WalArchiveWriter(WalArchiveWriterOptions options);
  // Lets the background threads finish their queues; the open segment keeps
  // its .partial name.
  ~WalArchiveWriter();
  WalArchiveWriter(const WalArchiveWriter&) = delete;
  WalArchiveWriter& operator=(const WalArchiveWriter&) = delete;

  // `pieces` are contiguous in the stream from `start` and stay valid only
  // during the call. See WalSegmentWriter::write.
  void write(protocol::StreamPosition start, std::span<const ByteView> pieces);
  // Everything written so far becomes durable; on_durable(upto) follows.
  void request_sync(protocol::StreamPosition upto);
  // Lets go of the open segment (a timeline ended, or the stream restarts
  // at its start): it keeps its .partial name (its pending sync, if any,
  // still runs), or gets its final name without .done in a clone.
  void close_segment();
  // Writes a timeline history file under its own name, atomically (a .tmp
  // file renamed) and durably unless durability is deferred.
  void store_history(const protocol::TimelineHistoryFile& history);
  // Queues an already complete segment for compression (one a crash left
  // uncompressed); no-op without compression.
  void compress_existing(const std::string& segment_name);

  // Makes everything written durable (unless deferred), lets go of the open
  // segment as close_segment() does, waits for the background threads and
  // rethrows their failure, if any.
  void finish();

  protocol::StreamPosition position() const { return writer_->position(); }

 private:
  WalArchiveWriterOptions options_;
  CompletionPolicy completion_;
  std::unique_ptr<ZstdArchiver> archiver_;
  std::unique_ptr<WalSyncer> syncer_;
  std::unique_ptr<WalSegmentWriter> writer_;
};

}  // namespace walstream::storage
