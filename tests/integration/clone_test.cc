// End-to-end tests of `walstream clone` against real PostgreSQL servers: the
// clone must verify with pg_verifybackup, start as a streaming hot standby,
// and every failure must leave one clear error line and no half-made target.
#include <signal.h>

#include <cstdint>
#include <filesystem>
#include <initializer_list>
#include <iostream>
#include <map>
#include <memory>
#include <random>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/integration/test_env.h"

namespace walstream::it {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr const char* kOddPassword = R"(pa'ss\wo rd)";
// postgresql.auto.conf cannot hold a raw newline inside a quoted string.
constexpr const char* kNewlinePassword = "line one\nline 'two'";
constexpr const char* kErrorPrefix = "walstream: error: ";

// `walstream clone -D target -h 127.0.0.1 -p PORT -U user -c fast extra...`.
// A fast checkpoint keeps BASE_BACKUP from spreading its checkpoint over
// minutes.
std::vector<std::string> clone_args(const fs::path& target, int port, const std::string& user,
                                    std::initializer_list<std::string> extra = {}) {
  std::vector<std::string> args{
      "clone", "-D", target.string(), "-h", "127.0.0.1", "-p", std::to_string(port), "-U",
      user,    "-c", "fast"};
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

void expect_verifies(const fs::path& target) {
  const CommandResult verify =
      run_command({TestEnv::pg_bin("pg_verifybackup").string(), target.string()});
  EXPECT_EQ(verify.exit_code, 0) << "pg_verifybackup " << target << ": " << verify.describe();
}

bool is_non_empty_dir(const fs::path& dir) {
  std::error_code error;
  return fs::is_directory(dir, error) && !fs::is_empty(dir, error);
}

// The failure contract: exit `exit_code`, exactly one line on stderr that
// starts with "walstream: error: " and names the cause (one of `causes`), the
// target that walstream created is gone, and the password was never printed.
void expect_clean_failure(const CommandResult& result, int exit_code,
                          const std::vector<std::string>& causes, const fs::path& target,
                          const std::string& password) {
  EXPECT_FALSE(result.timed_out) << result.describe();
  EXPECT_EQ(result.exit_code, exit_code) << result.describe();
  const std::vector<std::string> lines = non_empty_lines(result.err);
  ASSERT_EQ(lines.size(), 1U) << result.describe();
  EXPECT_THAT(lines.front(), ::testing::StartsWith(kErrorPrefix));
  bool named = false;
  for (const auto& cause : causes) named = named || lines.front().find(cause) != std::string::npos;
  EXPECT_TRUE(named) << "error line does not name any of the expected causes ("
                     << ::testing::PrintToString(causes) << "): " << lines.front();
  EXPECT_FALSE(fs::exists(target)) << target << " was left behind";
  EXPECT_THAT(result.out + result.err, Not(HasSubstr(password)));
}

// One primary shared by the tests whose server configuration is the default:
// roles r (replication), q and nl (replication, awkward passwords), norepl (no
// REPLICATION attribute), nohba (REPLICATION but no pg_hba.conf entry for
// replication), and a table `fruit` with 1000 rows.
class CloneTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    try {
      PgClusterOptions options;
      options.hba_lines = {
          "local all all trust",
          "host replication r 127.0.0.1/32 scram-sha-256",
          "host replication q 127.0.0.1/32 scram-sha-256",
          "host replication nl 127.0.0.1/32 scram-sha-256",
          "host replication norepl 127.0.0.1/32 scram-sha-256",
          "host all all 127.0.0.1/32 scram-sha-256",
      };
      primary_ = PgCluster::create_primary("primary", options);
      primary_->start();
      const std::string password = sql_literal(kPassword);
      primary_->exec("CREATE ROLE r REPLICATION LOGIN PASSWORD " + password);
      primary_->exec("CREATE ROLE q REPLICATION LOGIN PASSWORD " + sql_literal(kOddPassword));
      primary_->exec("CREATE ROLE nl REPLICATION LOGIN PASSWORD " + sql_literal(kNewlinePassword));
      primary_->exec("CREATE ROLE norepl LOGIN PASSWORD " + password);
      primary_->exec("CREATE ROLE nohba REPLICATION LOGIN PASSWORD " + password);
      primary_->exec(
          "CREATE TABLE fruit (id int PRIMARY KEY, name text NOT NULL);"
          "INSERT INTO fruit SELECT g, 'fruit ' || g FROM generate_series(1, 1000) g");
    } catch (const std::exception& error) {
      setup_error_ = error.what();
      primary_.reset();
    }
  }

  static void TearDownTestSuite() { primary_.reset(); }

  void SetUp() override { ASSERT_TRUE(primary_) << "shared primary failed: " << setup_error_; }

  static PgCluster& primary() { return *primary_; }

  static std::unique_ptr<PgCluster> primary_;
  static std::string setup_error_;
};

std::unique_ptr<PgCluster> CloneTest::primary_;
std::string CloneTest::setup_error_;

// Waits until the standby's WAL receiver reports `streaming`.
void expect_streaming(PgCluster& standby) {
  std::string last;
  EXPECT_TRUE(
      standby.wait_for_value("SELECT status FROM pg_stat_wal_receiver", "streaming", 60s, &last))
      << "pg_stat_wal_receiver.status: " << last;
}

TEST_F(CloneTest, CloneStartsAsStreamingHotStandby) {
  const fs::path target = PgCluster::clone_data_dir("standby_a");
  const CommandResult result =
      run_walstream(clone_args(target, primary().port(), "r"), password_env(kPassword));
  ASSERT_EQ(result.exit_code, 0) << result.describe();

  expect_verifies(target);
  EXPECT_TRUE(fs::exists(target / "backup_manifest"));
  EXPECT_FALSE(fs::exists(target / "backup_manifest.tmp"));
  EXPECT_TRUE(fs::exists(target / "standby.signal"));
  EXPECT_THAT(read_file(target / "postgresql.auto.conf"), HasSubstr("primary_conninfo"));

  auto standby = PgCluster::for_clone("standby_a");
  standby->start();
  EXPECT_EQ(standby->query_value("SELECT pg_is_in_recovery()"), "t");
  EXPECT_EQ(standby->query_value("SELECT count(*) FROM fruit"), "1000");
  expect_streaming(*standby);

  primary().exec(
      "CREATE TABLE after_clone_a AS SELECT g AS id FROM generate_series(1, 25) g;"
      "INSERT INTO fruit VALUES (100001, 'late fruit')");
  std::string last;
  EXPECT_TRUE(standby->wait_for_value("SELECT count(*) FROM after_clone_a", "25", 60s, &last))
      << last;
  EXPECT_TRUE(
      standby->wait_for_value("SELECT name FROM fruit WHERE id = 100001", "late fruit", 60s, &last))
      << last;
}

TEST_F(CloneTest, SlotCreatedBeforeBackupAndNamedInConfig) {
  const fs::path target = PgCluster::clone_data_dir("standby_slot");
  const CommandResult result =
      run_walstream(clone_args(target, primary().port(), "r", {"-S", "clone_slot", "-C"}),
                    password_env(kPassword));
  ASSERT_EQ(result.exit_code, 0) << result.describe();

  EXPECT_EQ(primary().query_value("SELECT slot_type || ',' || (restart_lsn IS NOT NULL)::text "
                                  "FROM pg_replication_slots WHERE slot_name = 'clone_slot'"),
            "physical,true");
  // Reserved before the backup started: the slot holds the WAL the backup
  // begins with.
  const std::string label = read_file(target / "backup_label");
  std::smatch start;
  ASSERT_TRUE(
      std::regex_search(label, start, std::regex(R"(START WAL LOCATION: ([0-9A-F]+/[0-9A-F]+))")))
      << label;
  EXPECT_EQ(primary().query_value("SELECT restart_lsn <= '" + start[1].str() +
                                  "'::pg_lsn FROM pg_replication_slots "
                                  "WHERE slot_name = 'clone_slot'"),
            "t");
  EXPECT_THAT(read_file(target / "postgresql.auto.conf"),
              HasSubstr("primary_slot_name = 'clone_slot'"));

  auto standby = PgCluster::for_clone("standby_slot");
  standby->start();
  std::string last;
  EXPECT_TRUE(primary().wait_for_value(
      "SELECT active FROM pg_replication_slots WHERE slot_name = 'clone_slot'", "t", 60s, &last))
      << last;
  expect_streaming(*standby);

  standby->stop();
  EXPECT_TRUE(primary().wait_for_value(
      "SELECT active FROM pg_replication_slots WHERE slot_name = 'clone_slot'", "f", 60s, &last))
      << last;
  primary().exec("SELECT pg_drop_replication_slot('clone_slot')");
}

TEST_F(CloneTest, PasswordWithQuoteAndBackslashRoundTrips) {
  const fs::path target = PgCluster::clone_data_dir("standby_pw");
  // -v -P: even the verbose output must not show the password.
  const CommandResult result = run_walstream(
      clone_args(target, primary().port(), "q", {"-v", "-P"}), password_env(kOddPassword));
  ASSERT_EQ(result.exit_code, 0) << result.describe();
  EXPECT_THAT(result.out + result.err, Not(HasSubstr(kOddPassword)));
  EXPECT_THAT(result.out + result.err, Not(HasSubstr("wo rd")));

  // The standby authenticates with what primary_conninfo says: it can only
  // stream if the password survived quoting in postgresql.auto.conf.
  auto standby = PgCluster::for_clone("standby_pw");
  standby->start();
  expect_streaming(*standby);
  EXPECT_EQ(primary().query_value("SELECT count(*) FROM pg_stat_replication WHERE usename = 'q'"),
            "1");
}

TEST_F(CloneTest, PasswordWithNewlineRoundTrips) {
  const fs::path target = PgCluster::clone_data_dir("standby_nl");
  const CommandResult result =
      run_walstream(clone_args(target, primary().port(), "nl"), password_env(kNewlinePassword));
  ASSERT_EQ(result.exit_code, 0) << result.describe();

  // The server must accept the configuration file, and the standby then
  // authenticates with the password read back from it.
  auto standby = PgCluster::for_clone("standby_nl");
  standby->start();
  expect_streaming(*standby);
  EXPECT_EQ(primary().query_value("SELECT count(*) FROM pg_stat_replication WHERE usename = 'nl'"),
            "1");
}

TEST_F(CloneTest, OwnerOnlyModesByDefault) {
  ASSERT_EQ(primary().query_value("SHOW data_directory_mode"), "0700");
  const fs::path target = PgCluster::clone_data_dir("standby_modes");
  const CommandResult result =
      run_walstream(clone_args(target, primary().port(), "r"), password_env(kPassword));
  ASSERT_EQ(result.exit_code, 0) << result.describe();
  EXPECT_EQ(permission_bits(target), 0700U);
  EXPECT_EQ(permission_bits(target / "pg_wal"), 0700U);
  EXPECT_EQ(permission_bits(target / "PG_VERSION"), 0600U);
  EXPECT_EQ(permission_bits(target / "global" / "pg_control"), 0600U);
}

TEST_F(CloneTest, NoStandbyConfig) {
  const fs::path target = PgCluster::clone_data_dir("plain_copy");
  const CommandResult result = run_walstream(
      clone_args(target, primary().port(), "r", {"--no-standby-config"}), password_env(kPassword));
  ASSERT_EQ(result.exit_code, 0) << result.describe();
  EXPECT_FALSE(fs::exists(target / "standby.signal"));
  if (fs::exists(target / "postgresql.auto.conf")) {
    EXPECT_THAT(read_file(target / "postgresql.auto.conf"), Not(HasSubstr("primary_conninfo")));
  }
  expect_verifies(target);
}

TEST_F(CloneTest, NoSyncStillNamesTheManifest) {
  // -N skips the final sync, not the rename that marks the backup complete.
  const fs::path target = PgCluster::clone_data_dir("no_sync");
  const CommandResult result =
      run_walstream(clone_args(target, primary().port(), "r", {"-N"}), password_env(kPassword));
  ASSERT_EQ(result.exit_code, 0) << result.describe();
  EXPECT_TRUE(fs::exists(target / "backup_manifest"));
  EXPECT_FALSE(fs::exists(target / "backup_manifest.tmp"));
  expect_verifies(target);
}

TEST_F(CloneTest, WrongPassword) {
  const fs::path target = PgCluster::clone_data_dir("fail_password");
  const std::string wrong = "Wr0ng-pAssw0rd-zq";
  const CommandResult result =
      run_walstream(clone_args(target, primary().port(), "r"), password_env(wrong));
  expect_clean_failure(result, kExitConnection, {"password authentication failed"}, target, wrong);
}

TEST_F(CloneTest, RoleWithoutReplication) {
  const fs::path target = PgCluster::clone_data_dir("fail_norepl");
  const CommandResult result =
      run_walstream(clone_args(target, primary().port(), "norepl"), password_env(kPassword));
  // PostgreSQL 15: "must be superuser or replication role to start walsender";
  // 16+: "... REPLICATION attribute ...".
  expect_clean_failure(result, kExitConnection, {"replication role", "REPLICATION attribute"},
                       target, kPassword);
}

TEST_F(CloneTest, NoPgHbaEntry) {
  const fs::path target = PgCluster::clone_data_dir("fail_hba");
  const CommandResult result =
      run_walstream(clone_args(target, primary().port(), "nohba"), password_env(kPassword));
  expect_clean_failure(result, kExitConnection, {"no pg_hba.conf entry"}, target, kPassword);
}

TEST_F(CloneTest, UnreachableHost) {
  const ReservedPort closed;  // Bound, never listening: connecting is refused.
  const fs::path target = PgCluster::clone_data_dir("fail_unreachable");
  const CommandResult result =
      run_walstream(clone_args(target, closed.port(), "r"), password_env(kPassword));
  expect_clean_failure(result, kExitConnection, {"Connection refused", "could not connect"}, target,
                       kPassword);
}

TEST_F(CloneTest, NonEmptyTarget) {
  const fs::path target = PgCluster::clone_data_dir("fail_nonempty");
  fs::create_directories(target);
  write_file(target / "keep.txt", "precious\n");
  const CommandResult result =
      run_walstream(clone_args(target, primary().port(), "r"), password_env(kPassword));
  // The user named it: a usage error.
  EXPECT_EQ(result.exit_code, kExitUsage) << result.describe();
  const std::vector<std::string> lines = non_empty_lines(result.err);
  ASSERT_EQ(lines.size(), 1U) << result.describe();
  EXPECT_THAT(lines.front(), ::testing::StartsWith(kErrorPrefix));
  EXPECT_THAT(lines.front(), HasSubstr("not empty"));
  ASSERT_TRUE(fs::is_directory(target));
  EXPECT_EQ(read_file(target / "keep.txt"), "precious\n");
  EXPECT_EQ(std::distance(fs::directory_iterator(target), fs::directory_iterator()), 1);
}

TEST_F(CloneTest, UsageError) {
  const CommandResult no_target = run_walstream({"clone", "-h", "127.0.0.1", "-U", "r"});
  EXPECT_EQ(no_target.exit_code, 2) << no_target.describe();
  EXPECT_FALSE(no_target.err.empty());

  const fs::path target = PgCluster::clone_data_dir("fail_usage");
  const CommandResult bad_option =
      run_walstream({"clone", "-D", target.string(), "--no-such-option"});
  EXPECT_EQ(bad_option.exit_code, 2) << bad_option.describe();
  EXPECT_FALSE(fs::exists(target));

  const CommandResult bad_mode = run_walstream({"clone", "-D", target.string(), "-c", "slow"});
  EXPECT_EQ(bad_mode.exit_code, 2) << bad_mode.describe();
  EXPECT_FALSE(fs::exists(target));
}

// --- Tests that need a server configured differently -----------------------

// A primary with role r (password kPassword) and a table, started.
std::unique_ptr<PgCluster> start_dedicated_primary(std::string_view name,
                                                   const PgClusterOptions& options) {
  auto primary = PgCluster::create_primary(name, options);
  primary->start();
  primary->exec("CREATE ROLE r REPLICATION LOGIN PASSWORD " + sql_literal(kPassword));
  primary->exec("CREATE TABLE t AS SELECT g AS id FROM generate_series(1, 100) g");
  return primary;
}

TEST(CloneDedicatedTest, GroupAccessModesFollowServer) {
  PgClusterOptions options;
  options.group_access = true;
  auto primary = start_dedicated_primary("group_primary", options);
  ASSERT_EQ(primary->query_value("SHOW data_directory_mode"), "0750");

  const fs::path target = PgCluster::clone_data_dir("group_clone");
  const CommandResult result =
      run_walstream(clone_args(target, primary->port(), "r"), password_env(kPassword));
  ASSERT_EQ(result.exit_code, 0) << result.describe();
  EXPECT_EQ(permission_bits(target), 0750U);
  EXPECT_EQ(permission_bits(target / "pg_wal"), 0750U);
  EXPECT_EQ(permission_bits(target / "global"), 0750U);
  EXPECT_EQ(permission_bits(target / "PG_VERSION"), 0640U);
  EXPECT_EQ(permission_bits(target / "global" / "pg_control"), 0640U);
}

TEST(CloneDedicatedTest, MaxWalSendersExhausted) {
  // BASE_BACKUP takes the only WAL sender; the WAL stream's connection is
  // refused.
  PgClusterOptions options;
  options.max_wal_senders = 1;
  auto primary = start_dedicated_primary("one_sender", options);
  const fs::path target = PgCluster::clone_data_dir("fail_senders");
  const CommandResult result =
      run_walstream(clone_args(target, primary->port(), "r"), password_env(kPassword));
  expect_clean_failure(result, kExitConnection, {"max_wal_senders"}, target, kPassword);
}

TEST(CloneDedicatedTest, CloneUnderPgbenchLoadIsConsistent) {
  auto primary = start_dedicated_primary("load_primary", {});
  const CommandResult init = run_command(pgbench_argv(*primary, {"-i", "-s", "5", "-q"}));
  ASSERT_EQ(init.exit_code, 0) << init.describe();

  auto load = Process::start(pgbench_argv(*primary, {"-c", "2", "-j", "2", "-T", "600", "-n"}));
  std::string last;
  ASSERT_TRUE(
      primary->wait_for_value("SELECT count(*) >= 200 FROM pgbench_history", "t", 60s, &last))
      << "pgbench does not write: " << last << "\n"
      << load->stderr_so_far();

  const fs::path target = PgCluster::clone_data_dir("load_standby");
  const CommandResult result =
      run_walstream(clone_args(target, primary->port(), "r"), password_env(kPassword));
  ASSERT_EQ(result.exit_code, 0) << result.describe();
  ASSERT_TRUE(load->running()) << "pgbench stopped during the clone:\n" << load->stderr_so_far();
  const std::string history_after_clone =
      primary->query_value("SELECT count(*) FROM pgbench_history");
  // Keep writing a little past the clone so the standby must stream.
  ASSERT_TRUE(primary->wait_for_value(
      "SELECT count(*) >= " + history_after_clone + " + 200 FROM pgbench_history", "t", 60s, &last))
      << last;
  load->send_signal(SIGINT);
  const CommandResult load_result = load->wait(60s);
  ASSERT_FALSE(load_result.timed_out) << load_result.describe();
  // Its backends may still be committing: wait until they are gone.
  ASSERT_TRUE(
      primary->wait_for_value("SELECT count(*) FROM pg_stat_activity "
                              "WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()",
                              "0", 60s, &last))
      << last;
  const std::string end_lsn = primary->query_value("SELECT pg_current_wal_lsn()");

  expect_verifies(target);
  auto standby = PgCluster::for_clone("load_standby");
  standby->start();
  ASSERT_TRUE(standby->wait_for_value(
      "SELECT pg_last_wal_replay_lsn() >= '" + end_lsn + "'::pg_lsn", "t", 120s, &last))
      << "standby did not replay up to " << end_lsn << ": " << last;

  for (const char* table :
       {"pgbench_accounts", "pgbench_branches", "pgbench_tellers", "pgbench_history"}) {
    const std::string digest =
        std::string("SELECT count(*) || ':' || md5(string_agg(t::text, ',' ") +
        "ORDER BY t::text)) FROM " + table + " t";
    EXPECT_EQ(standby->query_value(digest), primary->query_value(digest)) << table;
  }
  EXPECT_GT(std::stoll(standby->query_value("SELECT count(*) FROM pgbench_history")),
            std::stoll(history_after_clone));
}

// Every path under `dir` with its type and size: what a refused run must
// leave exactly as it was.
std::map<std::string, std::string> tree_listing(const fs::path& dir) {
  std::map<std::string, std::string> listing;
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    const std::string relative = fs::relative(entry.path(), dir).string();
    if (entry.is_symlink()) {
      listing[relative] = "link";
    } else if (entry.is_directory()) {
      listing[relative] = "dir";
    } else {
      listing[relative] = std::to_string(entry.file_size());
    }
  }
  return listing;
}

// Waits until no walsender of role r runs and no replication slot is left
// (a killed clone's temporary slot goes with its walsender).
void expect_primary_released_clone(PgCluster& primary) {
  std::string last;
  EXPECT_TRUE(primary.wait_for_value(
      "SELECT (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'walsender' AND "
      "usename = 'r') || ',' || (SELECT count(*) FROM pg_replication_slots)",
      "0,0", 30s, &last))
      << "walsenders, slots left: " << last;
}

// SIGKILL leaves walstream no chance to clean up. Ten clones killed at random
// moments: a re-run into what one left is refused without touching it (or
// the test removes it), the primary keeps no slot or walsender, and a clone
// into a fresh directory afterwards makes a standby that streams.
TEST(CloneDedicatedTest, KillNineLoopThenCloneStreams) {
  constexpr int kKills = 10;
  const std::uint32_t seed = kill_seed();
  SCOPED_TRACE("kill seed " + std::to_string(seed));
  std::mt19937 random(seed);
  auto primary = start_dedicated_primary("killclone_primary", {});
  // Slowed down to 16 MB/s, a clone of the ~22 MB cluster takes over a
  // second. The kill moments spread over the whole of one, last steps
  // included (WAL to the end position, standby configuration, sync, the
  // manifest's rename); a clone that still finishes first is run again.
  auto throttled_clone = [&](const fs::path& target) {
    std::vector<std::string> argv{TestEnv::walstream_binary().string()};
    for (auto& arg : clone_args(target, primary->port(), "r", {"-r", "16M"})) argv.push_back(arg);
    return Process::start(argv, password_env(kPassword));
  };
  const fs::path timed = PgCluster::clone_data_dir("killclone_timed");
  const auto started = std::chrono::steady_clock::now();
  const CommandResult whole = throttled_clone(timed)->wait(120s);
  const auto duration = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - started);
  ASSERT_EQ(whole.exit_code, 0) << whole.describe();
  fs::remove_all(timed.parent_path());
  std::uniform_int_distribution<int> delay_ms(0, static_cast<int>(duration.count()));

  int kills = 0;
  int finished_first = 0;
  int refused = 0;
  for (int attempt = 1; kills < kKills; ++attempt) {
    ASSERT_LE(finished_first, kKills) << "most clones finished before their kill";
    SCOPED_TRACE("attempt " + std::to_string(attempt) + ", kill " + std::to_string(kills + 1));
    const fs::path target = PgCluster::clone_data_dir("killclone_" + std::to_string(attempt));
    auto clone = throttled_clone(target);
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms(random)));
    if (!clone->running()) {
      const CommandResult finished = clone->wait(10s);
      ASSERT_EQ(finished.exit_code, 0) << finished.describe();
      ++finished_first;
    } else {
      const CommandResult killed = stop_receiver(*clone, SIGKILL);
      ASSERT_EQ(killed.term_signal, SIGKILL) << killed.describe();
      ++kills;
      expect_primary_released_clone(*primary);
      // Every other kill a re-run meets what it left.
      if (kills % 2 == 0 && is_non_empty_dir(target)) {
        const auto before = tree_listing(target);
        const CommandResult rerun =
            run_walstream(clone_args(target, primary->port(), "r"), password_env(kPassword), 60s);
        EXPECT_EQ(rerun.exit_code, kExitUsage) << rerun.describe();
        const std::vector<std::string> lines = non_empty_lines(rerun.err);
        ASSERT_EQ(lines.size(), 1U) << rerun.describe();
        EXPECT_THAT(lines.front(), ::testing::StartsWith(kErrorPrefix));
        EXPECT_THAT(lines.front(), HasSubstr("not empty"));
        EXPECT_TRUE(tree_listing(target) == before) << "the refused re-run changed " << target;
        ++refused;
      }
    }
    std::error_code error;
    fs::remove_all(target.parent_path(), error);
    ASSERT_FALSE(error) << error.message();
  }
  std::cout << kKills << " kills within " << duration.count() << " ms of the start, "
            << finished_first << " clones finished before their kill, " << refused
            << " targets refused by a re-run\n";
  EXPECT_GT(refused, 0) << "no kill left a non-empty target to refuse";
  expect_primary_released_clone(*primary);

  const fs::path target = PgCluster::clone_data_dir("killclone_final");
  const CommandResult result =
      run_walstream(clone_args(target, primary->port(), "r"), password_env(kPassword));
  ASSERT_EQ(result.exit_code, 0) << result.describe();
  expect_verifies(target);
  auto standby = PgCluster::for_clone("killclone_final");
  standby->start();
  expect_streaming(*standby);
  primary->exec("CREATE TABLE after_kills AS SELECT 'written after the clone'::text AS note");
  std::string last;
  EXPECT_TRUE(standby->wait_for_value("SELECT note FROM after_kills", "written after the clone",
                                      60s, &last))
      << last;
}

TEST(CloneDedicatedTest, InterruptRemovesTarget) {
  auto primary = start_dedicated_primary("big_primary", {});
  const CommandResult init = run_command(pgbench_argv(*primary, {"-i", "-s", "20", "-q"}));
  ASSERT_EQ(init.exit_code, 0) << init.describe();

  const fs::path target = PgCluster::clone_data_dir("interrupted");
  std::vector<std::string> argv{TestEnv::walstream_binary().string()};
  for (auto& arg : clone_args(target, primary->port(), "r", {"-r", "1024"})) argv.push_back(arg);
  auto clone = Process::start(argv, password_env(kPassword));
  // At 1 MB/s the 300 MB backup is far from done once files start to arrive.
  ASSERT_TRUE(wait_until([&] { return is_non_empty_dir(target) || !clone->running(); }, 60s));
  ASSERT_TRUE(clone->running()) << "clone ended early: " << clone->wait(10s).describe();
  std::this_thread::sleep_for(1s);  // Deliberately mid-transfer, not just after mkdir.
  clone->send_signal(SIGINT);
  const CommandResult result = clone->wait(60s);

  EXPECT_FALSE(result.timed_out) << "SIGINT did not stop walstream: " << result.describe();
  EXPECT_EQ(result.exit_code, kExitInterrupted) << result.describe();
  EXPECT_EQ(result.term_signal, 0) << "walstream died of the signal: " << result.describe();
  EXPECT_FALSE(fs::exists(target)) << target << " was left behind";
  std::string last;
  EXPECT_TRUE(primary->wait_for_value(
      "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'walsender'", "0", 30s, &last))
      << "replication connections left open: " << last;
}

}  // namespace
}  // namespace walstream::it
