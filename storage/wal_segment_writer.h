// Writes a WAL stream into segment files, the way pg_receivewal and
// pg_basebackup -X stream do: each segment is created as NAME.partial,
// zero-filled to its full size first (so later fdatasync calls need not update
// metadata), written at its offset with pwrite straight from the caller's
// buffer, and renamed to NAME only once complete and durable.
//
//   write(tli, start, bytes)   start == position(), or a segment start when no
//                              segment is open; splits at segment boundaries
//   flush()                    fdatasync of the open segment; returns the
//                              position that is now durable
//   finish(kRenameToFinal)     at the end of a clone: flush and give the last,
//                              incomplete segment its final name
//
// In receiver mode (on_segment_full set) a full segment is handed over with its
// descriptor open instead: the WalSyncer's complete() fdatasyncs, validates and
// renames it off the io thread.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <span>
#include <string>

#include "protocol/bytes.h"
#include "protocol/lsn.h"
#include "storage/file_util.h"
#include "storage/segment_file.h"

namespace walstream::storage {

struct WalWriterOptions {
  std::filesystem::path directory;
  std::uint64_t segment_size = 16 * 1024 * 1024;
  mode_t file_mode = 0600;
  // Create archive_status/NAME.done for each completed segment, as pg_basebackup
  // does for a data directory's pg_wal (the standby must not archive them again).
  bool mark_done = false;
  // fsync on segment completion, directory fsync after renames.
  bool sync = true;
  // Receiver mode: a segment that becomes full is not synced, closed or
  // renamed here but handed over (descriptor open) with its end LSN.
  std::function<void(SegmentFilePtr, protocol::Lsn end)> on_segment_full;
  // An existing NAME.partial is zero-filled again from scratch instead of the
  // "0 or full size" rule: the receiver always restarts at a partial's segment
  // start, and a crash may have left it with any size or contents.
  bool reset_existing_partial = false;
};

class WalSegmentWriter {
 public:
  explicit WalSegmentWriter(WalWriterOptions options);
  ~WalSegmentWriter();
  WalSegmentWriter(const WalSegmentWriter&) = delete;
  WalSegmentWriter& operator=(const WalSegmentWriter&) = delete;

  // Throws walstream::Error (kProtocol) if `start` is not where the stream
  // continues, (kIo) on a filesystem error.
  void write(protocol::TimelineId timeline, protocol::Lsn start, ByteView data);
  // Same as write() for each piece in turn (the pieces are contiguous in the
  // stream), with as few pwritev calls as possible.
  void write_batch(protocol::TimelineId timeline, protocol::Lsn start,
                   std::span<const ByteView> pieces);

  // End of the last byte written (InvalidLsn before the first write).
  protocol::Lsn position() const { return position_; }
  // fdatasync the open segment (if sync is on); returns position().
  protocol::Lsn flush();

  enum class FinishMode { kKeepPartial, kRenameToFinal };
  // Flushes and closes the open segment. kRenameToFinal renames an incomplete
  // segment to its final name (a clone's last segment: the standby reads it).
  // In receiver mode kKeepPartial only lets go of the open segment: the caller
  // makes it durable through the syncer.
  void finish(FinishMode mode);

  // The open segment; nullptr when none is open.
  SegmentFilePtr current_segment() const { return current_; }

 private:
  void open_segment(protocol::TimelineId timeline, protocol::SegmentNo segno);
  void complete_segment();
  // Creates archive_status/NAME.done (options_.mark_done).
  void mark_segment_done(const std::string& segment_name);

  WalWriterOptions options_;
  SegmentFilePtr current_;
  protocol::Lsn position_;
  protocol::Lsn flushed_;
};

}  // namespace walstream::storage
