#include "tests/integration/s3_archive_checks.h"

#include <gtest/gtest.h>

#include <chrono>

#include "storage/archive_scan.h"
#include "storage/s3_client.h"
#include "tests/integration/wal_archive.h"

namespace walstream::it {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

EnvOverrides s3_receive_env(const RgwServer& gateway) {
  EnvOverrides result = gateway.aws_env();
  for (const auto& [name, value] : password_env()) result[name] = value;
  return result;
}

storage::S3ArchiveScan scan_bucket(const RgwServer& gateway, const protocol::S3Location& location) {
  storage::S3ClientOptions options;
  options.endpoint = gateway.endpoint();
  options.region = gateway.region();
  storage::S3Client client(options, {gateway.access_key_id(), gateway.secret_access_key(), ""});
  return storage::scan_s3_archive(client, location, kSegmentSize);
}

bool bucket_holds_through(const RgwServer& gateway, const protocol::S3Location& location,
                          std::uint64_t segno) {
  const storage::S3ArchiveScan bucket = scan_bucket(gateway, location);
  if (!storage::find_holes(bucket.contents, kSegmentSize).empty()) return false;
  for (const auto& segment : bucket.contents.segments) {
    if (segment.timeline == 1 && segment.segno == segno) return true;
  }
  return false;
}

std::vector<std::string> completed_in_spool(const fs::path& spool) {
  std::vector<std::string> names;
  for (const auto& file : list_archive(spool)) {
    if (file.kind == FileKind::kComplete || file.kind == FileKind::kCompressed) {
      names.push_back(file.name);
    }
  }
  return names;
}

std::unique_ptr<PgCluster> recover_from_bucket(std::string_view clone_name, const std::string& url,
                                               const RgwServer& gateway) {
  const fs::path backup = PgCluster::clone_data_dir(clone_name);
  append_file(backup / "postgresql.auto.conf",
              "restore_command = '" + TestEnv::walstream_binary().string() + " restore-wal " + url +
                  " %f %p'\nrecovery_target_action = 'promote'\n");
  write_file(backup / "recovery.signal", "");
  auto restored = PgCluster::for_clone(clone_name);
  restored->start(gateway.aws_env());
  std::string last;
  const bool promoted = restored->wait_for_value("SELECT pg_is_in_recovery()", "f", 120s, &last);
  EXPECT_TRUE(promoted) << last << "\n" << restored->log_tail(30);
  if (!promoted) return nullptr;
  return restored;
}

std::uint64_t commit_marker_row(PgCluster& primary) {
  primary.exec("INSERT INTO marker VALUES (1, 'last committed row')");
  const std::uint64_t last_commit = parse_lsn(flush_lsn(primary));
  primary.exec("SELECT pg_switch_wal()");
  return segno_of(last_commit);
}

int restored_files(const std::string& log) {
  int count = 0;
  for (const auto& line : non_empty_lines(log)) {
    if (line.find("restored log file \"") != std::string::npos) ++count;
  }
  return count;
}

}  // namespace walstream::it
