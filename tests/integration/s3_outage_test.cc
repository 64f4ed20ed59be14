// `walstream receive --archive s3://` while the bucket is unreachable: the
// suite's own RADOS Gateway is stopped (connections refused) and started
// again. Without -n the spool fills up to --max-spool-size and reading from
// the server pauses, while the connection stays alive and, with
// --ack=remote, the slot keeps the WAL on the primary; once the gateway is
// back the spool empties into the bucket and the slot advances, without a
// hole. With -n the outage ends the run with the upload's error and the
// files stay in the spool.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "protocol/s3_location.h"
#include "storage/archive_scan.h"
#include "storage/s3_archive_scan.h"
#include "storage/s3_client.h"
#include "tests/integration/rgw_server.h"
#include "tests/integration/test_env.h"
#include "tests/integration/wal_archive.h"

namespace walstream::it {
namespace {

namespace fs = std::filesystem;
using testing::HasSubstr;
using testing::Not;

constexpr int kSpoolSegments = 3;  // --max-spool-size, in 1 MB test segments

// Stopping the gateway would break every other suite's tests on the shared
// one: this suite starts its own.
class S3OutageTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    try {
      gateway_ = RgwServer::start("s3_outage_rgw");
      gateway_->create_bucket(kBucket);
    } catch (const std::exception& error) {
      start_error_ = error.what();
    }
  }
  static void TearDownTestSuite() { gateway_.reset(); }
  void SetUp() override {
    ASSERT_TRUE(gateway_) << "no RADOS Gateway: " << start_error_;
    primary_ = start_primary("s3_outage_primary",
                             PgClusterOptions{.extra_conf = {"wal_sender_timeout = '3s'"}});
    create_slot(*primary_, "outage");
    location_ = protocol::S3Location{
        kBucket, std::string(testing::UnitTest::GetInstance()->current_test_info()->name()) + "/"};
  }
  void TearDown() override {
    // A test that failed with the gateway stopped must not leave it so.
    if (gateway_ && gateway_stopped_) gateway_->start_gateway();
  }

  void stop_gateway() {
    gateway_->stop_gateway();
    gateway_stopped_ = true;
  }
  void start_gateway() {
    gateway_->start_gateway();
    gateway_stopped_ = false;
  }

  static EnvOverrides env() {
    EnvOverrides result = gateway_->aws_env();
    for (const auto& [name, value] : password_env()) result[name] = value;
    return result;
  }

  std::uint64_t restart_lsn() {
    return parse_lsn(
        primary_->query_value("SELECT coalesce(restart_lsn::text, '0/0') FROM pg_replication_slots "
                              "WHERE slot_name = 'outage'"));
  }
  bool slot_active() {
    return primary_->query_value(
               "SELECT active FROM pg_replication_slots WHERE slot_name = 'outage'") == "t";
  }

  storage::S3ArchiveScan scan() const {
    storage::S3ClientOptions options;
    options.endpoint = gateway_->endpoint();
    options.region = gateway_->region();
    storage::S3Client client(options,
                             {gateway_->access_key_id(), gateway_->secret_access_key(), ""});
    return storage::scan_s3_archive(client, location_, kSegmentSize);
  }
  // The end of the newest segment in the bucket; 0 without any.
  std::uint64_t bucket_end() const {
    const storage::S3ArchiveScan bucket = scan();
    if (bucket.contents.segments.empty()) return 0;
    return (bucket.contents.segments.back().segno + 1) * kSegmentSize;
  }

  static std::size_t completed_in_spool(const fs::path& spool) {
    std::size_t count = 0;
    for (const auto& file : list_archive(spool)) {
      if (file.kind == FileKind::kComplete || file.kind == FileKind::kCompressed) ++count;
    }
    return count;
  }

  static constexpr const char* kBucket = "walstream-outage";
  static std::unique_ptr<RgwServer> gateway_;
  static std::string start_error_;
  std::unique_ptr<PgCluster> primary_;
  protocol::S3Location location_;
  bool gateway_stopped_ = false;
};

std::unique_ptr<RgwServer> S3OutageTest::gateway_;
std::string S3OutageTest::start_error_;

TEST_F(S3OutageTest, AFullSpoolPausesReadingAndTheSlotHoldsTheWalUntilTheBucketIsBack) {
  const std::string url = protocol::to_string(location_);
  const fs::path spool = TestEnv::unique_path("s3_outage_spool");
  auto receiver = start_walstream(
      receive_args(spool, *primary_,
                   {"-S", "outage", "--archive", url, "--ack=remote", "--max-spool-size",
                    std::to_string(kSpoolSegments) + "MB", "-s", "1", "--no-progress", "-v"}),
      env());
  const std::uint64_t initial = restart_lsn();
  generate_wal(*primary_, 2);
  ASSERT_TRUE(wait_until([&] { return !receiver->running() || restart_lsn() > initial; }, 60s) &&
              receiver->running())
      << "the slot never advanced before the outage\n"
      << receiver->stderr_so_far();

  // The outage: uploads fail, completed segments pile up in the spool.
  stop_gateway();
  const std::string last_written = generate_wal(*primary_, 4 * kSpoolSegments);
  ASSERT_TRUE(wait_until(
                  [&] {
                    return !receiver->running() ||
                           receiver->stderr_so_far().find("reading from the server pauses") !=
                               std::string::npos;
                  },
                  60s) &&
              receiver->running())
      << "reading never paused\n"
      << describe_archive(spool) << receiver->stderr_so_far();
  EXPECT_THAT(receiver->stderr_so_far(), HasSubstr("the slot keeps the WAL on the server"));

  // Paused for longer than the server's wal_sender_timeout (3 s): the spool
  // stays within its bound (plus the segment the last read completed), the
  // slot does not move and the connection stays up on status messages alone.
  const std::uint64_t held = restart_lsn();
  for (int i = 0; i < 12; ++i) {
    std::this_thread::sleep_for(500ms);
    EXPECT_LE(completed_in_spool(spool), static_cast<std::size_t>(kSpoolSegments + 1))
        << describe_archive(spool);
    EXPECT_EQ(restart_lsn(), held) << "the slot moved while nothing reached the bucket";
    EXPECT_TRUE(slot_active()) << "the paused connection was dropped";
  }
  EXPECT_GE(parse_lsn(last_written), held + 4 * kSpoolSegments * kSegmentSize / 2)
      << "the primary kept less WAL than the outage produced";
  EXPECT_THAT(receiver->stderr_so_far(), Not(HasSubstr("reconnecting")));
  // Said once the client's own retries of an upload are spent.
  EXPECT_TRUE(wait_until(
      [&] {
        return receiver->stderr_so_far().find("cannot upload to " + url) != std::string::npos;
      },
      30s))
      << receiver->stderr_so_far();
  ASSERT_TRUE(receiver->running()) << receiver->wait(10s).describe();

  // The bucket is back: everything reaches it, the slot follows.
  start_gateway();
  const std::uint64_t last_segment_end = (segno_of(parse_lsn(last_written))) * kSegmentSize;
  ASSERT_TRUE(
      wait_until([&] { return !receiver->running() || bucket_end() >= last_segment_end; }, 120s) &&
      receiver->running())
      << "the bucket never caught up to " << format_lsn(last_segment_end) << "\n"
      << describe_archive(spool) << receiver->stderr_so_far();
  ASSERT_TRUE(wait_until([&] { return restart_lsn() >= last_segment_end; }, 30s))
      << "the slot stayed at " << format_lsn(restart_lsn());
  const CommandResult received = stop_receiver(*receiver);
  EXPECT_EQ(received.exit_code, 0) << received.describe();
  EXPECT_THAT(received.err, HasSubstr("reading from the server again"));
  EXPECT_THAT(received.err, HasSubstr("takes uploads again"));

  const storage::S3ArchiveScan bucket = scan();
  EXPECT_TRUE(storage::find_holes(bucket.contents, kSegmentSize).empty());
  const CommandResult verified = run_walstream({"verify", "--wal", url}, gateway_->aws_env(), 120s);
  EXPECT_EQ(verified.exit_code, 0) << verified.describe();
}

TEST_F(S3OutageTest, WithNoLoopAnUnreachableBucketEndsTheRunAndKeepsTheFiles) {
  const std::string url = protocol::to_string(location_);
  const fs::path spool = TestEnv::unique_path("s3_outage_noloop_spool");
  auto receiver = start_walstream(
      receive_args(spool, *primary_,
                   {"-S", "outage", "--archive", url, "-n", "-s", "1", "--no-progress"}),
      env());
  ASSERT_TRUE(wait_until([&] { return !receiver->running() || slot_active(); }, 60s) &&
              receiver->running())
      << receiver->wait(10s).describe();

  stop_gateway();
  generate_wal(*primary_, 3);
  const CommandResult received = receiver->wait(120s);
  EXPECT_EQ(received.exit_code, kExitConnection) << received.describe();
  EXPECT_THAT(received.err, HasSubstr("S3 PUT " + url));
  EXPECT_THAT(received.err, HasSubstr("check AWS_ENDPOINT_URL"));
  EXPECT_THAT(received.err, Not(HasSubstr(gateway_->secret_access_key())));
  EXPECT_GE(completed_in_spool(spool), 1u) << "the segments not uploaded must stay in the spool\n"
                                           << describe_archive(spool);
}

}  // namespace
}  // namespace walstream::it
