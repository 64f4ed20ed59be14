// Cascading: `walstream clone` and `walstream receive` pointed at a hot
// standby instead of the primary, while the primary keeps writing.
#include <algorithm>
#include <atomic>
#include <csignal>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/integration/test_env.h"

namespace walstream::it {
namespace {

namespace fs = std::filesystem;

TEST(CascadeTest, CloneAndReceiveFromAHotStandby) {
  auto primary = PgCluster::create_primary("cascade_primary");
  primary->start();
  primary->exec("CREATE ROLE r REPLICATION LOGIN PASSWORD " + sql_literal(kPassword));
  primary->exec("CREATE TABLE t AS SELECT g AS id FROM generate_series(1, 1000) g");

  // Primary -> first standby, made by walstream clone.
  const fs::path first_dir = PgCluster::clone_data_dir("cascade_first");
  CommandResult result = run_walstream({"clone", "-D", first_dir.string(), "-h", "127.0.0.1", "-p",
                                        std::to_string(primary->port()), "-U", "r"},
                                       password_env());
  ASSERT_EQ(result.exit_code, 0) << result.describe();
  auto first = PgCluster::for_clone("cascade_first");
  first->start();
  ASSERT_EQ(first->query_value("SELECT pg_is_in_recovery()"), "t");

  // The primary writes the whole time the second clone is taken.
  std::atomic<bool> writing = true;
  std::thread writer([&] {
    int batch = 0;
    while (writing) {
      primary->exec("INSERT INTO t SELECT 100000 + " + std::to_string(batch++) +
                    " * 100 + g FROM generate_series(1, 100) g");
    }
  });

  // First standby -> second standby (a clone of a standby), and an archive
  // received from the first standby.
  const fs::path second_dir = PgCluster::clone_data_dir("cascade_second");
  const fs::path archive = TestEnv::unique_path("cascade_archive");
  auto receiver = start_walstream({"receive", "-D", archive.string(), "-h", "127.0.0.1", "-p",
                                   std::to_string(first->port()), "-U", "r"},
                                  password_env());
  result = run_walstream({"clone", "-D", second_dir.string(), "-h", "127.0.0.1", "-p",
                          std::to_string(first->port()), "-U", "r", "-v"},
                         password_env());
  writing = false;
  writer.join();
  ASSERT_EQ(result.exit_code, 0) << result.describe();

  const CommandResult verify =
      run_command({TestEnv::pg_bin("pg_verifybackup").string(), second_dir.string()});
  EXPECT_EQ(verify.exit_code, 0) << verify.describe();

  // The second standby streams from the first and catches up with the primary.
  auto second = PgCluster::for_clone("cascade_second");
  second->start();
  EXPECT_EQ(second->query_value("SELECT pg_is_in_recovery()"), "t");
  std::string last;
  EXPECT_TRUE(
      second->wait_for_value("SELECT status FROM pg_stat_wal_receiver", "streaming", 60s, &last))
      << last;
  const std::string rows = primary->query_value("SELECT count(*) FROM t");
  EXPECT_TRUE(second->wait_for_value("SELECT count(*) FROM t", rows, 60s, &last))
      << "primary has " << rows << ", second standby " << last;

  // The archive taken from the first standby has WAL and stops cleanly.
  primary->exec("SELECT pg_switch_wal()");
  primary->exec("INSERT INTO t VALUES (-1)");
  EXPECT_TRUE(wait_until([&] {
    for (const auto& entry : fs::directory_iterator(archive)) {
      const std::string name = entry.path().filename().string();
      if (name.size() == 24) return true;  // a complete segment
    }
    return false;
  }));
  receiver->send_signal(SIGINT);
  const CommandResult received = receiver->wait(60s);
  EXPECT_EQ(received.exit_code, 0) << received.describe();
}

// Finding 8: PostgreSQL marks only full segments as archived. A clone of an
// idle standby ends in the middle of a segment (a standby's backup ends at
// its minimum recovery point, with no segment switch): that last segment
// must not get archive_status/NAME.done, or a standby with archive_mode =
// always would never archive it once it is complete. The full ones must.
TEST(CascadeTest, CloneMarksOnlyFullSegmentsArchived) {
  auto primary = PgCluster::create_primary("done_primary");
  primary->start();
  primary->exec("CREATE ROLE r REPLICATION LOGIN PASSWORD " + sql_literal(kPassword));
  const fs::path first_dir = PgCluster::clone_data_dir("done_first");
  CommandResult result = run_walstream({"clone", "-D", first_dir.string(), "-h", "127.0.0.1", "-p",
                                        std::to_string(primary->port()), "-U", "r"},
                                       password_env());
  ASSERT_EQ(result.exit_code, 0) << result.describe();
  auto first = PgCluster::for_clone("done_first");
  first->start();

  // The standby's restartpoint (the clone's start) lies in one segment, its
  // replay position (the clone's end) in the middle of the next one.
  primary->exec("CREATE TABLE t AS SELECT g AS id FROM generate_series(1, 1000) g");
  primary->exec("CHECKPOINT");
  primary->exec("SELECT pg_switch_wal()");
  primary->exec("INSERT INTO t SELECT g FROM generate_series(1, 1000) g");
  const std::string flushed = primary->query_value("SELECT pg_current_wal_flush_lsn()");
  std::string last;
  ASSERT_TRUE(first->wait_for_value("SELECT pg_last_wal_replay_lsn() >= '" + flushed + "'", "t",
                                    60s, &last))
      << last;

  const fs::path second_dir = PgCluster::clone_data_dir("done_second");
  result = run_walstream({"clone", "-D", second_dir.string(), "-h", "127.0.0.1", "-p",
                          std::to_string(first->port()), "-U", "r", "--no-standby-config"},
                         password_env());
  ASSERT_EQ(result.exit_code, 0) << result.describe();

  // The segment holding the backup's end, as the server names it.
  const std::string last_name =
      primary->query_value("SELECT pg_walfile_name(" + sql_literal(flushed) + ")");
  std::vector<std::string> segments;
  for (const auto& entry : fs::directory_iterator(second_dir / "pg_wal")) {
    const std::string name = entry.path().filename().string();
    if (name.size() == 24 && name.find_first_not_of("0123456789ABCDEF") == std::string::npos) {
      segments.push_back(name);
    }
  }
  std::sort(segments.begin(), segments.end());
  ASSERT_GE(segments.size(), 2U) << "expected a full segment and the incomplete last one";
  ASSERT_EQ(segments.back(), last_name) << "the last segment is the one holding " << flushed;
  for (const std::string& name : segments) {
    const bool done = fs::exists(second_dir / "pg_wal" / "archive_status" / (name + ".done"));
    if (name == last_name) {
      EXPECT_FALSE(done) << name << " is incomplete but marked archived";
    } else {
      EXPECT_TRUE(done) << name << " is complete but not marked archived";
    }
  }
}

}  // namespace
}  // namespace walstream::it
