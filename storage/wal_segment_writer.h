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
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include "protocol/bytes.h"
#include "protocol/lsn.h"
#include "storage/file_util.h"

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

  // End of the last byte written (InvalidLsn before the first write).
  protocol::Lsn position() const { return position_; }
  // fdatasync the open segment (if sync is on); returns position().
  protocol::Lsn flush();

  enum class FinishMode { kKeepPartial, kRenameToFinal };
  // Flushes and closes the open segment. kRenameToFinal renames an incomplete
  // segment to its final name (a clone's last segment: the standby reads it).
  void finish(FinishMode mode);

 private:
  void open_segment(protocol::TimelineId timeline, protocol::SegmentNo segno);
  void complete_segment();
  // Creates archive_status/NAME.done (options_.mark_done).
  void mark_segment_done(const std::string& segment_name);

  WalWriterOptions options_;
  UniqueFd fd_;
  protocol::TimelineId timeline_ = 0;
  protocol::SegmentNo segno_ = 0;
  std::filesystem::path partial_path_;
  std::filesystem::path final_path_;
  protocol::Lsn position_;
  protocol::Lsn flushed_;
};

}  // namespace walstream::storage
