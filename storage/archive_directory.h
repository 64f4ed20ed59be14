// The directory of a WAL archive (`walstream receive -D`): made ready before
// streaming, and tidied of what an interrupted run left behind.
#pragma once

#include <filesystem>

namespace walstream::storage {

// Creates the directory (0700) if it is missing and checks that it can be
// written. Throws walstream::Error (kIo) naming the directory and the fix.
void ensure_archive_directory(const std::filesystem::path& dir);

// Removes NAME.zst.tmp files: compressions a crash interrupted (their
// segments are still there, plain, and are compressed again). Returns how
// many were removed.
int remove_interrupted_compressions(const std::filesystem::path& dir);

}  // namespace walstream::storage
