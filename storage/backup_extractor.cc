#include "storage/backup_extractor.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <utility>

#include "protocol/error.h"
#include "protocol/quote_untrusted.h"

namespace walstream::storage {

namespace {

namespace fs = std::filesystem;

constexpr std::string_view kManifestName = "backup_manifest";
constexpr std::string_view kManifestTempName = "backup_manifest.tmp";

// mkdir -p: missing parents and the directory itself get `mode` (exactly).
void create_directories(const fs::path& dir, mode_t mode) {
  fs::path partial;
  for (const fs::path& component : dir) {
    partial /= component;
    if (::mkdir(partial.c_str(), mode) == 0) {
      if (::chmod(partial.c_str(), mode) != 0) {
        throw_io_error("set permissions on directory", partial, errno);
      }
      continue;
    }
    const int mkdir_error = errno;
    struct stat st {};
    if (mkdir_error != EEXIST || ::stat(partial.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
      throw_io_error("create directory", partial, mkdir_error);
    }
  }
}

}  // namespace

BackupExtractor::BackupExtractor(BackupExtractorOptions options) : options_(std::move(options)) {}

void BackupExtractor::expect_tablespaces(const std::vector<protocol::TablespaceInfo>& tablespaces) {
  catalog_.emplace(tablespaces);
}

void BackupExtractor::archive_begin(std::string_view archive_name,
                                    std::string_view tablespace_path) {
  if (parser_) {
    throw ProtocolError("archive " + protocol::quote_untrusted(archive_name) +
                        " began inside another");
  }
  if (!catalog_) throw Error(ErrorKind::kInternal, "archive began before the tablespace list");
  if (manifest_file_ || manifest_received_) {
    throw ProtocolError("archive " + protocol::quote_untrusted(archive_name) +
                        " began after the backup manifest");
  }
  const std::optional<std::uint32_t> oid = catalog_->begin_archive(archive_name, tablespace_path);

  fs::path target;
  TablespaceLinks links;
  if (!oid) {
    target = options_.data_dir;
    // Tablespace links point at server-side locations; mapped the way the
    // tablespace archives themselves are.
    links.locations = catalog_->tablespace_locations();
    if (options_.map_tablespace) links.map = options_.map_tablespace;
  } else {
    const std::string& location = *catalog_->location_of(*oid);
    target = options_.map_tablespace ? options_.map_tablespace(location) : location;
    if (!is_missing_or_empty_directory(target)) {
      throw Error(ErrorKind::kUsage,
                  "tablespace directory \"" + target.string() + "\" exists and is not empty",
                  "use -T OLDDIR=NEWDIR to relocate the tablespace, or empty the directory");
    }
    create_directories(target, options_.modes.directory);
  }
  extractor_ = std::make_unique<DataDirExtractor>(std::move(target), options_.modes,
                                                  std::move(links), options_.write_pool);
  parser_ = std::make_unique<protocol::TarParser>(*extractor_, options_.tar_trailer);
  decompressor_ = make_archive_decompressor(archive_name);
  archive_bytes_ = 0;
}

void BackupExtractor::archive_data(ByteView data) {
  if (!parser_) throw ProtocolError("archive data received outside an archive");
  archive_bytes_ += data.size();
  if (decompressor_) {
    decompressor_->feed(data, [this](ByteView plain) {
      plain_bytes_ += plain.size();
      parser_->feed(plain);
    });
  } else {
    plain_bytes_ += data.size();
    parser_->feed(data);
  }
}

void BackupExtractor::archive_end() {
  if (!parser_) throw ProtocolError("archive end received outside an archive");
  if (decompressor_) {
    decompressor_->finish([this](ByteView plain) {
      plain_bytes_ += plain.size();
      parser_->feed(plain);
    });
    decompressor_.reset();
  }
  parser_->finish();
  parser_.reset();
  extractor_.reset();
}

void BackupExtractor::manifest_begin() {
  if (manifest_file_ || manifest_received_) throw ProtocolError("more than one backup manifest");
  fs::path path = options_.data_dir / kManifestTempName;
  // A new file, never through a link: the main archive cannot have placed
  // one here, but the name is ours and nothing else may hold it.
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                  options_.modes.file);
  if (fd < 0) throw_io_error("create file", path, errno);
  manifest_file_ = UniqueFd(fd);
  if (::fchmod(manifest_file_.get(), options_.modes.file) != 0) {
    throw_io_error("set permissions on file", path, errno);
  }
}

void BackupExtractor::manifest_data(ByteView data) {
  if (!manifest_file_) throw ProtocolError("manifest data received outside the manifest");
  manifest_bytes_ += data.size();
  if (manifest_bytes_ > options_.max_manifest_bytes) {
    throw Error(ErrorKind::kProtocol,
                "the backup manifest is larger than " +
                    std::to_string(options_.max_manifest_bytes) + " bytes",
                "that is no manifest a server writes for a data directory; check the server");
  }
  write_all(manifest_file_.get(), data, options_.data_dir / kManifestTempName);
}

void BackupExtractor::manifest_end() {
  if (!manifest_file_) throw ProtocolError("manifest end received outside the manifest");
  fs::path temp = options_.data_dir / kManifestTempName;
  // It keeps the temporary name until commit_backup_manifest: the final name
  // says the backup is complete.
  manifest_file_.close(temp);
  manifest_received_ = true;
}

void BackupExtractor::progress(std::uint64_t bytes_done) { bytes_done_ = bytes_done; }

bool commit_backup_manifest(const fs::path& data_dir, bool durable) {
  const fs::path temp = data_dir / kManifestTempName;
  const fs::path final_path = data_dir / kManifestName;
  struct stat st {};
  if (::lstat(temp.c_str(), &st) != 0) {
    if (errno == ENOENT) return false;
    throw_io_error("stat", temp, errno);
  }
  if (durable) {
    durable_rename(temp, final_path);
  } else if (::rename(temp.c_str(), final_path.c_str()) != 0) {
    throw_io_error("rename file \"" + temp.string() + "\" to", final_path, errno);
  }
  return true;
}

}  // namespace walstream::storage
