// The -D directory of a clone: it must be missing or empty, and on failure
// everything the command put there is removed again, but nothing that was
// there before (pg_basebackup's behaviour without --no-clean).
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <string>

namespace walstream::storage {

class TargetDirectory {
 public:
  // Throws walstream::Error (kUsage) if `path` exists and is not an empty
  // directory; `hint` says how to choose another one (which flag).
  explicit TargetDirectory(std::filesystem::path path,
                           std::string hint = "choose a new or empty directory with -D");

  // Creates the directory (and missing parents) with `mode`, or applies `mode`
  // to the existing empty one.
  void create(mode_t mode);
  // Removes what create() and later writes added; safe to call at any time.
  void remove_created() noexcept;

  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
  std::filesystem::path created_top_;  // highest directory we created, if any
  bool existed_ = false;
  bool touched_ = false;
};

}  // namespace walstream::storage
