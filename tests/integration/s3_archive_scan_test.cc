// storage::scan_s3_archive against a real gateway: an archive received from a
// real server and uploaded with S3ArchiveUploader reads back as the directory
// scan of the same archive; holes and foreign keys are seen as such.
#include "storage/s3_archive_scan.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "protocol/error.h"
#include "protocol/s3_location.h"
#include "storage/s3_archive_uploader.h"
#include "tests/integration/rgw_server.h"
#include "tests/integration/test_env.h"
#include "tests/integration/wal_archive.h"

namespace walstream::it {
namespace {

namespace fs = std::filesystem;
using storage::ArchiveContents;
using storage::ArchivedSegment;
using testing::ElementsAre;
using testing::HasSubstr;

ByteView bytes_of(const std::string& text) {
  return ByteView(reinterpret_cast<const std::byte*>(text.data()), text.size());
}

std::vector<std::string> names_of(const ArchiveContents& contents) {
  std::vector<std::string> names;
  for (const ArchivedSegment& segment : contents.segments) names.push_back(segment.file_name);
  return names;
}

class S3ArchiveScanTest : public RgwTest {
 protected:
  storage::S3ClientOptions client_options() const {
    storage::S3ClientOptions options;
    options.endpoint = server().endpoint();
    options.region = server().region();
    options.list_page_size = 3;  // several pages from a small archive
    return options;
  }
  storage::S3Credentials credentials() const {
    return {server().access_key_id(), server().secret_access_key(), ""};
  }
  storage::S3Client client() const { return storage::S3Client(client_options(), credentials()); }

  // Uploads every uploadable file of `archive` (a copy: the uploader empties
  // its spool) under `location`; waits until all are confirmed.
  void upload_archive(const fs::path& archive, const protocol::S3Location& location) {
    const fs::path spool = TestEnv::make_dir("s3_scan_spool");
    std::vector<std::string> names;
    for (const auto& entry : fs::directory_iterator(archive)) {
      const std::string name = entry.path().filename().string();
      if (!protocol::s3_archive_key(location, name)) continue;
      fs::copy_file(entry.path(), spool / name);
      names.push_back(name);
    }
    std::mutex mutex;
    std::size_t confirmed = 0;
    bool failed = false;
    storage::S3ArchiveUploaderOptions options;
    options.client = client_options();
    options.credentials = credentials();
    options.location = location;
    options.spool = spool;
    storage::S3ArchiveUploader uploader(
        options,
        [&](const std::string&) {
          std::lock_guard lock(mutex);
          ++confirmed;
        },
        [&](std::exception_ptr) {
          std::lock_guard lock(mutex);
          failed = true;
        });
    for (const auto& name : names) uploader.enqueue(name);
    ASSERT_TRUE(wait_until([&] {
      std::lock_guard lock(mutex);
      return failed || confirmed == names.size();
    }));
    std::lock_guard lock(mutex);
    ASSERT_FALSE(failed);
  }
};

TEST_F(S3ArchiveScanTest, AnUploadedArchiveScansAsItsDirectory) {
  auto primary = start_primary("s3_scan_primary");
  const fs::path archive = TestEnv::unique_path("s3_scan_archive");
  auto receiver = start_walstream(receive_args(archive, *primary, {"--compress=zstd", "-s", "1"}),
                                  password_env());
  ASSERT_TRUE(wait_until([&] {
    return !receiver->running() ||
           primary->query_value("SELECT count(*) FROM pg_stat_replication") == "1";
  })) << receiver->wait(10s).describe();
  primary->exec("CREATE TABLE scan_rows (id int, note text)");
  for (int batch = 0; batch < 3; ++batch) {
    primary->exec(
        "INSERT INTO scan_rows SELECT g, repeat('x', 200) FROM generate_series(1, 4000) g");
    primary->exec("SELECT pg_switch_wal()");
  }
  primary->exec("INSERT INTO scan_rows VALUES (0, 'last')");
  const std::uint64_t last = parse_lsn(flush_lsn(*primary));
  const std::string last_name = segment_name(1, segno_of(last));
  primary->exec("SELECT pg_switch_wal()");
  ASSERT_TRUE(wait_until([&] {
                return fs::exists(archive / (last_name + ".zst")) || !receiver->running();
              }) &&
              receiver->running())
      << describe_archive(archive) << receiver->stderr_so_far();
  const CommandResult received = stop_receiver(*receiver);
  EXPECT_EQ(received.exit_code, 0) << received.describe();
  const std::string system_id =
      primary->query_value("SELECT system_identifier FROM pg_control_system()");
  primary->stop();

  const protocol::S3Location location{bucket(), unique_prefix() + "db1/"};
  ASSERT_NO_FATAL_FAILURE(upload_archive(archive, location));
  storage::S3Client s3 = client();
  // Foreign keys under the prefix, and one beside it, are left alone.
  for (const std::string foreign : {"README", "sub/000000010000000000000001", "backup_label",
                                    "000000010000000000000001.partial"}) {
    ASSERT_EQ(s3.put_object(bucket(), location.prefix + foreign, bytes_of("not WAL")),
              storage::S3PutOutcome::kCreated);
  }
  ASSERT_EQ(s3.put_object(bucket(), unique_prefix() + "db10/000000010000000000000001",
                          bytes_of("another prefix")),
            storage::S3PutOutcome::kCreated);

  ArchiveContents directory = storage::scan_archive(archive, kSegmentSize);
  std::erase_if(directory.segments, [](const ArchivedSegment& segment) {
    return segment.state == storage::SegmentState::kPartial;
  });
  ASSERT_GE(directory.segments.size(), 3u) << describe_archive(archive);

  const storage::S3ArchiveScan scan = storage::scan_s3_archive(s3, location, kSegmentSize);
  EXPECT_EQ(names_of(scan.contents), names_of(directory));
  for (std::size_t i = 0; i < std::min(scan.contents.segments.size(), directory.segments.size());
       ++i) {
    EXPECT_EQ(scan.contents.segments[i].timeline, directory.segments[i].timeline);
    EXPECT_EQ(scan.contents.segments[i].segno, directory.segments[i].segno);
    EXPECT_EQ(scan.contents.segments[i].state, directory.segments[i].state);
  }
  EXPECT_EQ(scan.contents.history_files, directory.history_files);
  ASSERT_TRUE(scan.contents.system_id.has_value());
  EXPECT_EQ(scan.contents.system_id, directory.system_id);
  EXPECT_EQ(std::to_string(*scan.contents.system_id), system_id);
  std::vector<std::string> foreign = scan.foreign_keys;
  std::sort(foreign.begin(), foreign.end());
  EXPECT_THAT(foreign, ElementsAre(location.prefix + "000000010000000000000001.partial",
                                   location.prefix + "README", location.prefix + "backup_label",
                                   location.prefix + "sub/000000010000000000000001"));
  EXPECT_TRUE(storage::find_holes(scan.contents, kSegmentSize).empty());
  const auto start = storage::streaming_start(scan.contents, kSegmentSize);
  const auto directory_start = storage::streaming_start(directory, kSegmentSize);
  ASSERT_TRUE(start && directory_start);
  EXPECT_EQ(start->lsn, directory_start->lsn);
  EXPECT_EQ(start->timeline, directory_start->timeline);

  // A segment missing in the middle is a hole, found by the directory's rule.
  const ArchivedSegment& middle = scan.contents.segments[scan.contents.segments.size() / 2];
  s3.delete_object(bucket(), location.prefix + middle.file_name);
  const storage::S3ArchiveScan holed = storage::scan_s3_archive(s3, location, kSegmentSize);
  EXPECT_THAT(storage::find_holes(holed.contents, kSegmentSize),
              ElementsAre(segment_name(middle.timeline, middle.segno)));
  // ... unless the local spool still has it.
  const ArchiveContents merged = storage::merge_archive_contents(directory, holed.contents);
  EXPECT_TRUE(storage::find_holes(merged, kSegmentSize).empty());
  EXPECT_EQ(names_of(merged), names_of(directory));

  // The newest segment stored plain rather than compressed: its first page
  // is read as it is.
  const ArchivedSegment& newest = scan.contents.segments.back();
  ASSERT_EQ(newest.state, storage::SegmentState::kCompressed);
  const CommandResult plain =
      run_command({"zstd", "-d", "-q", "-c", (archive / newest.file_name).string()});
  ASSERT_EQ(plain.exit_code, 0) << plain.describe().substr(0, 2000);
  const std::string plain_name = segment_name(newest.timeline, newest.segno);
  s3.delete_object(bucket(), location.prefix + newest.file_name);
  ASSERT_EQ(s3.put_object(bucket(), location.prefix + plain_name, bytes_of(plain.out)),
            storage::S3PutOutcome::kCreated);
  const storage::S3ArchiveScan replaced = storage::scan_s3_archive(s3, location, kSegmentSize);
  ASSERT_FALSE(replaced.contents.segments.empty());
  EXPECT_EQ(replaced.contents.segments.back().file_name, plain_name);
  EXPECT_EQ(replaced.contents.segments.back().state, storage::SegmentState::kComplete);
  EXPECT_EQ(replaced.contents.system_id, directory.system_id);
}

TEST_F(S3ArchiveScanTest, ReadsHistoryFilesAndRefusesAnotherSystemsSpool) {
  const protocol::S3Location location{bucket(), unique_prefix()};
  storage::S3Client s3 = client();
  ASSERT_EQ(s3.put_object(bucket(), location.prefix + "00000002.history",
                          bytes_of("1\t0/3000000\tno recovery target specified\n")),
            storage::S3PutOutcome::kCreated);
  const storage::S3ArchiveScan scan = storage::scan_s3_archive(s3, location, kSegmentSize);
  EXPECT_THAT(scan.contents.history_files, ElementsAre(2u));
  EXPECT_TRUE(scan.contents.segments.empty());
  EXPECT_FALSE(scan.contents.system_id.has_value());

  ArchiveContents local;
  local.system_id = 7;
  ArchiveContents remote;
  remote.system_id = 8;
  try {
    storage::merge_archive_contents(local, remote);
    FAIL() << "two system identifiers merged";
  } catch (const Error& error) {
    EXPECT_EQ(error.kind(), ErrorKind::kUsage);
    EXPECT_THAT(error.what(), HasSubstr("8"));
  }
}

TEST_F(S3ArchiveScanTest, ASegmentObjectThatIsNoSegmentIsAnError) {
  const protocol::S3Location location{bucket(), unique_prefix()};
  storage::S3Client s3 = client();
  // The right size, but not WAL: the first page tells.
  const std::string name = segment_name(1, 3);
  ASSERT_EQ(
      s3.put_object(bucket(), location.prefix + name, bytes_of(std::string(kSegmentSize, '\x5a'))),
      storage::S3PutOutcome::kCreated);
  try {
    storage::scan_s3_archive(s3, location, kSegmentSize);
    FAIL() << "a segment of garbage was accepted";
  } catch (const Error& error) {
    EXPECT_EQ(error.kind(), ErrorKind::kIo);
    EXPECT_THAT(error.what(), HasSubstr(location.prefix + name));
    EXPECT_THAT(error.what(), HasSubstr("not a valid WAL segment"));
  }
}

TEST_F(S3ArchiveScanTest, GetObjectPrefixFetchesTheStartOnly) {
  storage::S3Client s3 = client();
  const std::string key = unique_prefix() + "object";
  std::string content;
  for (int i = 0; i < 20000; ++i) content += std::to_string(i) + ",";
  ASSERT_EQ(s3.put_object(bucket(), key, bytes_of(content)), storage::S3PutOutcome::kCreated);
  EXPECT_EQ(s3.get_object_prefix(bucket(), key, 8192), content.substr(0, 8192));
  EXPECT_EQ(s3.get_object_prefix(bucket(), key, 1), content.substr(0, 1));
  // All of a shorter object, nothing of an empty one.
  EXPECT_EQ(s3.get_object_prefix(bucket(), key, content.size() + 100), content);
  ASSERT_EQ(s3.put_object(bucket(), key + "-empty", ByteView()), storage::S3PutOutcome::kCreated);
  EXPECT_EQ(s3.get_object_prefix(bucket(), key + "-empty", 8192), "");
  EXPECT_EQ(s3.get_object_prefix(bucket(), key + "-missing", 8192), std::nullopt);
  EXPECT_THROW(s3.get_object_prefix("no-such-bucket-for-prefix", key, 8192), Error);
}

}  // namespace
}  // namespace walstream::it
