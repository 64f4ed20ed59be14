// What a WAL archive in an S3 bucket holds, in the form a directory scan
// (storage/archive_scan.h) gives, so that a restart can merge the bucket with
// the local spool and compute holes and the streaming start with the same
// functions (find_holes, streaming_start).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "protocol/s3_location.h"
#include "storage/archive_scan.h"
#include "storage/s3_client.h"

namespace walstream::storage {

struct S3ArchiveScan {
  // Segments (kComplete for NAME, kCompressed for NAME.zst; never kPartial),
  // sorted as scan_archive sorts them, and history files. `system_id` is read
  // from the first page of the newest segment; nullopt without segments.
  ArchiveContents contents;
  // Keys under the prefix that are no archive file (other files, "sub-
  // directories", segment names impossible for this segment size): left
  // alone, for the caller to mention at debug level.
  std::vector<std::string> foreign_keys;
};

// Lists `location` page after page. Throws walstream::Error from the client
// (a missing bucket, no access, an unreachable server) and (kIo) for an
// archive file that cannot be a segment: a plain segment of the wrong size,
// or a newest segment whose first page is not a valid long page header for
// its segment number.
S3ArchiveScan scan_s3_archive(S3Client& client, const protocol::S3Location& location,
                              std::uint64_t segment_size);

// The bucket's archive and the local spool's as one, for find_holes and
// streaming_start: every segment and history file of either (a file in both
// appears once), sorted as scan_archive sorts. Throws walstream::Error
// (kUsage) when both know a system identifier and they differ.
ArchiveContents merge_archive_contents(const ArchiveContents& local, const ArchiveContents& remote);

}  // namespace walstream::storage
