#include "storage/target_directory.h"

#include <sys/stat.h>

#include <cerrno>
#include <system_error>

#include "protocol/error.h"
#include "storage/file_util.h"

namespace walstream::storage {

namespace fs = std::filesystem;

TargetDirectory::TargetDirectory(fs::path path, std::string hint) : path_(std::move(path)) {
  std::error_code ec;
  auto status = fs::symlink_status(path_, ec);
  if (ec && ec != std::errc::no_such_file_or_directory) {
    throw_io_error("access directory", path_, ec.value());
  }
  existed_ = fs::exists(status);
  // The user named the directory: one that cannot be used is a usage error,
  // like a bad flag (exit 2), not a failure of the disk.
  if (existed_ && !fs::is_directory(fs::status(path_, ec))) {
    throw Error(ErrorKind::kUsage, "\"" + path_.string() + "\" exists and is not a directory",
                hint);
  }
  if (!is_missing_or_empty_directory(path_)) {
    throw Error(ErrorKind::kUsage, "directory \"" + path_.string() + "\" exists and is not empty",
                hint + "; nothing was changed");
  }
}

void TargetDirectory::create(mode_t mode) {
  if (existed_) {
    touched_ = true;
    if (::chmod(path_.c_str(), mode) != 0) {
      throw_io_error("change permissions of directory", path_, errno);
    }
    return;
  }
  // Create missing parents one by one, remembering the highest one we made.
  fs::path absolute = fs::absolute(path_);
  fs::path partial;
  for (const auto& part : absolute) {
    partial /= part;
    if (fs::exists(partial)) continue;
    bool is_target = partial == absolute;
    if (::mkdir(partial.c_str(), is_target ? mode : 0755) != 0 && errno != EEXIST) {
      throw_io_error("create directory", partial, errno);
    }
    if (created_top_.empty()) created_top_ = partial;
  }
  // mkdir applies the umask; the server's data_directory_mode is what counts.
  if (::chmod(absolute.c_str(), mode) != 0) {
    throw_io_error("change permissions of directory", absolute, errno);
  }
}

void TargetDirectory::remove_created() noexcept {
  std::error_code ec;
  if (!created_top_.empty()) {
    fs::remove_all(created_top_, ec);
  } else if (existed_ && touched_) {
    for (const auto& entry : fs::directory_iterator(path_, ec)) fs::remove_all(entry.path(), ec);
  }
}

}  // namespace walstream::storage
