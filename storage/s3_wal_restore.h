// `walstream restore-wal s3://BUCKET/PREFIX %f %p`: the restore_command side
// of an archive in S3. Serves PREFIX/NAME.zst (decompressed as it streams in)
// or PREFIX/NAME, written under a temporary name and renamed into place, as
// the directory restore does (storage/wal_restore.h).
#pragma once

#include <filesystem>
#include <string>

#include "protocol/s3_location.h"
#include "storage/s3_client.h"
#include "storage/wal_restore.h"

namespace walstream::storage {

// kNotFound when the prefix holds neither form of `file_name` (already
// checked to be a segment or history name). Throws walstream::Error for
// anything else: the server unreachable (kConnection), an S3 error such as a
// missing bucket (kServer), corrupt data or a segment of an impossible size
// (kIo), an unwritable destination (kIo). Nothing is left at `destination`
// unless it succeeds.
RestoreOutcome restore_wal_file_from_s3(S3Client& client, const protocol::S3Location& location,
                                        const std::string& file_name,
                                        const std::filesystem::path& destination);

}  // namespace walstream::storage
