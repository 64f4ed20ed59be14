// The version matrix: `walstream clone` and `walstream receive` against every
// supported server major, 11 to 18 (15 is Debian's postgresql-15, the others
// come from tools/fetch-postgres.sh). A major whose binaries are missing fails
// its tests with a message naming that script.
//
// Client tools are Debian's 15 (pgbench, pg_verifybackup): they work against
// every major, but pg_waldump 15 reads only 15's WAL (hence
// pg_verifybackup -n elsewhere) and pg_verifybackup 15 may not read the
// version 2 manifests of 17+.
#include <signal.h>

#include <cstdint>
#include <filesystem>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/integration/test_env.h"
#include "tests/integration/wal_archive.h"

namespace walstream::it {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

std::string test_name(const ::testing::TestParamInfo<int>& info) {
  return "Pg" + std::to_string(info.param);
}

// A started primary of `major` with 1 MB segments and role r.
std::unique_ptr<PgCluster> start_primary(const std::string& name, int major,
                                         bool group_access = false) {
  PgClusterOptions options;
  options.server_major = major;
  options.group_access = group_access;
  options.wal_segment_size_mb = 1;
  auto primary = PgCluster::create_primary(name, options);
  primary->start();
  primary->exec("CREATE ROLE r REPLICATION LOGIN PASSWORD " + sql_literal(kPassword));
  return primary;
}

std::vector<std::string> with_connection(std::vector<std::string> args, const PgCluster& server,
                                         std::initializer_list<std::string> extra = {}) {
  for (const char* arg : {"-h", "127.0.0.1", "-p"}) args.emplace_back(arg);
  args.push_back(std::to_string(server.port()));
  args.emplace_back("-U");
  args.emplace_back("r");
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

void expect_streaming(PgCluster& standby) {
  std::string last;
  EXPECT_TRUE(
      standby.wait_for_value("SELECT status FROM pg_stat_wal_receiver", "streaming", 60s, &last))
      << "pg_stat_wal_receiver.status: " << last << "\n"
      << standby.log_tail(20);
}

// Complete segments of the archive equal the server's pg_wal copies, where
// the server still has them; at least one is compared.
void expect_segments_match_server(const fs::path& archive, const PgCluster& server) {
  int compared = 0;
  for (const auto& file : list_archive(archive)) {
    if (file.kind != FileKind::kComplete) continue;
    EXPECT_EQ(fs::file_size(archive / file.name), kSegmentSize) << file.name;
    const fs::path reference = server.data_dir() / "pg_wal" / file.name;
    if (!fs::exists(reference)) continue;
    EXPECT_TRUE(read_file(archive / file.name) == read_file(reference))
        << file.name << " differs from the server's";
    ++compared;
  }
  EXPECT_GT(compared, 0) << describe_archive(archive);
}

class MatrixTest : public ::testing::TestWithParam<int> {
 protected:
  int major() const { return GetParam(); }
  std::string name(const std::string& what) const { return what + "_pg" + std::to_string(major()); }
};

// With group access (data_directory_mode 0750) and a user tablespace, which
// before 15 arrives as a tar stream of its own ahead of the main directory.
TEST_P(MatrixTest, CloneStartsAsStreamingHotStandby) {
  auto primary = start_primary(name("primary"), major(), /*group_access=*/true);
  const fs::path tablespace = TestEnv::make_dir(name("tablespace"));
  primary->exec("CREATE TABLESPACE space1 LOCATION " + sql_literal(tablespace.string()));
  primary->exec(
      "CREATE TABLE fruit (id int PRIMARY KEY, name text NOT NULL);"
      "INSERT INTO fruit SELECT g, 'fruit ' || g FROM generate_series(1, 1000) g;"
      "CREATE TABLE spaced TABLESPACE space1 AS SELECT g FROM generate_series(1, 500) g");
  const CommandResult pgbench =
      run_command({TestEnv::pg_bin("pgbench").string(), "-i", "-s", "1", "-q", "-h",
                   primary->socket_dir().string(), "-p", std::to_string(primary->port()), "-U",
                   "postgres", "postgres"},
                  {}, 120s);
  ASSERT_EQ(pgbench.exit_code, 0) << pgbench.describe();

  const std::string standby_name = name("standby");
  const fs::path target = PgCluster::clone_data_dir(standby_name);
  const fs::path new_tablespace = TestEnv::unique_path(name("tablespace_clone"));
  const CommandResult clone =
      run_walstream(with_connection({"clone", "-D", target.string(), "-c", "fast"}, *primary,
                                    {"-T", tablespace.string() + "=" + new_tablespace.string()}),
                    password_env());
  ASSERT_EQ(clone.exit_code, 0) << clone.describe();
  EXPECT_EQ(permission_bits(target), 0750U);
  const std::string oid =
      primary->query_value("SELECT oid FROM pg_tablespace WHERE spcname = 'space1'");
  EXPECT_EQ(fs::read_symlink(target / "pg_tblspc" / oid), new_tablespace);
  EXPECT_FALSE(fs::is_empty(new_tablespace));

  // Standby configuration: recovery.conf before 12, standby.signal after.
  if (major() < 12) {
    EXPECT_FALSE(fs::exists(target / "standby.signal"));
    ASSERT_TRUE(fs::exists(target / "recovery.conf"));
    const std::string recovery = read_file(target / "recovery.conf");
    EXPECT_THAT(recovery, HasSubstr("standby_mode = 'on'"));
    EXPECT_THAT(recovery, HasSubstr("primary_conninfo"));
  } else {
    EXPECT_FALSE(fs::exists(target / "recovery.conf"));
    EXPECT_TRUE(fs::exists(target / "standby.signal"));
    EXPECT_THAT(read_file(target / "postgresql.auto.conf"), HasSubstr("primary_conninfo"));
  }

  // The manifest: none before 13; version 1 through 16, 2 from 17.
  const fs::path manifest = target / "backup_manifest";
  if (major() < 13) {
    EXPECT_FALSE(fs::exists(manifest));
  } else {
    ASSERT_TRUE(fs::exists(manifest));
    std::vector<std::string> verify{TestEnv::pg_bin("pg_verifybackup").string()};
    // pg_waldump 15 parses only 15's WAL.
    if (major() != TestEnv::kDefaultServerMajor) verify.emplace_back("-n");
    verify.push_back(target.string());
    const CommandResult verified = run_command(verify);
    // walstream verify parses the WAL itself, for every major.
    const CommandResult ours = run_walstream({"verify", target.string()});
    EXPECT_EQ(ours.exit_code, 0) << ours.describe();
    if (major() <= 16) {
      EXPECT_EQ(verified.exit_code, 0) << verified.describe();
    } else {
      // pg_verifybackup 15 knows manifest version 1 only: check the
      // manifest parses and says version 2.
      nlohmann::json parsed;
      ASSERT_NO_THROW(parsed = nlohmann::json::parse(read_file(manifest)));
      EXPECT_EQ(parsed.value("PostgreSQL-Backup-Manifest-Version", 0), 2);
      EXPECT_TRUE(parsed.contains("Files") && parsed["Files"].is_array());
      EXPECT_TRUE(parsed.contains("WAL-Ranges") && parsed["WAL-Ranges"].is_array());
      if (verified.exit_code != 0) {
        EXPECT_THAT(verified.err, HasSubstr("version")) << verified.describe();
      }
    }
  }

  auto standby = PgCluster::for_clone(standby_name, major());
  standby->start();
  EXPECT_EQ(standby->query_value("SELECT pg_is_in_recovery()"), "t");
  EXPECT_EQ(standby->query_value("SELECT count(*) FROM fruit"), "1000");
  EXPECT_EQ(standby->query_value("SELECT count(*) FROM pgbench_accounts"), "100000");
  EXPECT_EQ(standby->query_value("SELECT count(*) FROM spaced"), "500");
  expect_streaming(*standby);

  primary->exec("INSERT INTO fruit SELECT g, 'late ' || g FROM generate_series(1001, 1100) g");
  std::string last;
  EXPECT_TRUE(standby->wait_for_value("SELECT count(*) FROM fruit", "1100", 60s, &last))
      << "rows written after the clone did not reach the standby: " << last;
}

TEST_P(MatrixTest, ReceiveArchives) {
  auto primary = start_primary(name("recv_primary"), major());
  const fs::path archive = TestEnv::unique_path(name("recv_archive"));
  const CommandResult created = run_walstream(
      with_connection({"receive", "-D", archive.string()}, *primary, {"-S", "s", "--create-slot"}),
      password_env(), 60s);
  ASSERT_EQ(created.exit_code, 0) << created.describe();
  const std::uint64_t slot_start = parse_lsn(
      primary->query_value("SELECT restart_lsn FROM pg_replication_slots WHERE slot_name = 's'"));

  auto receive_to = [&](const std::string& endpos) {
    return run_walstream(
        with_connection({"receive", "-D", archive.string()}, *primary, {"-S", "s", "-E", endpos}),
        password_env(), 60s);
  };

  // First run on an empty archive: from the slot's restart_lsn where
  // READ_REPLICATION_SLOT exists (15+), else from the server's position.
  generate_wal(*primary, 1);
  primary->exec("INSERT INTO filler (pad) VALUES ('first endpos')");
  const std::uint64_t first_end = parse_lsn(flush_lsn(*primary));
  const CommandResult first = receive_to(format_lsn(first_end));
  ASSERT_EQ(first.exit_code, 0) << first.describe();
  const auto files = list_archive(archive);
  ASSERT_FALSE(files.empty()) << first.describe();
  const std::uint64_t first_segno = files.front().segno;
  if (major() >= 15) {
    EXPECT_EQ(first_segno, segno_of(slot_start)) << describe_archive(archive);
  } else {
    EXPECT_LE(first_segno, segno_of(first_end)) << describe_archive(archive);
  }
  EXPECT_EQ(archive_problems(archive, segno_of(first_end)), "");

  // Second run continues after what the archive holds.
  generate_wal(*primary, 3);
  primary->exec("INSERT INTO filler (pad) VALUES ('second endpos')");
  const std::uint64_t second_end = parse_lsn(flush_lsn(*primary));
  const CommandResult second = receive_to(format_lsn(second_end));
  ASSERT_EQ(second.exit_code, 0) << second.describe();
  EXPECT_EQ(list_archive(archive).front().segno, first_segno);
  EXPECT_EQ(archive_problems(archive, segno_of(second_end)), "");
  EXPECT_GE(segno_of(second_end) - first_segno, 3U) << describe_archive(archive);
  for (const auto& file : list_archive(archive)) EXPECT_EQ(file.timeline, 1U) << file.name;
  expect_segments_match_server(archive, *primary);
  const CommandResult verified = run_walstream({"verify", "--wal", archive.string()});
  EXPECT_EQ(verified.exit_code, 0) << verified.describe();
}

// A missing -S slot is a usage error before anything starts, on every major
// (before 15 there is no READ_REPLICATION_SLOT to ask), and the check leaves
// no slot behind.
TEST_P(MatrixTest, MissingSlotIsReportedUpFront) {
  auto primary = start_primary(name("slot_primary"), major());
  const fs::path target = PgCluster::clone_data_dir(name("slot_clone"));
  const CommandResult clone = run_walstream(
      with_connection({"clone", "-D", target.string(), "-c", "fast"}, *primary, {"-S", "nosuch"}),
      password_env());
  EXPECT_EQ(clone.exit_code, 2) << clone.describe();
  EXPECT_THAT(clone.err, HasSubstr("replication slot \"nosuch\" does not exist"));
  EXPECT_FALSE(fs::exists(target));

  const fs::path archive = TestEnv::unique_path(name("slot_archive"));
  const CommandResult receive = run_walstream(
      with_connection({"receive", "-D", archive.string()}, *primary, {"-S", "nosuch"}),
      password_env(), 60s);
  EXPECT_EQ(receive.exit_code, 2) << receive.describe();
  EXPECT_THAT(receive.err, HasSubstr("walstream receive -S nosuch --create-slot"));
  EXPECT_EQ(primary->query_value("SELECT count(*) FROM pg_replication_slots"), "0");
}

INSTANTIATE_TEST_SUITE_P(Matrix, MatrixTest, ::testing::Values(11, 12, 13, 14, 15, 16, 17, 18),
                         test_name);

// The receiver follows a promotion on the oldest major and on one with
// manifest version 2.
class MatrixTimelineTest : public MatrixTest {};

TEST_P(MatrixTimelineTest, FollowsTimelineSwitch) {
  auto primary = start_primary(name("tl_primary"), major());
  const std::string standby_name = name("tl_standby");
  const fs::path standby_dir = PgCluster::clone_data_dir(standby_name);
  const CommandResult clone =
      run_walstream(with_connection({"clone", "-D", standby_dir.string(), "-c", "fast"}, *primary),
                    password_env());
  ASSERT_EQ(clone.exit_code, 0) << clone.describe();
  auto standby = PgCluster::for_clone(standby_name, major());
  standby->start();
  expect_streaming(*standby);

  // Cascading: the receiver streams from the standby.
  const fs::path archive = TestEnv::unique_path(name("tl_archive"));
  auto receiver = start_walstream(
      with_connection({"receive", "-D", archive.string()}, *standby, {"-s", "1"}), password_env());
  std::uint64_t on_timeline_2 = 0;
  ASSERT_NO_FATAL_FAILURE(
      follow_timeline_switch(*primary, *standby, *receiver, archive, on_timeline_2));
  const fs::path tli2_segment = archive / segment_name(2, segno_of(on_timeline_2));

  receiver->send_signal(SIGINT);
  const CommandResult result = receiver->wait(30s);
  EXPECT_EQ(result.exit_code, 0) << result.describe();
  EXPECT_EQ(read_file(archive / "00000002.history"),
            read_file(standby->data_dir() / "pg_wal" / "00000002.history"));
  EXPECT_EQ(archive_problems(archive, segno_of(on_timeline_2)), "");
  const CommandResult verified = run_walstream({"verify", "--wal", archive.string()});
  EXPECT_EQ(verified.exit_code, 0) << verified.describe();
  EXPECT_TRUE(read_file(tli2_segment) ==
              read_file(standby->data_dir() / "pg_wal" / tli2_segment.filename()))
      << tli2_segment.filename() << " differs from the server's";
}

INSTANTIATE_TEST_SUITE_P(Matrix, MatrixTimelineTest, ::testing::Values(11, 17), test_name);

}  // namespace
}  // namespace walstream::it
