// Receives a whole base backup (every archive plus the manifest) and lays it
// out as a plain data directory: the main archive into the data directory,
// each tablespace archive into its mapped location, the manifest into
// backup_manifest.tmp. Works for both stream formats: the PostgreSQL 15+
// decoder calls it, and so does the per-tablespace CopyOut driver for older
// servers. commit_backup_manifest gives the manifest its final name once the
// whole backup is complete and durable, as pg_basebackup does: a directory
// holding backup_manifest is a finished backup.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "protocol/backup_archives.h"
#include "protocol/basebackup_stream.h"
#include "protocol/replication_commands.h"
#include "protocol/tar.h"
#include "storage/archive_decompressor.h"
#include "storage/data_dir_extractor.h"
#include "storage/file_util.h"

namespace walstream::storage {

// PostgreSQL's manifest takes a few hundred bytes per file: a manifest beyond
// this is not one (and would fill the disk).
inline constexpr std::uint64_t kMaxManifestBytes = std::uint64_t{1} << 30;

struct BackupExtractorOptions {
  std::filesystem::path data_dir;  // must exist and be empty
  DataDirModes modes;
  protocol::TarParser::Trailer tar_trailer = protocol::TarParser::Trailer::kRequired;
  // Maps a tablespace's server-side location to its location on this host
  // (identity unless -T says otherwise). Tablespace directories must be
  // missing or empty.
  std::function<std::string(const std::string&)> map_tablespace;
  // Writes file contents on background threads (nullptr: inline); must
  // outlive the extractor, and be finish()ed by the caller.
  FileWritePool* write_pool = nullptr;
  // A longer manifest fails the backup.
  std::uint64_t max_manifest_bytes = kMaxManifestBytes;
};

class BackupExtractor : public protocol::BackupStreamHandler {
 public:
  explicit BackupExtractor(BackupExtractorOptions options);

  // The backup's tablespace list (its header rows), before the first
  // archive: what archives and tablespace links the stream may hold (see
  // protocol::BackupArchiveCatalog). Throws ProtocolError for a bad list.
  void expect_tablespaces(const std::vector<protocol::TablespaceInfo>& tablespaces);

  void archive_begin(std::string_view archive_name, std::string_view tablespace_path) override;
  void archive_data(ByteView data) override;
  void archive_end() override;
  void manifest_begin() override;
  void manifest_data(ByteView data) override;
  void manifest_end() override;
  void progress(std::uint64_t bytes_done) override;

  std::uint64_t bytes_done() const { return bytes_done_; }
  // Archive bytes as the tar parser saw them (decompressed): what the
  // server's size estimate counts, whatever the compression.
  std::uint64_t plain_bytes() const { return plain_bytes_; }
  bool manifest_received() const { return manifest_received_; }

 private:
  BackupExtractorOptions options_;
  std::optional<protocol::BackupArchiveCatalog> catalog_;
  std::unique_ptr<DataDirExtractor> extractor_;
  std::unique_ptr<protocol::TarParser> parser_;
  std::unique_ptr<ArchiveDecompressor> decompressor_;  // server-compressed archives only
  UniqueFd manifest_file_;
  std::uint64_t bytes_done_ = 0;
  std::uint64_t archive_bytes_ = 0;
  std::uint64_t manifest_bytes_ = 0;
  std::uint64_t plain_bytes_ = 0;
  bool manifest_received_ = false;
};

// Renames backup_manifest.tmp in `data_dir` to backup_manifest: the marker of
// a complete backup, so it is the clone's very last step. `durable`: fsync
// the file, rename, fsync the directory; otherwise (-N) just rename. Returns
// false, changing nothing, when there is no manifest (servers before 13).
bool commit_backup_manifest(const std::filesystem::path& data_dir, bool durable);

}  // namespace walstream::storage
