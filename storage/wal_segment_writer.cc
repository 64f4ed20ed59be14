#include "storage/wal_segment_writer.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <utility>
#include <vector>

#include "protocol/error.h"
#include "protocol/wal_file_names.h"

namespace walstream::storage {

namespace {

namespace fs = std::filesystem;
using protocol::Lsn;

constexpr std::string_view kPartialSuffix = ".partial";
constexpr std::size_t kZeroFillChunk = 1024 * 1024;

// Shared by every zero-fill; never written to.
const std::array<std::byte, kZeroFillChunk> kZeros{};

void rename_or_throw(const fs::path& from, const fs::path& to) {
  if (::rename(from.c_str(), to.c_str()) != 0) {
    throw_io_error("rename file \"" + from.string() + "\" to", to, errno);
  }
}

// archive_status gets the directory mode matching the files: r -> r+x.
mode_t directory_mode_for(mode_t file_mode) { return file_mode | ((file_mode & 0444) >> 2); }

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

void zero_fill(int fd, std::uint64_t size, const fs::path& path_for_errors) {
  // Real zeros, not fallocate: later fdatasync calls then never have to update
  // the file size, and readers see a full-size segment.
  for (std::uint64_t offset = 0; offset < size; offset += kZeroFillChunk) {
    std::size_t n =
        static_cast<std::size_t>(std::min<std::uint64_t>(kZeroFillChunk, size - offset));
    pwrite_all(fd, ByteView(kZeros).first(n), static_cast<off_t>(offset), path_for_errors);
  }
}

}  // namespace

WalSegmentWriter::WalSegmentWriter(WalWriterOptions options) : options_(std::move(options)) {}

// Closing without renaming: an incomplete segment keeps its .partial name, so
// a later run sees it is unfinished.
WalSegmentWriter::~WalSegmentWriter() = default;

void WalSegmentWriter::write(protocol::TimelineId timeline, Lsn start, ByteView data) {
  write_batch(timeline, start, std::span<const ByteView>(&data, 1));
}

void WalSegmentWriter::write_batch(protocol::TimelineId timeline, Lsn start,
                                   std::span<const ByteView> pieces) {
  const std::uint64_t segment_size = options_.segment_size;
  if (current_) {
    if (start != position_) {
      throw ProtocolError("received WAL at " + protocol::to_string(start) + ", expected " +
                          protocol::to_string(position_));
    }
  } else if (protocol::segment_offset(start, segment_size) != 0) {
    throw ProtocolError("received WAL at " + protocol::to_string(start) +
                        " with no segment open; expected a segment start");
  }

  std::vector<iovec> iov;
  iov.reserve(std::min(pieces.size(), kMaxIov));
  std::uint64_t lsn = start.value;
  std::size_t piece = 0;
  std::size_t piece_offset = 0;  // bytes of pieces[piece] already written
  for (;;) {
    while (piece < pieces.size() && piece_offset == pieces[piece].size()) {
      ++piece;
      piece_offset = 0;
    }
    if (piece == pieces.size()) break;

    if (!current_) open_segment(timeline, protocol::segment_number(Lsn{lsn}, segment_size));
    const std::uint64_t offset = lsn % segment_size;
    // One pwritev per segment (or per IOV_MAX pieces): never across a boundary.
    std::uint64_t room = segment_size - offset;
    iov.clear();
    while (piece < pieces.size() && room > 0 && iov.size() < kMaxIov) {
      ByteView rest = pieces[piece].subspan(piece_offset);
      const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(rest.size(), room));
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
    pwritev_all(current_->fd.get(), iov, static_cast<off_t>(offset), current_->partial_path);
    lsn += written;
    position_ = Lsn{lsn};
    if (offset + written == segment_size) complete_segment();
  }
}

Lsn WalSegmentWriter::flush() {
  if (current_ && options_.sync && ::fdatasync(current_->fd.get()) != 0) {
    throw_io_error("fdatasync file", current_->partial_path, errno);
  }
  flushed_ = position_;
  return position_;
}

void WalSegmentWriter::finish(FinishMode mode) {
  if (options_.on_segment_full && mode == FinishMode::kKeepPartial) {
    current_.reset();
    return;
  }
  if (current_) {
    flush();
    SegmentFilePtr file = std::move(current_);
    file->fd.close(file->partial_path);
    if (mode == FinishMode::kRenameToFinal) {
      rename_or_throw(file->partial_path, file->final_path);
      if (options_.mark_done) mark_segment_done(file->name);
    }
  }
  if (options_.sync) fsync_directory(options_.directory);
}

void WalSegmentWriter::open_segment(protocol::TimelineId timeline, protocol::SegmentNo segno) {
  const std::uint64_t segment_size = options_.segment_size;
  auto file = std::make_shared<SegmentFile>();
  file->name = protocol::wal_segment_file_name(timeline, segno, segment_size);
  file->final_path = options_.directory / file->name;
  file->partial_path = options_.directory / (file->name + std::string(kPartialSuffix));
  file->timeline = timeline;
  file->segno = segno;
  const fs::path& partial_path = file->partial_path;

  // Read access too, so that a validator can check the first page through it.
  int raw_fd = ::open(partial_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, options_.file_mode);
  if (raw_fd < 0) throw_io_error("open file", partial_path, errno);
  file->fd = UniqueFd(raw_fd);
  const int fd = file->fd.get();

  struct stat st {};
  if (::fstat(fd, &st) != 0) throw_io_error("stat file", partial_path, errno);
  const auto existing_size = static_cast<std::uint64_t>(st.st_size);
  if (existing_size == segment_size && !options_.reset_existing_partial) {
    // Left by an earlier run; it may not have been made durable before a crash.
    if (options_.sync && ::fsync(fd) != 0) throw_io_error("fsync file", partial_path, errno);
  } else if (existing_size == 0 || options_.reset_existing_partial) {
    if (existing_size != 0 && ::ftruncate(fd, 0) != 0) {
      throw_io_error("truncate file", partial_path, errno);
    }
    if (::fchmod(fd, options_.file_mode) != 0) {
      throw_io_error("set permissions on file", partial_path, errno);
    }
    zero_fill(fd, segment_size, partial_path);
    if (options_.sync) {
      if (::fsync(fd) != 0) throw_io_error("fsync file", partial_path, errno);
      fsync_directory(options_.directory);
      // Not shared with a syncer yet, so no race on the flag.
      file->entry_durable = true;
    }
  } else {
    throw Error(ErrorKind::kIo, "WAL segment file \"" + partial_path.string() + "\" has " +
                                    std::to_string(existing_size) + " bytes, should be 0 or " +
                                    std::to_string(segment_size));
  }
  current_ = std::move(file);
}

void WalSegmentWriter::complete_segment() {
  SegmentFilePtr file = std::move(current_);
  if (options_.on_segment_full) {
    const Lsn end = protocol::segment_start_lsn(file->segno + 1, options_.segment_size);
    options_.on_segment_full(std::move(file), end);
    return;
  }
  // The segment was zero-filled to full size, so fdatasync covers everything.
  if (options_.sync && ::fdatasync(file->fd.get()) != 0) {
    throw_io_error("fdatasync file", file->partial_path, errno);
  }
  file->fd.close(file->partial_path);
  rename_or_throw(file->partial_path, file->final_path);
  if (options_.sync) fsync_directory(options_.directory);
  if (options_.mark_done) mark_segment_done(file->name);
}

void WalSegmentWriter::mark_segment_done(const std::string& segment_name) {
  fs::path status_dir = options_.directory / "archive_status";
  const mode_t dir_mode = directory_mode_for(options_.file_mode);
  if (::mkdir(status_dir.c_str(), dir_mode) == 0) {
    if (::chmod(status_dir.c_str(), dir_mode) != 0) {
      throw_io_error("set permissions on directory", status_dir, errno);
    }
    if (options_.sync) fsync_directory(options_.directory);
  } else if (errno != EEXIST) {
    throw_io_error("create directory", status_dir, errno);
  }

  fs::path done_path = status_dir / (segment_name + ".done");
  int raw_fd =
      ::open(done_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, options_.file_mode);
  if (raw_fd < 0) throw_io_error("create file", done_path, errno);
  UniqueFd fd(raw_fd);
  if (::fchmod(fd.get(), options_.file_mode) != 0) {
    throw_io_error("set permissions on file", done_path, errno);
  }
  fd.close(done_path);
  if (options_.sync) fsync_directory(status_dir);
}

}  // namespace walstream::storage
