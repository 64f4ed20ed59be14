// Extracts one tar archive of a base backup into a directory, as a plain data
// directory: directories, files and tablespace symlinks, with the modes the
// server's data_directory_mode implies. The archive is untrusted: no member
// lands outside the directory, and the only symbolic links it may create are
// pg_tblspc/<oid>, to the location the backup's tablespace list named for
// <oid> (as -T maps it). File contents go either through a
// FileWritePool (written on its threads, with direct I/O) or are written
// inline, straight from the spans the tar parser hands over.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <unordered_set>
#include <vector>

#include "protocol/tar.h"
#include "storage/file_util.h"
#include "storage/file_write_pool.h"

namespace walstream::storage {

struct DataDirModes {
  mode_t directory = 0700;
  mode_t file = 0600;
  // From SHOW data_directory_mode ("0700" or "0750"); group access adds g+rx / g+r.
  static DataDirModes from_data_directory_mode(mode_t data_directory_mode);
};

// Maps a tablespace's server-side location to the path its link points to
// in the new data directory (-T).
using LinkTargetMapper = std::function<std::string(const std::string&)>;

// The symbolic links an archive may hold: pg_tblspc/<oid> -> the server-side
// location of tablespace <oid> (BackupArchiveCatalog::tablespace_locations
// for the main archive; none for a tablespace's own archive).
struct TablespaceLinks {
  std::map<std::uint32_t, std::string> locations;
  LinkTargetMapper map;  // nullptr: links point at the server-side location
};

class DataDirExtractor : public protocol::TarMemberSink {
 public:
  // `root` must exist. Member paths are checked with is_safe_relative_path.
  // `pool`: where file contents are written (nullptr: inline, on this
  // thread); it must outlive the extractor.
  DataDirExtractor(std::filesystem::path root, DataDirModes modes, TablespaceLinks links,
                   FileWritePool* pool = nullptr);

  void member_begin(const protocol::TarMember& member) override;
  void member_data(ByteView data) override;
  void member_end() override;
  void archive_end() override;

  std::uint64_t bytes_written() const { return bytes_written_; }

 private:
  std::filesystem::path root_;
  DataDirModes modes_;
  TablespaceLinks links_;
  FileWritePool* pool_;
  UniqueFd current_file_;            // inline writes
  PooledFileStream current_stream_;  // writes through pool_
  std::filesystem::path current_path_;
  std::uint64_t bytes_written_ = 0;
  // Symlinks this extractor created (relative to root_); no later member may
  // be placed below or at one, so a hostile archive cannot write outside root_.
  std::vector<std::filesystem::path> created_links_;
  // Directories (relative to root_, "" for root_) known to exist, so files
  // created on the pool's threads find their parent.
  std::unordered_set<std::string> known_directories_{""};
};

}  // namespace walstream::storage
