// Writes a WAL stream into segment files the way pg_receivewal does: each
// segment is NAME.partial, brought to its full size when new (zero-filled, so
// later fdatasync calls never have to update metadata, or allocated: see
// SegmentPreallocation; either way readers see a full-size file of zeros),
// written at its offset. A segment that becomes full is handed over,
// descriptor open, to `on_segment_full` (the WalArchiveWriter completes it on
// its syncer thread).
//
// A new segment is preallocated and written with direct I/O (O_DIRECT): the
// WAL is copied into an aligned staging buffer and goes to the disk from
// there, without the page-cache copy that cost more than this one
// (docs/PERFORMANCE.md). Full 1 MiB stages are written on a writer thread
// while the next one fills, so the receiving thread does not wait for the
// disk; flush() writes the last, partial block zero-padded and waits, and a
// later write rewrites that block whole. Elsewhere (a reused .partial, a
// filesystem without O_DIRECT) pwritev writes straight from the caller's
// buffers, and flush() has nothing to do.
//
// Nothing is synced here: the syncer's first fdatasync of a file also makes
// its directory entry durable, off the io thread.
//
// An existing NAME.partial is reused in place, never truncated: a restart
// rewrites it from the segment start with the same bytes, so WAL that was
// durable stays durable until it is overwritten by itself. A file shorter
// than a segment (a crash during the zero-fill) is zero-filled up to its full
// size from where it ends.
#pragma once

#include <sys/types.h>
#include <sys/uio.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "protocol/bytes.h"
#include "protocol/stream_position.h"
#include "protocol/wal_page.h"
#include "storage/aligned_buffer.h"
#include "storage/background_writer.h"
#include "storage/segment_file.h"

namespace walstream::storage {

// How a new segment file gets its full size before WAL is written into it.
enum class SegmentPreallocation {
  // Real zeros, written: later fdatasync calls never have to record newly
  // written extents, which keeps each sync of a synchronous standby short.
  // The disk writes every segment twice (zeros, then WAL).
  kZeroFill,
  // fallocate(2): the blocks are reserved (a full disk fails here, not
  // mid-segment) and read as zeros, but nothing is written, so the disk
  // writes every segment once. An fdatasync after writing into them also
  // records their conversion to written extents: right for catch-up, where
  // syncs are rare. Where the filesystem has no fallocate, zero-filled.
  kAllocate,
};

struct WalSegmentWriterOptions {
  std::filesystem::path directory;
  std::uint64_t segment_size = 16 * 1024 * 1024;
  mode_t file_mode = 0600;
  // New segments are written with direct I/O (O_DIRECT) where the
  // filesystem allows it.
  bool direct_io = true;
  // How a new segment gets its full size. A .partial that already exists is
  // always zero-filled from where it ends.
  SegmentPreallocation preallocation = SegmentPreallocation::kZeroFill;
  // Page header rules (max_timeline is set per segment). A segment written
  // with direct I/O is checked here, in the stages, as its bytes go out, and
  // handed over with SegmentFile::page_problem set: reading 16 MB back from
  // the disk for the check cost catch-up a third of its throughput
  // (docs/PERFORMANCE.md). Other segments are left to the completion.
  std::optional<protocol::PageCheck> page_check;
  // Receives each full segment with the position of its end.
  std::function<void(SegmentFilePtr, protocol::StreamPosition end)> on_segment_full;
};

class WalSegmentWriter {
 public:
  explicit WalSegmentWriter(WalSegmentWriterOptions options);
  WalSegmentWriter(const WalSegmentWriter&) = delete;
  WalSegmentWriter& operator=(const WalSegmentWriter&) = delete;

  // Writes `pieces` (contiguous in the stream) from `start`, with as few
  // pwritev calls as possible, splitting at segment boundaries. `start` must
  // be position() while a segment is open, or a segment start otherwise.
  // Throws walstream::Error (kProtocol) for a start that does not continue
  // the stream, (kIo) on a filesystem error.
  void write(protocol::StreamPosition start, std::span<const ByteView> pieces);

  // Waits until everything written so far is in the file: direct writes
  // run on a writer thread, and the last, partial block is written only
  // here. Call it before syncing the file.
  void flush();

  // Where the stream continues; timeline 0 before the first write.
  protocol::StreamPosition position() const { return position_; }
  // The open segment; nullptr when none is open.
  SegmentFilePtr current_segment() const { return current_; }
  // Flushes and lets go of the open segment (it keeps its .partial name)
  // and returns it.
  SegmentFilePtr release_segment();

 private:
  void open_segment(protocol::TimelineId timeline, protocol::SegmentNo segno);
  void write_direct(std::span<const iovec> iov, std::uint64_t offset);
  // Feeds the page checker the staged pages it has not seen that end at or
  // before `staged_end` (bytes into the active stage).
  void check_staged_pages(std::size_t staged_end);

  WalSegmentWriterOptions options_;
  SegmentFilePtr current_;
  protocol::StreamPosition position_;
  // Direct I/O: the open segment's bytes [stage_start_, stage_start_ +
  // stage_filled_) are in the active stage (stage_start_ is block-aligned),
  // so a write that ends inside a block can be continued by rewriting that
  // block. The other stage may be in flight on writer_.
  bool direct_ = false;
  std::unique_ptr<AlignedBuffer> stages_[2];
  std::unique_ptr<BackgroundWriter> writer_;  // after stages_: goes first
  int active_ = 0;
  std::uint64_t stage_start_ = 0;
  std::size_t stage_filled_ = 0;
  bool stage_dirty_ = false;  // bytes staged since the last flush
  // Direct I/O with a page check: the open segment's pages, checked in order
  // from its start as each is complete in a stage; checked_bytes_ is where
  // the unchecked ones begin (a page boundary).
  std::optional<protocol::SegmentPageChecker> page_checker_;
  std::uint64_t checked_bytes_ = 0;
  std::string page_problem_;  // the first problem found; "" while none
};

}  // namespace walstream::storage
