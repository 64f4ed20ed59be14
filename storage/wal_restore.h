// `walstream restore-wal ARCHIVE %f %p`: the restore_command side of the
// archive. Serves NAME, NAME.zst (decompressed) or a .history file.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

namespace walstream::storage {

enum class RestoreOutcome { kRestored, kNotFound };

// A restore writes destination + this suffix, then renames it: the server
// never sees a partial file under the name it asked for.
inline constexpr std::string_view kRestoreTemporarySuffix = ".walstream-tmp";

// Copies (or decompresses) archive/file_name to `destination`. kNotFound when
// the archive holds neither form; throws walstream::Error (kIo) for anything
// else (corrupt .zst, wrong size, unwritable destination). `file_name` must
// be a segment or timeline history name, the only files the server asks for;
// anything else throws walstream::Error (kUsage). An archive given as
// s3://BUCKET/PREFIX is read from S3 (storage/s3_wal_restore.h), with the
// endpoint, region and credentials of the AWS_* environment.
RestoreOutcome restore_wal_file(const std::filesystem::path& archive, const std::string& file_name,
                                const std::filesystem::path& destination);

}  // namespace walstream::storage
