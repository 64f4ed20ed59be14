// `walstream receive --archive s3://BUCKET/PREFIX` against a real gateway and
// a real server under pgbench load: the spool empties into the bucket, the
// bucket holds every segment without a hole (walstream verify), a run killed
// with SIGKILL resumes from what the bucket and the spool hold, and wrong
// credentials end the run with a clear error that never shows the secret.
#include <signal.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "protocol/s3_location.h"
#include "storage/archive_scan.h"
#include "storage/s3_archive_scan.h"
#include "storage/s3_client.h"
#include "tests/integration/rgw_server.h"
#include "tests/integration/s3_archive_checks.h"
#include "tests/integration/test_env.h"
#include "tests/integration/wal_archive.h"

namespace walstream::it {
namespace {

namespace fs = std::filesystem;
using testing::HasSubstr;
using testing::Not;

class S3ReceiveTest : public RgwTest {
 protected:
  static EnvOverrides env() { return s3_receive_env(server()); }
  static storage::S3ArchiveScan scan(const protocol::S3Location& location) {
    return scan_bucket(server(), location);
  }

  // The bucket holds every segment from its first through `through_segno`
  // of timeline 1, and nothing in between is missing.
  static void expect_bucket_complete(const protocol::S3Location& location,
                                     std::uint64_t through_segno, bool compressed) {
    const storage::S3ArchiveScan bucket = scan(location);
    ASSERT_FALSE(bucket.contents.segments.empty());
    EXPECT_TRUE(bucket.foreign_keys.empty());
    EXPECT_TRUE(storage::find_holes(bucket.contents, kSegmentSize).empty());
    std::set<std::uint64_t> segnos;
    for (const auto& segment : bucket.contents.segments) {
      EXPECT_EQ(segment.state,
                compressed ? storage::SegmentState::kCompressed : storage::SegmentState::kComplete)
          << segment.file_name;
      segnos.insert(segment.segno);
    }
    EXPECT_EQ(*segnos.rbegin(), through_segno);
    EXPECT_EQ(segnos.size(), *segnos.rbegin() - *segnos.begin() + 1);
  }

  static void expect_verified(const std::string& url) {
    const CommandResult verified =
        run_walstream({"verify", "--wal", url}, server().aws_env(), 120s);
    EXPECT_EQ(verified.exit_code, 0) << verified.describe();
    EXPECT_THAT(verified.out, HasSubstr("WAL archive verified"));
  }
};

// Past `from` by `segments` segments and then some: inside a segment, so the
// one holding it stays .partial in the spool.
std::string endpos_after(PgCluster& server, int segments) {
  return format_lsn(parse_lsn(flush_lsn(server)) + segments * kSegmentSize + 0x4000);
}

TEST_F(S3ReceiveTest, ArchivesUnderLoadIntoTheBucketAndEmptiesTheSpool) {
  auto primary = start_primary("s3_receive_load");
  create_slot(*primary, "s3r");
  ASSERT_NO_FATAL_FAILURE(pgbench_init(*primary));
  const protocol::S3Location location{bucket(), unique_prefix() + "db1/"};
  const std::string url = protocol::to_string(location);
  const fs::path spool = TestEnv::unique_path("s3_receive_spool");
  const std::string endpos = endpos_after(*primary, 4);

  auto load = start_load(*primary);
  const CommandResult received = run_walstream(
      receive_args(spool, *primary,
                   {"-S", "s3r", "--archive", url, "-E", endpos, "-s", "1", "--no-progress"}),
      env(), 180s);
  stop_load(*load);
  ASSERT_EQ(received.exit_code, 0) << received.describe();

  EXPECT_THAT(completed_in_spool(spool), testing::IsEmpty()) << describe_archive(spool);
  EXPECT_TRUE(fs::exists(spool / (segment_name(1, segno_of(parse_lsn(endpos))) + ".partial")))
      << describe_archive(spool);
  ASSERT_NO_FATAL_FAILURE(
      expect_bucket_complete(location, segno_of(parse_lsn(endpos)) - 1, /*compressed=*/false));
  expect_verified(url);

  // The spool lost: the bucket alone says where to continue, with no hole
  // (the slot kept the WAL of the segment that was still .partial).
  fs::remove_all(spool);
  const std::string endpos2 = generate_wal(*primary, 2);
  const CommandResult continued = run_walstream(
      receive_args(spool, *primary,
                   {"-S", "s3r", "--archive", url, "-E", endpos2, "--no-progress", "-v"}),
      env(), 180s);
  ASSERT_EQ(continued.exit_code, 0) << continued.describe();
  EXPECT_THAT(continued.err,
              HasSubstr("continuing the archive at " +
                        format_lsn(segno_of(parse_lsn(endpos)) * kSegmentSize) + " on timeline 1"))
      << continued.describe();
  EXPECT_THAT(completed_in_spool(spool), testing::IsEmpty()) << describe_archive(spool);
  ASSERT_NO_FATAL_FAILURE(
      expect_bucket_complete(location, segno_of(parse_lsn(endpos2)) - 1, /*compressed=*/false));
  expect_verified(url);
}

TEST_F(S3ReceiveTest, AKilledRunResumesFromTheBucketWithoutAHole) {
  auto primary = start_primary("s3_receive_kill");
  create_slot(*primary, "s3k");
  ASSERT_NO_FATAL_FAILURE(pgbench_init(*primary));
  const protocol::S3Location location{bucket(), unique_prefix() + "db1/"};
  const std::string url = protocol::to_string(location);
  const fs::path spool = TestEnv::unique_path("s3_receive_kill_spool");
  auto args = [&](std::initializer_list<std::string> extra) {
    std::vector<std::string> result = receive_args(
        spool, *primary, {"-S", "s3k", "--archive", url, "--compress=zstd", "--no-progress"});
    result.insert(result.end(), extra.begin(), extra.end());
    return result;
  };

  auto load = start_load(*primary);
  const std::uint64_t started = parse_lsn(flush_lsn(*primary));
  auto receiver = start_walstream(args({}), env());
  // Killed once some segments are in the bucket and more are on their way.
  ASSERT_TRUE(wait_until(
      [&] {
        return !receiver->running() || parse_lsn(flush_lsn(*primary)) > started + 3 * kSegmentSize;
      },
      120s));
  ASSERT_TRUE(receiver->running()) << receiver->wait(10s).describe();
  const CommandResult killed = stop_receiver(*receiver, SIGKILL);
  ASSERT_EQ(killed.term_signal, SIGKILL) << killed.describe();
  ASSERT_TRUE(primary->wait_for_value(
      "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'walsender' AND usename = 'r'",
      "0", 30s));

  const std::string endpos = endpos_after(*primary, 2);
  const CommandResult resumed = run_walstream(args({"-E", endpos}), env(), 180s);
  stop_load(*load);
  ASSERT_EQ(resumed.exit_code, 0) << resumed.describe();

  EXPECT_THAT(completed_in_spool(spool), testing::IsEmpty()) << describe_archive(spool);
  ASSERT_NO_FATAL_FAILURE(
      expect_bucket_complete(location, segno_of(parse_lsn(endpos)) - 1, /*compressed=*/true));
  expect_verified(url);
}

TEST_F(S3ReceiveTest, WrongCredentialsEndTheRunWithoutShowingTheSecret) {
  auto primary = start_primary("s3_receive_credentials");
  const std::string url = protocol::to_string(protocol::S3Location{bucket(), unique_prefix()});
  const fs::path spool = TestEnv::unique_path("s3_receive_credentials_spool");
  EnvOverrides wrong = env();
  wrong["AWS_SECRET_ACCESS_KEY"] = "WrongSecretKey0123456789abcdefghijklmno";
  const CommandResult refused = run_walstream(
      receive_args(spool, *primary, {"--archive", url, "--no-progress", "-v"}), wrong, 120s);
  EXPECT_EQ(refused.exit_code, kExitServer) << refused.describe();
  EXPECT_THAT(refused.err, HasSubstr("SignatureDoesNotMatch")) << refused.describe();
  EXPECT_THAT(refused.err + refused.out, Not(HasSubstr("WrongSecretKey0123456789")));
  EXPECT_THAT(completed_in_spool(spool), testing::IsEmpty());

  const CommandResult no_spool =
      run_walstream({"receive", "--archive", url, "-h", "127.0.0.1"}, server().aws_env(), 60s);
  EXPECT_EQ(no_spool.exit_code, kExitUsage) << no_spool.describe();
  EXPECT_THAT(no_spool.err, HasSubstr("spool"));
}

// An upload that fails ends the run with the uploader's error, and the file
// stays in the spool: here the bucket already holds other bytes under the
// key of the segment being streamed (put there after the start's scan).
TEST_F(S3ReceiveTest, AFailedUploadEndsTheRunAndKeepsTheFile) {
  auto primary = start_primary("s3_receive_conflict");
  const protocol::S3Location location{bucket(), unique_prefix() + "db1/"};
  const std::string url = protocol::to_string(location);
  const fs::path spool = TestEnv::unique_path("s3_receive_conflict_spool");
  auto receiver =
      start_walstream(receive_args(spool, *primary, {"--archive", url, "--no-progress"}), env());
  ASSERT_TRUE(wait_until([&] {
    return !receiver->running() ||
           primary->query_value("SELECT count(*) FROM pg_stat_replication") == "1";
  })) << receiver->wait(10s).describe();
  ASSERT_TRUE(receiver->running()) << receiver->wait(10s).describe();
  const std::string name = segment_name(1, segno_of(parse_lsn(flush_lsn(*primary))));
  // The walsender shows up before the first WAL reaches the spool: under
  // ASan the .partial file appears a while after pg_stat_replication's row.
  ASSERT_TRUE(wait_until([&] {
    return !receiver->running() || fs::exists(spool / (name + ".partial"));
  })) << describe_archive(spool);
  ASSERT_TRUE(fs::exists(spool / (name + ".partial")))
      << describe_archive(spool) << receiver->wait(10s).describe();
  server().put_object(bucket(), location.prefix + name, "not this segment");

  generate_wal(*primary, 2);
  ASSERT_TRUE(wait_until([&] { return !receiver->running(); }, 120s))
      << "still running: " << receiver->stderr_so_far();
  const CommandResult ended = receiver->wait(10s);
  EXPECT_EQ(ended.exit_code, kExitUsage) << ended.describe();
  EXPECT_THAT(ended.err, HasSubstr("the bucket already holds a different object"))
      << ended.describe();
  EXPECT_THAT(ended.err, HasSubstr(name));
  EXPECT_TRUE(fs::exists(spool / name)) << describe_archive(spool);
  EXPECT_EQ(server().get_object(bucket(), location.prefix + name), "not this segment");
}

// --ack=remote: the slot's restart_lsn (the flush walstream reported) never
// passes the end of the newest segment in the bucket, and it does advance
// while the run uploads. With --ack=local it would reach the WAL durable in
// the spool's .partial segment at the end.
TEST_F(S3ReceiveTest, RemoteAckKeepsTheSlotBehindTheBucket) {
  auto primary = start_primary("s3_receive_ack");
  create_slot(*primary, "s3a");
  ASSERT_NO_FATAL_FAILURE(pgbench_init(*primary));
  const protocol::S3Location location{bucket(), unique_prefix() + "db1/"};
  const std::string url = protocol::to_string(location);
  const fs::path spool = TestEnv::unique_path("s3_receive_ack_spool");
  auto restart_lsn = [&] {
    const std::string value = primary->query_value(
        "SELECT coalesce(restart_lsn::text, '0/0') FROM pg_replication_slots "
        "WHERE slot_name = 's3a'");
    return parse_lsn(value);
  };
  // The end of the newest segment in the bucket; 0 without any.
  auto bucket_end = [&]() -> std::uint64_t {
    const storage::S3ArchiveScan bucket = scan(location);
    if (bucket.contents.segments.empty()) return 0;
    return (bucket.contents.segments.back().segno + 1) * kSegmentSize;
  };

  const std::uint64_t initial = restart_lsn();
  const std::string endpos = endpos_after(*primary, 4);
  auto load = start_load(*primary);
  auto receiver = start_walstream(receive_args(spool, *primary,
                                               {"-S", "s3a", "--archive", url, "--ack=remote", "-E",
                                                endpos, "-s", "1", "--no-progress"}),
                                  env());
  int samples = 0;
  bool advanced = false;
  while (receiver->running()) {
    const std::uint64_t slot = restart_lsn();  // before the listing: the bucket only grows
    EXPECT_LE(slot, std::max(bucket_end(), initial))
        << "restart_lsn " << format_lsn(slot) << " passed the bucket";
    advanced = advanced || slot > initial;
    ++samples;
    std::this_thread::sleep_for(200ms);
  }
  const CommandResult received = receiver->wait(10s);
  stop_load(*load);
  ASSERT_EQ(received.exit_code, 0) << received.describe();
  EXPECT_GE(samples, 3);
  const std::uint64_t final_slot = restart_lsn();
  EXPECT_TRUE(advanced || final_slot > initial) << "the slot never advanced";
  EXPECT_LE(final_slot, bucket_end()) << "restart_lsn " << format_lsn(final_slot);
  EXPECT_LT(final_slot, parse_lsn(endpos)) << "the .partial segment's WAL is not in the bucket";
}

TEST_F(S3ReceiveTest, RemoteAckSpoolAndUploadFlagsNeedABucket) {
  const std::string url = protocol::to_string(protocol::S3Location{bucket(), unique_prefix()});
  const CommandResult no_bucket =
      run_walstream({"receive", "-D", TestEnv::unique_path("s3_ack_dir").string(), "--ack=remote"},
                    server().aws_env(), 60s);
  EXPECT_EQ(no_bucket.exit_code, kExitUsage) << no_bucket.describe();
  EXPECT_THAT(no_bucket.err, HasSubstr("--ack=remote needs --archive"));
  const CommandResult synchronous =
      run_walstream({"receive", "-D", TestEnv::unique_path("s3_ack_sync").string(), "--archive",
                     url, "--ack=remote", "--synchronous"},
                    server().aws_env(), 60s);
  EXPECT_EQ(synchronous.exit_code, kExitUsage) << synchronous.describe();
  EXPECT_THAT(synchronous.err, HasSubstr("cannot be combined"));
  for (const std::string flag : {"--max-spool-size=64MB", "--upload-parallelism=2"}) {
    const CommandResult no_spool = run_walstream(
        {"receive", "-D", TestEnv::unique_path("s3_spool_flag").string(), flag}, {}, 60s);
    EXPECT_EQ(no_spool.exit_code, kExitUsage) << no_spool.describe();
    EXPECT_THAT(no_spool.err, HasSubstr(flag.substr(0, flag.find('=')) + " needs --archive"));
  }
}

}  // namespace
}  // namespace walstream::it
