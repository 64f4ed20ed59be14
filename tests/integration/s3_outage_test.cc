// `walstream receive --archive s3://` while the bucket is unreachable: the
// suite's own RADOS Gateway is stopped (connections refused) and started
// again. Without -n the spool fills up to --max-spool-size and reading from
// the server pauses, while the connection stays alive and, with
// --ack=remote, the slot keeps the WAL on the primary; once the gateway is
// back the spool empties into the bucket and the slot advances, without a
// hole, and a clone taken before restores from the bucket alone to the
// primary's last commit. With -n the outage ends the run with the upload's
// error and the files stay in the spool.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "protocol/s3_location.h"
#include "storage/archive_scan.h"
#include "storage/s3_archive_scan.h"
#include "storage/s3_client.h"
#include "tests/integration/metrics_scraper.h"
#include "tests/integration/rgw_server.h"
#include "tests/integration/s3_archive_checks.h"
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
    // One name per test: run in one process, the suite's tests share a
    // scratch directory.
    static int started = 0;
    primary_ = start_primary("s3_outage_primary" + std::to_string(++started),
                             PgClusterOptions{.extra_conf = {"wal_sender_timeout = '3s'"}});
    create_slot(*primary_, "outage");
    location_ = protocol::S3Location{
        kBucket, std::string(testing::UnitTest::GetInstance()->current_test_info()->name()) + "/"};
  }
  void TearDown() override {
    // A test that failed with the gateway stopped must not leave it so.
    if (gateway_ && gateway_frozen_) gateway_->thaw_gateway();
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

  static EnvOverrides env() { return s3_receive_env(*gateway_); }

  std::uint64_t restart_lsn() {
    return parse_lsn(
        primary_->query_value("SELECT coalesce(restart_lsn::text, '0/0') FROM pg_replication_slots "
                              "WHERE slot_name = 'outage'"));
  }
  bool slot_active() {
    return primary_->query_value(
               "SELECT active FROM pg_replication_slots WHERE slot_name = 'outage'") == "t";
  }

  // The end of the newest segment in the bucket; 0 without any.
  std::uint64_t bucket_end() const {
    const storage::S3ArchiveScan bucket = scan_bucket(*gateway_, location_);
    if (bucket.contents.segments.empty()) return 0;
    return (bucket.contents.segments.back().segno + 1) * kSegmentSize;
  }

  static constexpr const char* kBucket = "walstream-outage";
  static std::unique_ptr<RgwServer> gateway_;
  static std::string start_error_;
  std::unique_ptr<PgCluster> primary_;
  protocol::S3Location location_;
  bool gateway_stopped_ = false;
  bool gateway_frozen_ = false;
};

std::unique_ptr<RgwServer> S3OutageTest::gateway_;
std::string S3OutageTest::start_error_;

// The whole outage under pgbench load.
TEST_F(S3OutageTest, AFullSpoolPausesReadingAndTheSlotHoldsTheWalUntilTheBucketIsBack) {
  ASSERT_NO_FATAL_FAILURE(pgbench_init(*primary_));
  primary_->exec("CREATE TABLE marker (id int PRIMARY KEY, note text)");
  const fs::path backup = PgCluster::clone_data_dir("s3_outage_clone");
  const CommandResult clone = run_walstream(
      clone_args(backup, *primary_, {"--no-standby-config", "-S", "outage"}), password_env());
  ASSERT_EQ(clone.exit_code, 0) << clone.describe();

  const std::string url = protocol::to_string(location_);
  const fs::path spool = TestEnv::unique_path("s3_outage_spool");
  auto load = start_load(*primary_);
  auto receiver =
      start_walstream(receive_args(spool, *primary_,
                                   {"-S", "outage", "--archive", url, "--ack=remote",
                                    "--max-spool-size", std::to_string(kSpoolSegments) + "MB", "-s",
                                    "1", "--no-progress", "-v", "--metrics-listen=127.0.0.1:0"}),
                      env());
  Scraper metrics(metrics_port(*receiver));
  const std::string spool_full = "walstream_receive_spool_full";
  const std::string retries = "walstream_receive_upload_retries_total";
  const std::uint64_t initial = restart_lsn();
  ASSERT_TRUE(wait_until([&] { return !receiver->running() || restart_lsn() > initial; }, 60s) &&
              receiver->running())
      << "the slot never advanced before the outage\n"
      << receiver->stderr_so_far();

  // The outage: uploads fail, completed segments pile up in the spool, and
  // reading pauses (the spool may have filled before, while catching up
  // faster than the uploads went: then it stays full).
  stop_gateway();
  ASSERT_TRUE(wait_until(
                  [&] {
                    return !receiver->running() ||
                           (metrics.value(retries) > 0 && metrics.value(spool_full) == 1);
                  },
                  60s) &&
              receiver->running())
      << "reading never paused in the outage\n"
      << metrics.last() << describe_archive(spool) << receiver->stderr_so_far();
  EXPECT_THAT(receiver->stderr_so_far(), HasSubstr("reading from the server pauses"));
  EXPECT_THAT(receiver->stderr_so_far(), HasSubstr("the slot keeps the WAL on the server"));
  EXPECT_THAT(receiver->stderr_so_far(), HasSubstr("cannot upload to " + url));

  // Paused for longer than the server's wal_sender_timeout (3 s): the spool
  // does not grow, the slot does not move, and the connection stays up on
  // status messages alone. Beyond the bound: what was read before the pause
  // took effect (the read batch in progress, 64 messages, and what libpq had
  // buffered: up to 16 segments of 1 MB here, one or two of the usual 16 MB).
  const std::uint64_t held = restart_lsn();
  const std::size_t paused_at = completed_in_spool(spool).size();
  EXPECT_LE(paused_at, static_cast<std::size_t>(kSpoolSegments + 16)) << describe_archive(spool);
  for (int i = 0; i < 12; ++i) {
    std::this_thread::sleep_for(500ms);
    EXPECT_EQ(completed_in_spool(spool).size(), paused_at)
        << "the spool grew while reading was paused\n"
        << describe_archive(spool);
    EXPECT_EQ(restart_lsn(), held) << "the slot moved while nothing reached the bucket";
    EXPECT_TRUE(slot_active()) << "the paused connection was dropped";
    EXPECT_EQ(metrics.value(spool_full), 1) << metrics.last();
  }
  EXPECT_GT(parse_lsn(flush_lsn(*primary_)), held + 4 * kSpoolSegments * kSegmentSize)
      << "the load wrote too little WAL during the outage to fill the spool many times";
  EXPECT_THAT(receiver->stderr_so_far(), Not(HasSubstr("reconnecting")));
  ASSERT_TRUE(receiver->running()) << receiver->wait(10s).describe();

  // The bucket is back: reading resumes, the load goes on for a while, then
  // the primary's last commit; everything reaches the bucket.
  start_gateway();
  ASSERT_TRUE(wait_until(
      [&] {
        const std::string err = receiver->stderr_so_far();
        return !receiver->running() ||
               (err.find("takes uploads again") != std::string::npos &&
                err.find("reading from the server again") != std::string::npos);
      },
      120s))
      << receiver->stderr_so_far();
  std::this_thread::sleep_for(1s);
  stop_load(*load);
  const std::uint64_t last_segno = commit_marker_row(*primary_);
  ASSERT_TRUE(wait_until(
                  [&] {
                    return !receiver->running() ||
                           bucket_holds_through(*gateway_, location_, last_segno);
                  },
                  120s) &&
              receiver->running())
      << "the bucket never caught up to segment " << last_segno << "\n"
      << describe_archive(spool) << receiver->stderr_so_far();
  ASSERT_TRUE(wait_until([&] { return restart_lsn() >= (last_segno + 1) * kSegmentSize; }, 30s))
      << "the slot stayed at " << format_lsn(restart_lsn());
  const CommandResult received = stop_receiver(*receiver);
  EXPECT_EQ(received.exit_code, 0) << received.describe();
  if (std::getenv("WALSTREAM_TEST_SHOW_LOG")) std::cerr << received.err;
  EXPECT_THAT(received.err, Not(HasSubstr(gateway_->secret_access_key())));
  const CommandResult verified = run_walstream({"verify", "--wal", url}, gateway_->aws_env(), 120s);
  EXPECT_EQ(verified.exit_code, 0) << verified.describe();

  // The clone, restored from the bucket alone, reaches the last commit.
  const std::string accounts = "SELECT sum(abalance) FROM pgbench_accounts";
  const std::string expected_accounts = primary_->query_value(accounts);
  primary_->stop();
  auto restored = recover_from_bucket("s3_outage_clone", url, *gateway_);
  ASSERT_TRUE(restored);
  EXPECT_EQ(restored->query_value("SELECT note FROM marker WHERE id = 1"), "last committed row");
  EXPECT_EQ(restored->query_value(accounts), expected_accounts);
  EXPECT_THAT(read_file(restored->log_file()),
              HasSubstr("restored log file \"" + segment_name(1, last_segno) + "\" from archive"));
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
  EXPECT_GE(completed_in_spool(spool).size(), 1u)
      << "the segments not uploaded must stay in the spool\n"
      << describe_archive(spool);
}

// A gateway that hangs (accepts, never answers) holds an upload for the
// client's stall timeout (a minute) per attempt; SIGINT cancels it instead
// of waiting: the run ends at once, and the file stays in the spool.
TEST_F(S3OutageTest, AStopEndsPromptlyWhileAnUploadHangs) {
  const std::string url = protocol::to_string(location_);
  const fs::path spool = TestEnv::unique_path("s3_outage_hung_spool");
  auto receiver =
      start_walstream(receive_args(spool, *primary_,
                                   {"-S", "outage", "--archive", url, "-s", "1", "--no-progress"}),
                      env());
  ASSERT_TRUE(wait_until([&] { return !receiver->running() || slot_active(); }, 60s) &&
              receiver->running())
      << receiver->wait(10s).describe();

  gateway_->freeze_gateway();
  gateway_frozen_ = true;
  generate_wal(*primary_, 2);
  ASSERT_TRUE(wait_until([&] { return !completed_in_spool(spool).empty(); }, 60s))
      << describe_archive(spool);
  std::this_thread::sleep_for(2s);  // the upload is on its way, and hangs
  ASSERT_TRUE(receiver->running()) << receiver->wait(10s).describe();

  const auto stopping = std::chrono::steady_clock::now();
  const CommandResult stopped = stop_receiver(*receiver);
  const auto took = std::chrono::steady_clock::now() - stopping;
  EXPECT_EQ(stopped.exit_code, 0) << stopped.describe();
  EXPECT_LT(took, 10s) << "SIGINT waited for the hung upload";
  EXPECT_FALSE(completed_in_spool(spool).empty()) << describe_archive(spool);

  gateway_->thaw_gateway();
  gateway_frozen_ = false;
}

}  // namespace
}  // namespace walstream::it
