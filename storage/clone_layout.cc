#include "storage/clone_layout.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

#include "protocol/wal_file_names.h"
#include "storage/file_util.h"

namespace walstream::storage {

namespace fs = std::filesystem;

fs::path create_wal_directories(const fs::path& data_dir, TargetDirectory* waldir, mode_t mode) {
  const fs::path wal_dir = data_dir / "pg_wal";
  std::vector<fs::path> dirs;
  if (waldir != nullptr) {
    waldir->create(mode);
    if (::symlink(waldir->path().c_str(), wal_dir.c_str()) != 0) {
      throw_io_error("create symbolic link", wal_dir, errno);
    }
  } else {
    dirs.push_back(wal_dir);
  }
  dirs.push_back(wal_dir / protocol::kArchiveStatusDirectory);
  for (const auto& dir : dirs) {
    if (::mkdir(dir.c_str(), mode) != 0) throw_io_error("create directory", dir, errno);
    // mkdir applies the umask; the server's data_directory_mode is what counts.
    if (::chmod(dir.c_str(), mode) != 0)
      throw_io_error("change permissions of directory", dir, errno);
  }
  return wal_dir;
}

}  // namespace walstream::storage
