// The whole S3 path against a real gateway and a real server: a clone made by
// `walstream clone`, its WAL archived into the bucket by `walstream receive
// --archive s3://` under pgbench load (killed with SIGKILL twice on the way,
// each run resuming from the bucket and the spool), and the clone restored
// from the bucket alone through `walstream restore-wal` to the primary's last
// commit.
#include <signal.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <random>
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
using testing::IsEmpty;

class S3ArchiveRestoreTest : public RgwTest {
 protected:
  static EnvOverrides env() { return s3_receive_env(server()); }
  static storage::S3ArchiveScan scan(const protocol::S3Location& location) {
    return scan_bucket(server(), location);
  }
  static bool bucket_holds_through(const protocol::S3Location& location, std::uint64_t segno) {
    return it::bucket_holds_through(server(), location, segno);
  }
};

TEST_F(S3ArchiveRestoreTest, AReceivedBucketRestoresACloneToItsLastCommit) {
  const std::uint32_t seed = kill_seed();
  SCOPED_TRACE("kill seed " + std::to_string(seed));
  std::mt19937 random(seed);
  auto kill_delay = [&] {
    return std::chrono::milliseconds(std::uniform_int_distribution<int>(0, 400)(random));
  };

  auto primary = start_primary("s3_archive_restore_primary");
  ASSERT_NO_FATAL_FAILURE(pgbench_init(*primary));
  primary->exec("CREATE TABLE marker (id int PRIMARY KEY, note text)");
  const fs::path backup = PgCluster::clone_data_dir("s3_archive_restore_clone");
  const CommandResult clone = run_walstream(
      clone_args(backup, *primary, {"--no-standby-config", "-S", "s3ar", "-C"}), password_env());
  ASSERT_EQ(clone.exit_code, 0) << clone.describe();

  const protocol::S3Location location{bucket(), unique_prefix() + "db1/"};
  const std::string url = protocol::to_string(location);
  const fs::path spool = TestEnv::unique_path("s3_archive_restore_spool");
  const std::vector<std::string> args = receive_args(
      spool, *primary, {"-S", "s3ar", "--archive", url, "--compress=zstd", "--no-progress", "-v"});
  auto walsenders_gone = [&] {
    return primary->wait_for_value(
        "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'walsender' AND usename = 'r'",
        "0", 30s);
  };

  auto load = start_load(*primary);
  // First run: killed once the bucket holds a segment.
  auto receiver = start_walstream(args, env());
  ASSERT_TRUE(
      wait_until([&] { return !receiver->running() || !scan(location).contents.segments.empty(); },
                 60s, 100ms));
  std::this_thread::sleep_for(kill_delay());
  ASSERT_TRUE(receiver->running()) << receiver->wait(10s).describe();
  CommandResult killed = stop_receiver(*receiver, SIGKILL);
  ASSERT_EQ(killed.term_signal, SIGKILL) << killed.describe();
  EXPECT_THAT(killed.err, HasSubstr("starting at the slot's restart position"))
      << killed.describe();
  ASSERT_TRUE(walsenders_gone());

  // Second run: resumes, and is killed once it uploaded three more segments.
  // Waiting on its log and the bucket, not on the primary's WAL, lets a slow
  // (sanitized) start finish its scan of the bucket before the kill.
  auto newest_in_bucket = [&] {
    const auto& segments = scan(location).contents.segments;
    return segments.empty() ? protocol::SegmentNo{0} : segments.back().segno;
  };
  const protocol::SegmentNo first_run_newest = newest_in_bucket();
  receiver = start_walstream(args, env());
  ASSERT_TRUE(wait_until(
      [&] {
        return !receiver->running() ||
               (receiver->stderr_so_far().find("continuing the archive at") != std::string::npos &&
                newest_in_bucket() >= first_run_newest + 3);
      },
      60s, 100ms));
  std::this_thread::sleep_for(kill_delay());
  ASSERT_TRUE(receiver->running()) << receiver->wait(10s).describe();
  killed = stop_receiver(*receiver, SIGKILL);
  ASSERT_EQ(killed.term_signal, SIGKILL) << killed.describe();
  EXPECT_THAT(killed.err, HasSubstr("continuing the archive at")) << killed.describe();
  ASSERT_TRUE(walsenders_gone());

  // Third run, still under load, and then the primary's last commit.
  receiver = start_walstream(args, env());
  std::this_thread::sleep_for(1s);
  stop_load(*load);
  const std::uint64_t last_segno = commit_marker_row(*primary);
  // It ends once the segment of the last commit, and every one before it,
  // is in the bucket.
  ASSERT_TRUE(
      wait_until([&] { return !receiver->running() || bucket_holds_through(location, last_segno); },
                 60s, 100ms));
  ASSERT_TRUE(receiver->running()) << receiver->wait(10s).describe();
  const CommandResult ended = stop_receiver(*receiver);
  EXPECT_EQ(ended.exit_code, 0) << ended.describe();
  EXPECT_THAT(ended.err, HasSubstr("continuing the archive at")) << ended.describe();

  const std::string accounts = "SELECT sum(abalance) FROM pgbench_accounts";
  const std::string history = "SELECT count(*) FROM pgbench_history";
  const std::string expected_accounts = primary->query_value(accounts);
  const std::string expected_history = primary->query_value(history);
  ASSERT_NE(expected_history, "0") << "the load wrote nothing";
  primary->stop();

  // The bucket is a complete archive, the spool kept nothing completed.
  const CommandResult verified = run_walstream({"verify", "--wal", url}, server().aws_env(), 120s);
  EXPECT_EQ(verified.exit_code, 0) << verified.describe();
  EXPECT_THAT(verified.out, HasSubstr("WAL archive verified"));
  EXPECT_THAT(completed_in_spool(spool), IsEmpty()) << describe_archive(spool);

  // Restore from the bucket alone: the primary is down, the clone has no
  // primary_conninfo, and its pg_wal holds only the backup's WAL.
  auto restored = recover_from_bucket("s3_archive_restore_clone", url, server());
  ASSERT_TRUE(restored);
  EXPECT_EQ(restored->query_value("SELECT note FROM marker WHERE id = 1"), "last committed row");
  EXPECT_EQ(restored->query_value(accounts), expected_accounts);
  EXPECT_EQ(restored->query_value(history), expected_history);
  const std::string log = read_file(restored->log_file());
  EXPECT_THAT(log,
              HasSubstr("restored log file \"" + segment_name(1, last_segno) + "\" from archive"))
      << restored->log_tail(30);
  EXPECT_GE(restored_files(log), 4) << restored->log_tail(30);
}

}  // namespace
}  // namespace walstream::it
