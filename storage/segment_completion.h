// The one routine that turns a full WAL segment file into a final one, with
// its durability steps in order:
//   1. fdatasync the file (it was zero-filled to full size, so data is all)
//   2. check every page header (the server's bytes are untrusted: a segment
//      with a wrong header never gets a final name), reading the file back
//      unless the writer checked the bytes as they went out
//      (SegmentFile::page_problem)
//   3. close it (the close error is checked)
//   4. rename NAME.partial -> NAME
//   5. fsync the directory, so the new name survives a crash
//   6. archive_status/NAME.done (pg_wal of a clone: the standby must not
//      archive the segment again)
// Steps 1 and 5 are skipped when the caller makes everything durable later
// (a clone ends with one syncfs).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>

#include "protocol/wal_page.h"
#include "storage/segment_file.h"

namespace walstream::storage {

struct CompletionPolicy {
  std::filesystem::path directory;
  bool sync = true;
  bool mark_done = false;
  mode_t file_mode = 0600;
  // Page header rules of the server (max_timeline is set per file); nullopt
  // skips the check.
  std::optional<protocol::PageCheck> page_check;
  // Told how long each fdatasync of a segment file took (here and in the
  // WalSyncer's sync jobs), on the thread that synced. May be empty.
  std::function<void(std::chrono::nanoseconds)> on_fdatasync;
};

// fdatasync(file), timed for policy.on_fdatasync. Throws walstream::Error
// (kIo) naming the file.
void fdatasync_segment(const SegmentFile& file, const CompletionPolicy& policy);

// Throws walstream::Error (kIo) naming the file; a segment that fails the
// page check keeps its .partial name.
void complete_segment(SegmentFile& file, const CompletionPolicy& policy);

// Gives an incomplete segment its final name (the last segment of a clone,
// which the standby reads) without a .done marker: PostgreSQL marks only full
// segments as archived.
void finalize_incomplete_segment(SegmentFile& file, const CompletionPolicy& policy);

// Creates archive_status/NAME.done in `policy.directory` (the directory made
// with the mode matching the files if missing).
void mark_archived(const std::string& file_name, const CompletionPolicy& policy);

// Reads `file` back in bounded pieces and checks every page header; returns
// "" or what is wrong.
std::string check_segment_pages_on_disk(const SegmentFile& file, std::uint64_t segment_size,
                                        const protocol::PageCheck& check);

}  // namespace walstream::storage
