// Where `walstream bench` sends a base backup: every archive goes through the
// same steps as in a clone — server-compressed archives through
// storage::ArchiveDecompressor, then protocol::TarParser — and then either
// into a sink that only counts, or (--write-to) into
// storage::DataDirExtractor. Each step's time is measured as it runs, nested
// (see BackupInclusiveTimes); the manifest is counted and dropped.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "protocol/backup_archives.h"
#include "protocol/basebackup_stream.h"
#include "protocol/tar.h"
#include "storage/archive_decompressor.h"
#include "storage/data_dir_extractor.h"
#include "walreceiver/bench_report.h"

namespace walstream::walreceiver {

struct BenchBackupSinkOptions {
  protocol::TarParser::Trailer tar_trailer = protocol::TarParser::Trailer::kRequired;
  // Extract the main archive into this existing directory; nullopt discards
  // everything.
  std::optional<std::filesystem::path> extract_to;
  // With extract_to: where the archive of the tablespace at a server-side
  // location goes (created), and where pg_tblspc's links point.
  std::function<std::filesystem::path(const std::string&)> map_tablespace;
  storage::DataDirModes modes;
};

struct BenchBackupCounts {
  std::uint64_t archives = 0;
  std::uint64_t files = 0;
  std::uint64_t archive_bytes = 0;  // as received (compressed or not)
  std::uint64_t tar_bytes = 0;      // as parsed
  std::uint64_t manifest_bytes = 0;
  std::uint64_t manifest_chunks = 0;  // manifest_data calls
  std::uint64_t written_bytes = 0;    // file contents extracted
  bool compressed = false;            // some archive was server-compressed
};

class BenchBackupSink : public protocol::BackupStreamHandler {
 public:
  using Clock = std::chrono::steady_clock;

  explicit BenchBackupSink(BenchBackupSinkOptions options);
  ~BenchBackupSink() override;

  // The backup's tablespace list, before the first archive (see
  // protocol::BackupArchiveCatalog): what the stream may hold.
  void expect_tablespaces(const std::vector<protocol::TablespaceInfo>& tablespaces);

  void archive_begin(std::string_view archive_name, std::string_view tablespace_path) override;
  void archive_data(ByteView data) override;
  void archive_end() override;
  void manifest_begin() override;
  void manifest_data(ByteView data) override;
  void manifest_end() override;
  void progress(std::uint64_t bytes_done) override;

  const BenchBackupCounts& counts() const { return counts_; }
  const BackupInclusiveTimes& times() const { return times_; }
  // When the last call into this handler returned (the end of the transfer).
  std::optional<Clock::time_point> last_call_end() const { return last_call_end_; }

 private:
  class MemberSink;
  class HandlerCall;
  void feed_tar(ByteView plain);

  BenchBackupSinkOptions options_;
  std::optional<protocol::BackupArchiveCatalog> catalog_;
  BenchBackupCounts counts_;
  BackupInclusiveTimes times_;
  std::optional<Clock::time_point> last_call_end_;
  std::unique_ptr<storage::DataDirExtractor> extractor_;
  std::unique_ptr<MemberSink> members_;
  std::unique_ptr<protocol::TarParser> parser_;
  std::unique_ptr<storage::ArchiveDecompressor> decompressor_;
};

}  // namespace walstream::walreceiver
