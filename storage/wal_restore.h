// `walstream restore-wal ARCHIVE %f %p`: the restore_command side of the
// archive. Serves NAME, NAME.zst (decompressed) or a .history file.
#pragma once

#include <filesystem>
#include <string>

namespace walstream::storage {

enum class RestoreOutcome { kRestored, kNotFound };

// Copies (or decompresses) archive/file_name to `destination`. kNotFound when
// the archive holds neither form; throws walstream::Error (kIo) for anything
// else (corrupt .zst, wrong size, unwritable destination). `file_name` must
// be a segment or timeline history name, the only files the server asks for;
// anything else throws walstream::Error (kUsage).
RestoreOutcome restore_wal_file(const std::filesystem::path& archive, const std::string& file_name,
                                const std::filesystem::path& destination);

}  // namespace walstream::storage
