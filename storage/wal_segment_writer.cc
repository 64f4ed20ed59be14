#include "storage/wal_segment_writer.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <utility>

#include "protocol/error.h"

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

}  // namespace

WalSegmentWriter::WalSegmentWriter(WalWriterOptions options) : options_(std::move(options)) {}

// Closing without renaming: an incomplete segment keeps its .partial name, so
// a later run sees it is unfinished.
WalSegmentWriter::~WalSegmentWriter() = default;

void WalSegmentWriter::write(protocol::TimelineId timeline, Lsn start, ByteView data) {
  const std::uint64_t segment_size = options_.segment_size;
  if (fd_) {
    if (start != position_) {
      throw ProtocolError("received WAL at " + protocol::to_string(start) + ", expected " +
                          protocol::to_string(position_));
    }
  } else if (protocol::segment_offset(start, segment_size) != 0) {
    throw ProtocolError("received WAL at " + protocol::to_string(start) +
                        " with no segment open; expected a segment start");
  }

  std::uint64_t lsn = start.value;
  while (!data.empty()) {
    if (!fd_) open_segment(timeline, protocol::segment_number(Lsn{lsn}, segment_size));
    const std::uint64_t offset = lsn % segment_size;
    const std::size_t n =
        static_cast<std::size_t>(std::min<std::uint64_t>(data.size(), segment_size - offset));
    pwrite_all(fd_.get(), data.first(n), static_cast<off_t>(offset), partial_path_);
    data = data.subspan(n);
    lsn += n;
    position_ = Lsn{lsn};
    if (offset + n == segment_size) complete_segment();
  }
}

Lsn WalSegmentWriter::flush() {
  if (fd_ && options_.sync && ::fdatasync(fd_.get()) != 0) {
    throw_io_error("fdatasync file", partial_path_, errno);
  }
  flushed_ = position_;
  return position_;
}

void WalSegmentWriter::finish(FinishMode mode) {
  if (fd_) {
    flush();
    fd_.close(partial_path_);
    if (mode == FinishMode::kRenameToFinal) {
      rename_or_throw(partial_path_, final_path_);
      if (options_.mark_done) mark_segment_done(final_path_.filename().string());
    }
  }
  if (options_.sync) fsync_directory(options_.directory);
}

void WalSegmentWriter::open_segment(protocol::TimelineId timeline, protocol::SegmentNo segno) {
  const std::uint64_t segment_size = options_.segment_size;
  std::string name = protocol::wal_segment_file_name(timeline, segno, segment_size);
  fs::path final_path = options_.directory / name;
  fs::path partial_path = options_.directory / (name + std::string(kPartialSuffix));

  int raw_fd = ::open(partial_path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, options_.file_mode);
  if (raw_fd < 0) throw_io_error("open file", partial_path, errno);
  UniqueFd fd(raw_fd);

  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) throw_io_error("stat file", partial_path, errno);
  const auto existing_size = static_cast<std::uint64_t>(st.st_size);
  if (existing_size == segment_size) {
    // Left by an earlier run; it may not have been made durable before a crash.
    if (options_.sync && ::fsync(fd.get()) != 0) {
      throw_io_error("fsync file", partial_path, errno);
    }
  } else if (existing_size == 0) {
    if (::fchmod(fd.get(), options_.file_mode) != 0) {
      throw_io_error("set permissions on file", partial_path, errno);
    }
    // Real zeros, not fallocate: later fdatasync calls then never have to
    // update the file size, and readers see a full-size segment.
    for (std::uint64_t offset = 0; offset < segment_size; offset += kZeroFillChunk) {
      std::size_t n =
          static_cast<std::size_t>(std::min<std::uint64_t>(kZeroFillChunk, segment_size - offset));
      pwrite_all(fd.get(), ByteView(kZeros).first(n), static_cast<off_t>(offset), partial_path);
    }
    if (options_.sync) {
      if (::fsync(fd.get()) != 0) throw_io_error("fsync file", partial_path, errno);
      fsync_directory(options_.directory);
    }
  } else {
    throw Error(ErrorKind::kIo, "WAL segment file \"" + partial_path.string() + "\" has " +
                                    std::to_string(existing_size) + " bytes, should be 0 or " +
                                    std::to_string(segment_size));
  }

  fd_ = std::move(fd);
  timeline_ = timeline;
  segno_ = segno;
  partial_path_ = std::move(partial_path);
  final_path_ = std::move(final_path);
}

void WalSegmentWriter::complete_segment() {
  // The segment was zero-filled to full size, so fdatasync covers everything.
  if (options_.sync && ::fdatasync(fd_.get()) != 0) {
    throw_io_error("fdatasync file", partial_path_, errno);
  }
  fd_.close(partial_path_);
  rename_or_throw(partial_path_, final_path_);
  if (options_.sync) fsync_directory(options_.directory);
  if (options_.mark_done) mark_segment_done(final_path_.filename().string());
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
