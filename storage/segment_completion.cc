#include "storage/segment_completion.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <vector>

#include "protocol/error.h"
#include "protocol/wal_file_names.h"
#include "storage/file_util.h"

namespace walstream::storage {

namespace {

// archive_status gets the directory mode matching the files: r -> r+x.
mode_t directory_mode_for(mode_t file_mode) { return file_mode | ((file_mode & 0444) >> 2); }

// The file was zero-filled to full size when created, so its data is all
// there is to sync.
void sync_data(SegmentFile& file, const CompletionPolicy& policy) {
  if (policy.sync) fdatasync_segment(file, policy);
}

// close, rename NAME.partial -> NAME, fsync the directory. Another holder of
// the handle may still exist; the descriptor is closed here, once, with its
// error checked.
void give_final_name(SegmentFile& file, const CompletionPolicy& policy) {
  file.fd.close(file.partial_path);
  if (::rename(file.partial_path.c_str(), file.final_path.c_str()) != 0) {
    throw_io_error("rename file \"" + file.partial_path.string() + "\" to", file.final_path, errno);
  }
  if (policy.sync) fsync_directory(policy.directory);
  file.entry_durable = true;
}

}  // namespace

void fdatasync_segment(const SegmentFile& file, const CompletionPolicy& policy) {
  const auto started = std::chrono::steady_clock::now();
  if (::fdatasync(file.fd.get()) != 0) throw_io_error("fdatasync file", file.partial_path, errno);
  if (policy.on_fdatasync) policy.on_fdatasync(std::chrono::steady_clock::now() - started);
}

std::string check_segment_pages_on_disk(const SegmentFile& file, std::uint64_t segment_size,
                                        const protocol::PageCheck& check) {
  // Bounded memory whatever the segment size (up to 1 GB).
  constexpr std::size_t kChunk = 1024 * 1024;
  std::vector<std::byte> chunk(
      static_cast<std::size_t>(std::min<std::uint64_t>(kChunk, segment_size)));
  protocol::SegmentPageChecker checker(file.segno, check);
  for (std::uint64_t offset = 0; offset < segment_size; offset += chunk.size()) {
    std::size_t have = 0;
    while (have < chunk.size()) {
      const ssize_t n = ::pread(file.fd.get(), chunk.data() + have, chunk.size() - have,
                                static_cast<off_t>(offset + have));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) throw_io_error("read file", file.partial_path, errno);
      if (n == 0) return "it ends after " + std::to_string(offset + have) + " bytes";
      have += static_cast<std::size_t>(n);
    }
    std::string problem = checker.feed(chunk);
    if (!problem.empty()) return problem;
  }
  return {};
}

void complete_segment(SegmentFile& file, const CompletionPolicy& policy) {
  sync_data(file, policy);
  if (policy.page_check) {
    // Pages of a segment carry its own timeline or (before the switch point
    // in a switch segment) older ones.
    protocol::PageCheck check = *policy.page_check;
    check.max_timeline = file.timeline;
    std::string problem = file.page_problem
                              ? *file.page_problem
                              : check_segment_pages_on_disk(file, check.segment_size, check);
    // The bytes checked are the server's, as received: a bad page is the
    // server's (a protocol error, exit 4), not the disk's.
    if (!problem.empty()) {
      throw Error(
          ErrorKind::kProtocol,
          "completed WAL segment \"" + file.partial_path.string() + "\" is not valid: " + problem,
          "the file keeps its .partial name; check the server and the archive directory");
    }
  }
  give_final_name(file, policy);
  if (policy.mark_done) mark_archived(file.name, policy);
}

void finalize_incomplete_segment(SegmentFile& file, const CompletionPolicy& policy) {
  sync_data(file, policy);
  give_final_name(file, policy);
}

void mark_archived(const std::string& file_name, const CompletionPolicy& policy) {
  const std::filesystem::path status_dir = policy.directory / protocol::kArchiveStatusDirectory;
  const mode_t dir_mode = directory_mode_for(policy.file_mode);
  if (::mkdir(status_dir.c_str(), dir_mode) == 0) {
    if (::chmod(status_dir.c_str(), dir_mode) != 0) {
      throw_io_error("set permissions on directory", status_dir, errno);
    }
    if (policy.sync) fsync_directory(policy.directory);
  } else if (errno != EEXIST) {
    throw_io_error("create directory", status_dir, errno);
  }
  write_file(policy.directory / protocol::archive_done_marker_name(file_name), "",
             policy.file_mode);
  if (policy.sync) fsync_directory(status_dir);
}

}  // namespace walstream::storage
