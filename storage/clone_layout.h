// The directories a clone creates in its target before the first file
// arrives: pg_wal (or, with --waldir, a symlink to a directory elsewhere) and
// pg_wal/archive_status, with the server's data_directory_mode.
#pragma once

#include <sys/types.h>

#include <filesystem>

#include "storage/target_directory.h"

namespace walstream::storage {

// Creates them under `data_dir`; `waldir` (may be null) is created and linked
// as pg_wal. Returns the pg_wal path. Throws walstream::Error (kIo).
std::filesystem::path create_wal_directories(const std::filesystem::path& data_dir,
                                             TargetDirectory* waldir, mode_t mode);

}  // namespace walstream::storage
