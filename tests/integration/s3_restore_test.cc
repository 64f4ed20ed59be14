// `walstream restore-wal s3://BUCKET/PREFIX %f %p` against a real gateway:
// an archive made by `walstream receive --compress=zstd` from a real server is
// uploaded, served back byte for byte, and a base backup recovers from it.
#include <fcntl.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <optional>
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

class S3RestoreTest : public RgwTest {
 protected:
  storage::S3Client client() const {
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
};

std::string unpack(const fs::path& zst) {
  const CommandResult result = run_command({"zstd", "-d", "-q", "-c", zst.string()});
  EXPECT_EQ(result.exit_code, 0) << result.describe().substr(0, 2000);
  return result.out;
}

TEST_F(S3RestoreTest, ServesAReceivedArchiveAndABackupRecoversFromIt) {
  auto primary = start_primary("s3_restore_primary");
  primary->exec(
      "CREATE TABLE s3_rows (id int PRIMARY KEY, note text);"
      "INSERT INTO s3_rows SELECT g, 'before backup' FROM generate_series(1, 100) g");
  const fs::path backup = PgCluster::clone_data_dir("s3_restore_backup");
  const CommandResult clone = run_walstream(
      clone_args(backup, *primary, {"--no-standby-config", "-S", "s3", "-C"}), password_env());
  ASSERT_EQ(clone.exit_code, 0) << clone.describe();

  const fs::path archive = TestEnv::unique_path("s3_restore_archive");
  auto receiver = start_walstream(
      receive_args(archive, *primary, {"-S", "s3", "--compress=zstd", "-s", "1"}), password_env());
  ASSERT_TRUE(wait_until([&] {
    return !receiver->running() ||
           primary->query_value("SELECT active FROM pg_replication_slots WHERE slot_name = 's3'") ==
               "t";
  })) << receiver->wait(10s).describe();
  for (int batch = 0; batch < 4; ++batch) {
    primary->exec(
        "INSERT INTO s3_rows SELECT g, repeat('after backup ', 20) FROM generate_series(" +
        std::to_string(101 + batch * 1000) + ", " + std::to_string(100 + (batch + 1) * 1000) +
        ") g");
  }
  primary->exec("INSERT INTO s3_rows VALUES (999999, 'last committed row')");
  const std::uint64_t last_commit = parse_lsn(flush_lsn(*primary));
  primary->exec("SELECT pg_switch_wal()");
  const std::string last_name = segment_name(1, segno_of(last_commit));
  ASSERT_TRUE(wait_until([&] {
                return fs::exists(archive / (last_name + ".zst")) || !receiver->running();
              }) &&
              receiver->running())
      << last_name << ".zst never arrived\n"
      << describe_archive(archive) << receiver->stderr_so_far();
  const CommandResult received = stop_receiver(*receiver);
  EXPECT_EQ(received.exit_code, 0) << received.describe();
  const std::string expected_rows = primary->query_value("SELECT count(*) FROM s3_rows");
  primary->stop();

  // Upload what an S3 archive holds: compressed segments, except the first,
  // which goes up plain (the other form restore serves).
  storage::S3Client s3 = client();
  const protocol::S3Location location{bucket(), unique_prefix() + "db1/"};
  const std::string url = protocol::to_string(location);
  std::vector<std::string> segments;
  for (const auto& file : list_archive(archive)) {
    const auto key = protocol::s3_archive_key(location, file.name);
    if (!key) {
      EXPECT_EQ(file.kind, FileKind::kPartial) << file.name << " was not uploaded";
      continue;
    }
    ASSERT_EQ(file.kind, FileKind::kCompressed) << file.name;
    const std::string name = file.name.substr(0, file.name.size() - 4);
    if (segments.empty()) {
      const fs::path plain = TestEnv::unique_path("plain");
      write_file(plain, unpack(archive / file.name));
      ASSERT_NO_FATAL_FAILURE(upload(s3, location.prefix + name, plain));
    } else {
      ASSERT_NO_FATAL_FAILURE(upload(s3, *key, archive / file.name));
    }
    segments.push_back(name);
  }
  ASSERT_GE(segments.size(), 3u) << describe_archive(archive);

  // Every segment comes back as the archive holds it.
  const fs::path out = TestEnv::make_dir("s3_restored");
  for (const auto& name : segments) {
    const CommandResult result =
        run_walstream({"restore-wal", url, name, (out / name).string()}, server().aws_env(), 60s);
    ASSERT_EQ(result.exit_code, 0) << name << ": " << result.describe();
    EXPECT_TRUE(read_file(out / name) == unpack(archive / (name + ".zst")))
        << name << " differs from the archive's";
  }
  EXPECT_EQ(fs::file_size(out / segments.front()), kSegmentSize);
  for (const auto& entry : fs::directory_iterator(out)) {
    EXPECT_THAT(entry.path().filename().string(), Not(HasSubstr(".walstream-tmp")));
  }

  // A segment past the end: "not there", exit 1, nothing left behind.
  const std::string absent = segment_name(1, segno_of(last_commit) + 50);
  const CommandResult missing =
      run_walstream({"restore-wal", url, absent, (out / absent).string()}, server().aws_env(), 60s);
  EXPECT_EQ(missing.exit_code, kExitFailure) << missing.describe();
  EXPECT_THAT(missing.err, HasSubstr("is not in the archive"));
  EXPECT_FALSE(fs::exists(out / absent));
  EXPECT_FALSE(fs::exists(out / (absent + ".walstream-tmp")));

  // A missing bucket or a wrong secret is an error, not a missing file.
  EXPECT_FALSE(fs::exists(out / "x"));
  const CommandResult no_bucket =
      run_walstream({"restore-wal", "s3://no-such-bucket/db1", segments[1], (out / "x").string()},
                    server().aws_env(), 60s);
  EXPECT_EQ(no_bucket.exit_code, kExitServer) << no_bucket.describe();
  EXPECT_THAT(no_bucket.err, HasSubstr("NoSuchBucket")) << no_bucket.describe();
  EXPECT_FALSE(fs::exists(out / "x"));
  EnvOverrides wrong_secret = server().aws_env();
  wrong_secret["AWS_SECRET_ACCESS_KEY"] = "WrongSecretKey0123456789abcdefghijklmno";
  const CommandResult refused =
      run_walstream({"restore-wal", url, segments[1], (out / "x").string()}, wrong_secret, 60s);
  EXPECT_EQ(refused.exit_code, kExitServer) << refused.describe();
  EXPECT_THAT(refused.err, HasSubstr("SignatureDoesNotMatch")) << refused.describe();
  EXPECT_THAT(refused.err + refused.out, Not(HasSubstr("WrongSecretKey0123456789")));
  EXPECT_FALSE(fs::exists(out / "x"));
  const CommandResult bad_location =
      run_walstream({"restore-wal", "s3://Bad_Bucket/db1", segments[1], (out / "x").string()},
                    server().aws_env(), 60s);
  EXPECT_EQ(bad_location.exit_code, kExitUsage) << bad_location.describe();
  EXPECT_THAT(bad_location.err, HasSubstr("bucket name"));

  // Point-in-time recovery with restore_command reading the bucket.
  append_file(backup / "postgresql.auto.conf",
              "restore_command = '" + TestEnv::walstream_binary().string() + " restore-wal " + url +
                  " %f %p'\nrecovery_target_action = 'promote'\n");
  write_file(backup / "recovery.signal", "");
  auto restored = PgCluster::for_clone("s3_restore_backup");
  restored->start(server().aws_env());
  std::string last;
  ASSERT_TRUE(restored->wait_for_value("SELECT pg_is_in_recovery()", "f", 120s, &last))
      << last << "\n"
      << restored->log_tail(30);
  EXPECT_EQ(restored->query_value("SELECT note FROM s3_rows WHERE id = 999999"),
            "last committed row");
  EXPECT_EQ(restored->query_value("SELECT count(*) FROM s3_rows"), expected_rows);
  // The last commit's segment came from the bucket.
  EXPECT_THAT(read_file(restored->log_file()),
              HasSubstr("restored log file \"" + last_name + "\" from archive"));
}

}  // namespace
}  // namespace walstream::it
