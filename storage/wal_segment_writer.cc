#include "storage/wal_segment_writer.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <climits>
#include <cstring>
#include <utility>
#include <vector>

#include "protocol/error.h"
#include "protocol/wal_file_names.h"
#include "storage/aligned_buffer.h"
#include "storage/background_writer.h"
#include "storage/file_util.h"

namespace walstream::storage {

namespace {

namespace fs = std::filesystem;
using protocol::Lsn;

constexpr std::size_t kZeroFillChunk = 1024 * 1024;

// Shared by every zero-fill; never written to. Aligned for direct I/O.
alignas(kDirectIoAlignment) const std::array<std::byte, kZeroFillChunk> kZeros{};
// WAL is staged in this much aligned memory for direct writes.
constexpr std::size_t kDirectStageSize = 1024 * 1024;

#ifdef IOV_MAX
constexpr std::size_t kMaxIov = IOV_MAX;
#else
constexpr std::size_t kMaxIov = 1024;
#endif

// Writes every byte of `iov` at `offset`, retrying short writes and EINTR.
// Consumes `iov` (entries are advanced past what was written).
void pwritev_all(int fd, std::span<iovec> iov, off_t offset, const fs::path& path_for_errors) {
  while (!iov.empty()) {
    ssize_t n = ::pwritev(fd, iov.data(), static_cast<int>(iov.size()), offset);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_io_error("write to file", path_for_errors, errno);
    }
    // A zero-byte write of a non-empty buffer only happens when the device is full.
    if (n == 0) throw_io_error("write to file", path_for_errors, ENOSPC);
    offset += n;
    auto left = static_cast<std::size_t>(n);
    while (!iov.empty() && left >= iov.front().iov_len) {
      left -= iov.front().iov_len;
      iov = iov.subspan(1);
    }
    if (left > 0) {
      iov.front().iov_base = static_cast<char*>(iov.front().iov_base) + left;
      iov.front().iov_len -= left;
    }
  }
}

// Returns false if the filesystem refused direct writes (O_DIRECT is off
// for `fd` then; see pwrite_all_direct).
bool pwrite_zeros(int fd, std::uint64_t from, std::uint64_t to, const fs::path& path_for_errors) {
  bool direct = true;
  for (std::uint64_t offset = from; offset < to; offset += kZeroFillChunk) {
    const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(kZeroFillChunk, to - offset));
    direct = pwrite_all_direct(fd, ByteView(kZeros).first(n), static_cast<off_t>(offset),
                               path_for_errors) &&
             direct;
  }
  return direct;
}

// Real zeros from `from` to `size`, not fallocate: later fdatasync calls then
// never have to update the file size or convert unwritten extents, and
// readers see a full-size segment. With `direct` (O_DIRECT is on for `fd`),
// the aligned bulk goes to the disk without a page-cache copy. Returns
// whether O_DIRECT is still on: a filesystem that took the flag but refuses
// the writes (EINVAL) gets them through the page cache. Any other error
// fails, as it would without direct I/O.
bool zero_fill(int fd, std::uint64_t from, std::uint64_t size, bool direct,
               const fs::path& path_for_errors) {
  const std::uint64_t aligned_from = std::min(size, align_up(from));
  if (from < aligned_from) {
    // The unaligned head (after a crash during an earlier fill) is written
    // alone: rounding it down would overwrite bytes the file already holds.
    if (direct) set_direct_io(fd, false, path_for_errors);
    pwrite_zeros(fd, from, aligned_from, path_for_errors);
    if (direct) set_direct_io(fd, true, path_for_errors);
  }
  return pwrite_zeros(fd, aligned_from, size, path_for_errors) && direct;
}

// Reserves [0, size) of a new, empty file without writing it. Returns
// false where the filesystem cannot (the caller zero-fills instead).
bool allocate(int fd, std::uint64_t size, const fs::path& path_for_errors) {
  int rc;
  do {
    rc = ::fallocate(fd, 0, 0, static_cast<off_t>(size));
  } while (rc != 0 && errno == EINTR);
  if (rc == 0) return true;
  if (errno == EOPNOTSUPP || errno == ENOSYS) return false;
  throw_io_error("allocate space for", path_for_errors, errno);
}

}  // namespace

WalSegmentWriter::WalSegmentWriter(WalSegmentWriterOptions options)
    : options_(std::move(options)) {}

SegmentFilePtr WalSegmentWriter::release_segment() {
  flush();
  if (current_ && page_checker_ && checked_bytes_ == options_.segment_size) {
    current_->page_problem = page_problem_;
  }
  page_checker_.reset();
  if (current_ && direct_) {
    // Whoever takes the file over (page check, archiver) reads it with
    // ordinary, unaligned reads.
    set_direct_io(current_->fd.get(), false, current_->partial_path);
  }
  direct_ = false;
  return std::exchange(current_, nullptr);
}

void WalSegmentWriter::flush() {
  if (!direct_) return;
  if (!stage_dirty_) {
    if (writer_) writer_->wait();  // a full stage may be in flight
    return;
  }
  // The last block goes out zero-padded (the segment holds zeros there: it
  // is a new, zero-filled file). Its bytes move to the other stage, so the
  // next write rewrites that block whole with the bytes that follow.
  // Written here, not on the writer thread: the caller waits for it anyway,
  // and a hand-off per flush cost a synchronous standby two context
  // switches per commit batch.
  writer_->wait();  // the full stage before, if any, goes first
  std::byte* stage = stages_[active_]->data();
  const std::size_t padded = align_up(stage_filled_);
  std::memset(stage + stage_filled_, 0, padded - stage_filled_);
  pwrite_all_direct(current_->fd.get(), ByteView(stage, padded), static_cast<off_t>(stage_start_),
                    current_->partial_path);
  // What stays staged starts at a block boundary, or at a page boundary
  // while pages are checked (pages are checked whole, in the stage); the
  // pages before it are checked now.
  const std::size_t keep_from =
      page_checker_ ? stage_filled_ / protocol::kWalPageSize * protocol::kWalPageSize
                    : align_down(stage_filled_);
  check_staged_pages(keep_from);
  const std::size_t whole_blocks = keep_from;
  const std::size_t tail = stage_filled_ - whole_blocks;
  std::memmove(stage, stage + whole_blocks, tail);
  stage_start_ += whole_blocks;
  stage_filled_ = tail;
  stage_dirty_ = false;
}

void WalSegmentWriter::check_staged_pages(std::size_t staged_end) {
  if (!page_checker_) return;
  // Stages start at page boundaries (see flush), so the unchecked bytes are
  // whole pages up to the last page boundary before staged_end.
  const std::uint64_t end =
      stage_start_ + staged_end / protocol::kWalPageSize * protocol::kWalPageSize;
  if (end <= checked_bytes_) return;
  if (page_problem_.empty()) {
    page_problem_ = page_checker_->feed(
        ByteView(stages_[active_]->data() + (checked_bytes_ - stage_start_), end - checked_bytes_));
  }
  checked_bytes_ = end;
}

void WalSegmentWriter::write_direct(std::span<const iovec> iov, std::uint64_t offset) {
  if (offset != stage_start_ + stage_filled_) {
    throw Error(ErrorKind::kInternal, "direct WAL write does not continue the staged bytes");
  }
  if (!writer_) {
    writer_ = std::make_unique<BackgroundWriter>();
    for (auto& stage : stages_) stage = std::make_unique<AlignedBuffer>(kDirectStageSize);
  }
  for (const iovec& entry : iov) {
    auto data = static_cast<const std::byte*>(entry.iov_base);
    std::size_t left = entry.iov_len;
    while (left > 0) {
      const std::size_t n = std::min(left, kDirectStageSize - stage_filled_);
      std::memcpy(stages_[active_]->data() + stage_filled_, data, n);
      stage_filled_ += n;
      stage_dirty_ = true;
      data += n;
      left -= n;
      if (stage_filled_ == kDirectStageSize) {
        check_staged_pages(kDirectStageSize);
        // A full stage is written on the writer thread while the other one
        // fills (submit waits for the write before, of the other stage).
        writer_->submit(current_->fd.get(), ByteView(stages_[active_]->data(), kDirectStageSize),
                        static_cast<off_t>(stage_start_), current_->partial_path);
        active_ ^= 1;
        stage_start_ += kDirectStageSize;
        stage_filled_ = 0;
        stage_dirty_ = false;
      }
    }
  }
}

void WalSegmentWriter::write(protocol::StreamPosition start, std::span<const ByteView> pieces) {
  const std::uint64_t segment_size = options_.segment_size;
  if (current_) {
    if (start != position_) {
      throw ProtocolError("received WAL at " + protocol::to_string(start) + ", expected " +
                          protocol::to_string(position_));
    }
  } else if (protocol::segment_offset(start.lsn, segment_size) != 0) {
    throw ProtocolError("received WAL at " + protocol::to_string(start) +
                        " with no segment open; expected a segment start");
  }

  std::vector<iovec> iov;
  iov.reserve(std::min(pieces.size(), kMaxIov));
  std::uint64_t lsn = start.lsn.value;
  std::size_t piece = 0;
  std::size_t piece_offset = 0;  // bytes of pieces[piece] already written
  for (;;) {
    while (piece < pieces.size() && piece_offset == pieces[piece].size()) {
      ++piece;
      piece_offset = 0;
    }
    if (piece == pieces.size()) break;

    if (!current_) open_segment(start.timeline, protocol::segment_number(Lsn{lsn}, segment_size));
    const std::uint64_t offset = lsn % segment_size;
    // One pwritev per segment (or per IOV_MAX pieces): never across a boundary.
    std::uint64_t room = segment_size - offset;
    iov.clear();
    while (piece < pieces.size() && room > 0 && iov.size() < kMaxIov) {
      ByteView rest = pieces[piece].subspan(piece_offset);
      const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(rest.size(), room));
      if (n > 0) {
        // pwritev does not write through iov_base; the cast only fits the type.
        iov.push_back(iovec{const_cast<std::byte*>(rest.data()), n});
        room -= n;
      }
      if (n == rest.size()) {
        ++piece;
        piece_offset = 0;
      } else {
        piece_offset += n;
      }
    }
    const std::uint64_t written = segment_size - offset - room;
    if (direct_) {
      write_direct(iov, offset);
    } else {
      pwritev_all(current_->fd.get(), iov, static_cast<off_t>(offset), current_->partial_path);
    }
    lsn += written;
    position_ = protocol::StreamPosition{start.timeline, Lsn{lsn}};
    if (offset + written == segment_size) {
      SegmentFilePtr full = release_segment();
      if (options_.on_segment_full) options_.on_segment_full(std::move(full), position_);
    }
  }
}

void WalSegmentWriter::open_segment(protocol::TimelineId timeline, protocol::SegmentNo segno) {
  const std::uint64_t segment_size = options_.segment_size;
  auto file = std::make_shared<SegmentFile>();
  file->name = protocol::wal_segment_file_name(timeline, segno, segment_size);
  file->final_path = options_.directory / file->name;
  file->partial_path = options_.directory /
                       protocol::wal_file_name(
                           {protocol::WalFileKind::kPartialSegment, timeline, segno}, segment_size);
  file->timeline = timeline;
  file->segno = segno;
  const fs::path& path = file->partial_path;

  // Read access too, so that the page check can read it back through it.
  // O_NOFOLLOW: never write through a symlink someone planted in the target.
  int raw_fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, options_.file_mode);
  if (raw_fd < 0) throw_io_error("open file", path, errno);
  file->fd = UniqueFd(raw_fd);
  const int fd = file->fd.get();

  struct stat st {};
  if (::fstat(fd, &st) != 0) throw_io_error("stat file", path, errno);
  if (!S_ISREG(st.st_mode)) {
    throw Error(ErrorKind::kIo, "\"" + path.string() + "\" is not a regular file",
                "move it out of the WAL directory");
  }
  const auto existing_size = static_cast<std::uint64_t>(st.st_size);
  if (existing_size > segment_size) {
    throw Error(ErrorKind::kIo,
                "WAL segment file \"" + path.string() + "\" has " + std::to_string(existing_size) +
                    " bytes, more than a segment of " + std::to_string(segment_size),
                "it is not a segment of this server; move it out of the WAL directory");
  }
  if (existing_size == 0 && ::fchmod(fd, options_.file_mode) != 0) {
    throw_io_error("set permissions on file", path, errno);
  }
  // A new file is zero-filled or allocated; an existing one keeps its bytes
  // (it may hold durable WAL) and only gets the zeros it is missing. A new file is then
  // written with direct I/O (see the header); an existing one through the
  // page cache, since direct writes pad their last block with zeros and its
  // later bytes may be durable WAL.
  bool direct =
      options_.direct_io && segment_size % kDirectIoAlignment == 0 && set_direct_io(fd, true, path);
  const bool allocated = existing_size == 0 &&
                         options_.preallocation == SegmentPreallocation::kAllocate &&
                         allocate(fd, segment_size, path);
  if (!allocated) direct = zero_fill(fd, existing_size, segment_size, direct, path);
  if (direct && existing_size > 0) {
    set_direct_io(fd, false, path);
    direct = false;
  }
  direct_ = direct;
  page_checker_.reset();
  if (direct && options_.page_check && segment_size % kDirectStageSize == 0) {
    protocol::PageCheck check = *options_.page_check;
    check.max_timeline = timeline;  // as the completion's read-back would
    page_checker_.emplace(segno, check);
  }
  checked_bytes_ = 0;
  page_problem_.clear();
  stage_start_ = 0;
  stage_filled_ = 0;
  stage_dirty_ = false;
  current_ = std::move(file);
}

}  // namespace walstream::storage
