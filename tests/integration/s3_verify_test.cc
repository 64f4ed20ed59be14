// `walstream verify --wal s3://BUCKET/PREFIX` against a real gateway: archives
// made by `walstream receive` (zstd and plain) from a real server, uploaded,
// verify with the same output as the directory they came from; a missing or
// damaged object is named as the directory verify names it; S3 errors and an
// unreachable endpoint end with their own exit codes, never with a secret.
#include <fcntl.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <iostream>
#include <optional>
#include <regex>
#include <string>
#include <vector>

#include "protocol/s3_location.h"
#include "storage/s3_client.h"
#include "tests/integration/rgw_server.h"
#include "tests/integration/test_env.h"
#include "tests/integration/wal_archive.h"

namespace walstream::it {
namespace {

namespace fs = std::filesystem;
using testing::HasSubstr;
using testing::Not;

constexpr std::uint64_t kPageSize = 8192;

struct WalRecord {
  std::uint64_t lsn = 0;
  std::uint64_t length = 0;
};

// Records of one segment file as pg_waldump (the reference reader) lists them.
std::vector<WalRecord> waldump_records(const fs::path& segment) {
  const CommandResult result =
      run_command({TestEnv::pg_bin("pg_waldump").string(), segment.string()});
  static const std::regex line(R"(len \(rec/tot\):\s*\d+/\s*(\d+),.*lsn: ([0-9A-F]+/[0-9A-F]+))");
  std::vector<WalRecord> records;
  for (const auto& text : non_empty_lines(result.out)) {
    std::smatch match;
    if (std::regex_search(text, match, line)) {
      records.push_back({parse_lsn(match[2].str()), std::stoull(match[1].str())});
    }
  }
  return records;
}

// A record of segment `segno` at least 64 bytes long whose first 64 bytes sit
// on one page.
std::optional<WalRecord> pick_record(const std::vector<WalRecord>& records, std::uint64_t segno) {
  std::vector<WalRecord> candidates;
  for (const auto& record : records) {
    if (segno_of(record.lsn) == segno && segno_of(record.lsn + record.length) == segno &&
        record.length >= 64 && record.lsn % kPageSize + 64 < kPageSize) {
      candidates.push_back(record);
    }
  }
  if (candidates.empty()) return std::nullopt;
  return candidates[candidates.size() / 2];
}

void flip_byte(const fs::path& file, std::uint64_t offset) {
  std::fstream stream(file, std::ios::in | std::ios::out | std::ios::binary);
  ASSERT_TRUE(stream) << file;
  stream.seekg(static_cast<std::streamoff>(offset));
  char byte = 0;
  stream.read(&byte, 1);
  byte = static_cast<char>(byte ^ 0x5A);
  stream.seekp(static_cast<std::streamoff>(offset));
  stream.write(&byte, 1);
  ASSERT_TRUE(stream) << file;
}

class S3VerifyTest : public RgwTest {
 protected:
  static void SetUpTestSuite() {
    RgwTest::SetUpTestSuite();
    try {
      primary_ = start_primary("s3_verify_primary");
      plain_ = TestEnv::unique_path("s3_verify_plain");
      zstd_ = TestEnv::unique_path("s3_verify_zstd");
      for (const auto& [dir, slot] : {std::pair{plain_, "plain"}, std::pair{zstd_, "z"}}) {
        const CommandResult made = run_walstream(
            receive_args(dir, *primary_, {"-S", slot, "--create-slot"}), password_env());
        if (made.exit_code != 0) throw std::runtime_error(made.describe());
      }
      primary_->exec("CREATE TABLE filler (id bigserial, pad text)");
      for (int i = 0; i < 10; ++i) {
        primary_->exec(
            "INSERT INTO filler (pad) SELECT repeat('x', 200) FROM generate_series(1, 3000)");
        if (i == 1 || i == 5) primary_->exec("SELECT pg_switch_wal()");
      }
      const std::string end = flush_lsn(*primary_);
      for (const bool compress : {false, true}) {
        std::vector<std::string> args = receive_args(compress ? zstd_ : plain_, *primary_,
                                                     {"-S", compress ? "z" : "plain", "-E", end});
        if (compress) args.emplace_back("--compress=zstd");
        const CommandResult received = run_walstream(args, password_env(), 120s);
        if (received.exit_code != 0) throw std::runtime_error(received.describe());
      }
      primary_->stop();
    } catch (const std::exception& error) {
      setup_error_ = error.what();
    }
  }

  static void TearDownTestSuite() {
    primary_.reset();
    RgwTest::TearDownTestSuite();
  }

  void SetUp() override {
    RgwTest::SetUp();
    ASSERT_TRUE(setup_error_.empty()) << setup_error_;
  }

  static storage::S3Client client() {
    storage::S3ClientOptions options;
    options.endpoint = server().endpoint();
    options.region = server().region();
    return storage::S3Client(options, {server().access_key_id(), server().secret_access_key(), ""});
  }

  static void upload(storage::S3Client& s3, const std::string& key, const fs::path& file) {
    const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
    ASSERT_GE(fd, 0) << file;
    const auto size = fs::file_size(file);
    EXPECT_EQ(s3.put_object(bucket(), key, fd, 0, size, file), storage::S3PutOutcome::kCreated)
        << key;
    ::close(fd);
  }

  // Uploads what an S3 archive holds of `archive` (all but .partial) under a
  // prefix of this test's own; `uploaded` gets a directory of the same files,
  // which the directory verify reads for comparison. Returns the URL.
  static std::string upload_archive(const fs::path& archive, fs::path& uploaded) {
    storage::S3Client s3 = client();
    const protocol::S3Location location{bucket(), unique_prefix() + "db1/"};
    uploaded = TestEnv::make_dir("s3_verify_uploaded");
    for (const auto& file : list_archive(archive)) {
      const auto key = protocol::s3_archive_key(location, file.name);
      if (!key) continue;
      upload(s3, *key, archive / file.name);
      fs::copy_file(archive / file.name, uploaded / file.name);
    }
    return protocol::to_string(location);
  }

  // Names of the segments in `dir` (plain or .zst, without the suffix), sorted.
  static std::vector<std::string> segment_names(const fs::path& dir) {
    std::vector<std::string> names;
    for (const auto& file : list_archive(dir)) {
      if (file.kind == FileKind::kComplete || file.kind == FileKind::kCompressed) {
        names.push_back(file.name.substr(0, 24));
      }
    }
    std::sort(names.begin(), names.end());
    return names;
  }

  static CommandResult verify(const std::string& archive,
                              const std::vector<std::string>& extra = {}) {
    std::vector<std::string> args{"verify", "--wal", archive};
    args.insert(args.end(), extra.begin(), extra.end());
    return run_walstream(args, server().aws_env(), 120s);
  }

  // The same exit code and output for the bucket as for the directory.
  static void expect_same_as_directory(const std::string& url, const fs::path& dir,
                                       const std::vector<std::string>& extra = {}) {
    const CommandResult from_s3 = verify(url, extra);
    const CommandResult from_dir = verify(dir.string(), extra);
    EXPECT_EQ(from_s3.exit_code, from_dir.exit_code) << from_s3.describe() << from_dir.describe();
    EXPECT_EQ(from_s3.out, from_dir.out);
    EXPECT_EQ(from_s3.err, from_dir.err);
  }

  static std::unique_ptr<PgCluster> primary_;
  static std::string setup_error_;
  static fs::path plain_;
  static fs::path zstd_;
};

std::unique_ptr<PgCluster> S3VerifyTest::primary_;
std::string S3VerifyTest::setup_error_;
fs::path S3VerifyTest::plain_;
fs::path S3VerifyTest::zstd_;

TEST_F(S3VerifyTest, CompressedArchiveVerifiesAsItsDirectory) {
  fs::path uploaded;
  const std::string url = upload_archive(zstd_, uploaded);
  const auto segments = segment_names(uploaded);
  ASSERT_GE(segments.size(), 4u) << describe_archive(zstd_);
  ASSERT_EQ(list_archive(uploaded).front().kind, FileKind::kCompressed);

  const CommandResult result = verify(url);
  EXPECT_EQ(result.exit_code, 0) << result.describe();
  EXPECT_THAT(result.out, HasSubstr("WAL archive verified from "));
  EXPECT_EQ(result.err, "");
  expect_same_as_directory(url, uploaded);

  // --from inside the second segment, --to inside the third.
  const std::uint64_t second = std::stoull(segments[1].substr(16), nullptr, 16) * kSegmentSize;
  const std::vector<std::string> range{"--from", format_lsn(second + 3 * kPageSize + 16), "--to",
                                       format_lsn(second + kSegmentSize + 5000)};
  const CommandResult ranged = verify(url, range);
  EXPECT_EQ(ranged.exit_code, 0) << ranged.describe();
  EXPECT_THAT(ranged.out, HasSubstr("verified from " + range[1] + " to " + range[3]));
  expect_same_as_directory(url, uploaded, range);
}

TEST_F(S3VerifyTest, PlainArchiveVerifiesAsItsDirectory) {
  fs::path uploaded;
  const std::string url = upload_archive(plain_, uploaded);
  ASSERT_GE(segment_names(uploaded).size(), 4u) << describe_archive(plain_);
  ASSERT_EQ(list_archive(uploaded).front().kind, FileKind::kComplete);
  const CommandResult result = verify(url);
  EXPECT_EQ(result.exit_code, 0) << result.describe();
  EXPECT_THAT(result.out, HasSubstr("WAL archive verified from "));
  expect_same_as_directory(url, uploaded);
}

TEST_F(S3VerifyTest, MissingMiddleObjectIsNamed) {
  fs::path uploaded;
  const std::string url = upload_archive(zstd_, uploaded);
  const auto segments = segment_names(uploaded);
  ASSERT_GE(segments.size(), 4u);
  const std::string name = segments[segments.size() / 2];
  storage::S3Client s3 = client();
  const protocol::S3Location location = protocol::parse_s3_location(url);
  s3.delete_object(bucket(), location.prefix + name + ".zst");
  fs::remove(uploaded / (name + ".zst"));

  const CommandResult result = verify(url);
  EXPECT_EQ(result.exit_code, kExitFailure) << result.describe();
  EXPECT_THAT(result.err, HasSubstr("walstream: error: WAL segment \"" + name +
                                    "\" is missing from the archive"));
  EXPECT_THAT(result.out, Not(HasSubstr("verified")));
  expect_same_as_directory(url, uploaded);
}

TEST_F(S3VerifyTest, FlippedByteInRecordIsNamed) {
  // The plain archive, one segment damaged before it goes up.
  const fs::path damaged = TestEnv::unique_path("s3_verify_damaged");
  fs::copy(plain_, damaged, fs::copy_options::recursive);
  const auto segments = segment_names(damaged);
  ASSERT_GE(segments.size(), 4u);
  const std::string name = segments[segments.size() / 2];
  const std::uint64_t segno = std::stoull(name.substr(16), nullptr, 16);
  const auto victim = pick_record(waldump_records(damaged / name), segno);
  ASSERT_TRUE(victim) << "no record to damage in " << name;
  ASSERT_NO_FATAL_FAILURE(flip_byte(damaged / name, offset_in_segment(victim->lsn) + 40));

  fs::path uploaded;
  const std::string url = upload_archive(damaged, uploaded);
  const CommandResult result = verify(url);
  EXPECT_EQ(result.exit_code, kExitFailure) << result.describe();
  EXPECT_THAT(result.err, HasSubstr("walstream: error: invalid WAL at " + format_lsn(victim->lsn) +
                                    " in \"" + name + "\""));
  EXPECT_THAT(result.out, Not(HasSubstr("verified")));
  expect_same_as_directory(url, uploaded);
}

TEST_F(S3VerifyTest, FollowsTheTimelineHistory) {
  auto primary = start_primary("s3_verify_tl_primary");
  const fs::path standby_dir = PgCluster::clone_data_dir("s3_verify_tl_standby");
  const CommandResult clone = run_walstream(clone_args(standby_dir, *primary), password_env());
  ASSERT_EQ(clone.exit_code, 0) << clone.describe();
  auto standby = PgCluster::for_clone("s3_verify_tl_standby");
  standby->start();
  std::string last;
  ASSERT_TRUE(
      standby->wait_for_value("SELECT status FROM pg_stat_wal_receiver", "streaming", 60s, &last))
      << last;
  const fs::path archive = TestEnv::unique_path("s3_verify_tl_archive");
  auto receiver = start_walstream(receive_args(archive, *standby, {"-s", "1"}), password_env());
  std::uint64_t on_timeline_2 = 0;
  ASSERT_NO_FATAL_FAILURE(
      follow_timeline_switch(*primary, *standby, *receiver, archive, on_timeline_2));
  const CommandResult received = stop_receiver(*receiver);
  EXPECT_EQ(received.exit_code, 0) << received.describe();

  fs::path uploaded;
  const std::string url = upload_archive(archive, uploaded);
  ASSERT_TRUE(fs::exists(uploaded / "00000002.history")) << describe_archive(uploaded);
  ASSERT_TRUE(fs::exists(uploaded / segment_name(2, segno_of(on_timeline_2))))
      << describe_archive(uploaded);
  const CommandResult result = verify(url);
  EXPECT_EQ(result.exit_code, 0) << result.describe();
  EXPECT_THAT(result.out, HasSubstr("WAL archive verified from "));
  expect_same_as_directory(url, uploaded);

  // Without the history, timeline 1's segments are not on timeline 2's path.
  storage::S3Client s3 = client();
  s3.delete_object(bucket(), protocol::parse_s3_location(url).prefix + "00000002.history");
  fs::remove(uploaded / "00000002.history");
  expect_same_as_directory(url, uploaded);
}

TEST_F(S3VerifyTest, EmptyPrefixAndBadLocation) {
  const CommandResult empty = verify("s3://" + bucket() + "/" + unique_prefix() + "nothing");
  EXPECT_EQ(empty.exit_code, kExitFailure) << empty.describe();
  EXPECT_THAT(empty.err, HasSubstr("holds no WAL segment"));
  const CommandResult bad = verify("s3://Bad_Bucket/db1");
  EXPECT_EQ(bad.exit_code, kExitUsage) << bad.describe();
  EXPECT_THAT(bad.err, HasSubstr("bucket name"));
}

TEST_F(S3VerifyTest, MissingBucketIsAnS3Error) {
  const CommandResult result = verify("s3://no-such-bucket-s3verify/db1");
  EXPECT_EQ(result.exit_code, kExitServer) << result.describe();
  EXPECT_THAT(result.err, HasSubstr("NoSuchBucket"));
  EXPECT_THAT(result.out, Not(HasSubstr("verified")));
}

TEST_F(S3VerifyTest, WrongSecretIsAnS3ErrorWithoutTheSecret) {
  fs::path uploaded;
  const std::string url = upload_archive(zstd_, uploaded);
  EnvOverrides wrong_secret = server().aws_env();
  wrong_secret["AWS_SECRET_ACCESS_KEY"] = "WrongSecretKey0123456789abcdefghijklmno";
  const CommandResult result =
      run_walstream({"verify", "--wal", url}, wrong_secret, std::chrono::seconds(120));
  EXPECT_EQ(result.exit_code, kExitServer) << result.describe();
  EXPECT_THAT(result.err, HasSubstr("SignatureDoesNotMatch"));
  EXPECT_THAT(result.err + result.out, Not(HasSubstr("WrongSecretKey0123456789")));
  EXPECT_THAT(result.err + result.out, Not(HasSubstr(server().secret_access_key())));
}

TEST_F(S3VerifyTest, UnreachableEndpointIsAConnectionError) {
  EnvOverrides unreachable = server().aws_env();
  unreachable["AWS_ENDPOINT_URL"] = "http://127.0.0.1:" + std::to_string(pick_free_port());
  const CommandResult result = run_walstream({"verify", "--wal", "s3://" + bucket() + "/db1"},
                                             unreachable, std::chrono::seconds(120));
  EXPECT_EQ(result.exit_code, kExitConnection) << result.describe();
  EXPECT_THAT(result.err, HasSubstr("walstream: error: "));
}

TEST_F(S3VerifyTest, PeakMemoryStaysBounded) {
  if (TestEnv::walstream_is_sanitized()) GTEST_SKIP() << "a sanitizer's memory is not walstream's";
  fs::path uploaded;
  const std::string url = upload_archive(zstd_, uploaded);
  ASSERT_GE(segment_names(uploaded).size(), 4u);
  const CommandResult result =
      run_command({"/usr/bin/time", "-f", "peak-rss-kb %M", TestEnv::walstream_binary().string(),
                   "verify", "--wal", url},
                  server().aws_env(), std::chrono::seconds(120));
  EXPECT_EQ(result.exit_code, 0) << result.describe();
  std::smatch match;
  static const std::regex peak(R"(peak-rss-kb (\d+))");
  ASSERT_TRUE(std::regex_search(result.err, match, peak)) << result.describe();
  const std::uint64_t peak_kb = std::stoull(match[1].str());
  std::cout << "verify of " << segment_names(uploaded).size() << " segments: peak RSS " << peak_kb
            << " kB\n";
  EXPECT_LT(peak_kb, 32u * 1024) << "peak RSS in kB";
}

}  // namespace
}  // namespace walstream::it
