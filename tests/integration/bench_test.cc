// End-to-end tests of `walstream bench` against real PostgreSQL servers: the
// report's numbers must agree with what the server says about itself (the
// size of its databases, its WAL positions), and nothing may be left behind —
// no replication slot, no walsender, no --write-to content — on success, on
// failure or on SIGINT.
#include <signal.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <initializer_list>
#include <memory>
#include <regex>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/integration/test_env.h"

namespace walstream::it {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

constexpr const char* kErrorPrefix = "walstream: error: ";
constexpr std::uint64_t kMB = 1024 * 1024;

std::vector<std::string> bench_args(const PgCluster& server,
                                    std::initializer_list<std::string> extra = {}) {
  std::vector<std::string> args{"bench"};
  for (auto& arg : connection_args(server)) args.push_back(arg);
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

std::uint64_t parse_lsn(const std::string& text) {
  const auto slash = text.find('/');
  return (std::stoull(text.substr(0, slash), nullptr, 16) << 32) |
         std::stoull(text.substr(slash + 1), nullptr, 16);
}

std::uint64_t database_size_sum(PgCluster& server) {
  return std::stoull(server.query_value("SELECT sum(pg_database_size(oid)) FROM pg_database"));
}

// The report of a successful run: exit 0, nothing on stderr, JSON on stdout.
json expect_report(const CommandResult& result) {
  EXPECT_EQ(result.exit_code, 0) << result.describe();
  EXPECT_EQ(result.err, "") << result.describe();
  try {
    return json::parse(result.out);
  } catch (const std::exception& error) {
    ADD_FAILURE() << "not JSON (" << error.what() << "): " << result.describe();
    return json::object();
  }
}

// The base backup's tar stream holds the databases' files (the sum of
// pg_database_size) plus a little: global/, pg_xact, tar headers.
void expect_backup_matches_server(const json& backup, std::uint64_t databases) {
  ASSERT_TRUE(backup.is_object()) << backup.dump();
  const auto tar_bytes = backup["tar_bytes"].get<std::uint64_t>();
  EXPECT_GE(static_cast<double>(tar_bytes), 0.9 * static_cast<double>(databases)) << backup.dump(2);
  EXPECT_LE(tar_bytes, databases + databases / 10 + 16 * kMB) << backup.dump(2);
  const auto messages = backup["messages"].get<std::uint64_t>();
  const auto bytes = backup["bytes"].get<std::uint64_t>();
  EXPECT_GT(messages, 0U);
  // CopyData messages of a base backup are tens of kB, never megabytes: a
  // count that says otherwise counts something else.
  EXPECT_LE(bytes / messages, 1 * kMB) << backup.dump(2);
  EXPECT_GT(backup["mb_per_second"].get<double>(), 0.0);
  EXPECT_GT(backup["messages_per_second"].get<double>(), 0.0);
  EXPECT_GT(backup["files"].get<std::uint64_t>(), 100U);
  EXPECT_GT(backup["transfer_seconds"].get<double>(), 0.0);
  EXPECT_GE(backup["seconds"].get<double>(), backup["transfer_seconds"].get<double>());
  EXPECT_GE(backup["times"]["receive"].get<double>(), 0.0);
  EXPECT_GE(backup["times"]["tar_parse"].get<double>(), 0.0);
}

// The WAL stage's positions are consistent with its byte count and with the
// server's own position afterwards.
void expect_wal_matches_server(const json& wal, PgCluster& server) {
  ASSERT_TRUE(wal.is_object()) << wal.dump();
  const auto bytes = wal["bytes"].get<std::uint64_t>();
  const auto start = parse_lsn(wal["start_lsn"].get<std::string>());
  const auto end = parse_lsn(wal["end_lsn"].get<std::string>());
  EXPECT_GT(bytes, 0U) << wal.dump(2);
  EXPECT_EQ(end - start, bytes) << wal.dump(2);
  EXPECT_EQ(start % (16 * kMB), 0U) << "not a segment start: " << wal.dump(2);
  EXPECT_LE(end, parse_lsn(server.query_value("SELECT pg_current_wal_flush_lsn()")));
  EXPECT_GT(wal["messages"].get<std::uint64_t>(), 0U);
  EXPECT_GT(wal["mb_per_second"].get<double>(), 0.0);
}

void expect_no_slot(PgCluster& server) {
  EXPECT_EQ(server.query_value("SELECT count(*) FROM pg_replication_slots"), "0")
      << server.query_value("SELECT string_agg(slot_name, ',') FROM pg_replication_slots");
}

// The server log from `offset` on shows the bench's slot created TEMPORARY
// (so it cannot outlive the connection) and dropped on the same connection
// (so it is gone before walstream returns, not once the server notices the
// connection closed).
void expect_slot_temporary_and_dropped(const PgCluster& server, std::size_t log_offset) {
  const std::string log = read_file(server.log_file()).substr(log_offset);
  std::smatch created;
  ASSERT_TRUE(std::regex_search(
      log, created,
      std::regex(
          R"re(received replication command: CREATE_REPLICATION_SLOT "(walstream_bench_\d+)" TEMPORARY PHYSICAL)re")))
      << log;
  EXPECT_THAT(log, HasSubstr("received replication command: DROP_REPLICATION_SLOT \"" +
                             created[1].str() + "\""))
      << log;
}

void expect_no_walsender(PgCluster& server) {
  std::string last;
  EXPECT_TRUE(server.wait_for_value(
      "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'walsender'", "0", 30s, &last))
      << "replication connections left open: " << last;
}

std::vector<std::string> dir_listing(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    names.push_back(entry.path().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

// Every file under `dir` with its size and modification time: extracting a
// backup over it would change them.
std::vector<std::string> dir_snapshot(const fs::path& dir) {
  std::vector<std::string> files;
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    std::string line = entry.path().string();
    if (entry.is_regular_file()) {
      line += " " + std::to_string(entry.file_size()) + " " +
              std::to_string(entry.last_write_time().time_since_epoch().count());
    }
    files.push_back(line);
  }
  std::sort(files.begin(), files.end());
  return files;
}

// A table in a tablespace whose files the server leaves alone from now on:
// vacuumed (its visibility and free space maps exist, autovacuum has nothing
// to do) and checkpointed (no dirty buffer left to write).
void create_settled_table_in(PgCluster& server, const fs::path& location) {
  server.exec("CREATE TABLESPACE space1 LOCATION " + sql_literal(location.string()));
  server.exec(
      "CREATE TABLE spaced TABLESPACE space1 AS SELECT g, repeat('x', 100) AS pad "
      "FROM generate_series(1, 20000) g");
  server.exec("VACUUM spaced");
  server.exec("CHECKPOINT");
}

// One primary for every test: role r, pgbench tables (scale 2), and a
// tablespace holding a table, so --write-to must relocate it.
class BenchTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    try {
      PgClusterOptions options;
      // The server's own account of the slot's life (see expect_slot_dropped).
      options.extra_conf = {"log_replication_commands = on"};
      primary_ = PgCluster::create_primary("bench_primary", options);
      primary_->start();
      primary_->exec("CREATE ROLE r REPLICATION LOGIN PASSWORD " + sql_literal(kPassword));
      tablespace_ = new fs::path(TestEnv::make_dir("bench_tablespace"));
      create_settled_table_in(*primary_, *tablespace_);
      const CommandResult init =
          run_command(pgbench_argv(*primary_, {"-i", "-s", "2", "-q"}), {}, 120s);
      if (init.exit_code != 0) throw std::runtime_error("pgbench -i: " + init.describe());
    } catch (const std::exception& error) {
      setup_error_ = error.what();
      primary_.reset();
    }
  }
  static void TearDownTestSuite() {
    primary_.reset();
    delete tablespace_;
    tablespace_ = nullptr;
  }
  void SetUp() override { ASSERT_TRUE(primary_) << "shared primary failed: " << setup_error_; }

  static PgCluster& primary() { return *primary_; }
  static const fs::path& tablespace() { return *tablespace_; }

  // pgbench writing in the background until the returned process is stopped
  // or destroyed.
  static std::unique_ptr<Process> start_load() {
    return Process::start(pgbench_argv(primary(), {"-c", "2", "-j", "2", "-T", "600", "-n"}));
  }
  static void stop_load(Process& load) {
    load.send_signal(SIGINT);
    const CommandResult result = load.wait(30s);
    EXPECT_FALSE(result.timed_out) << result.describe();
  }

  static std::unique_ptr<PgCluster> primary_;
  static fs::path* tablespace_;
  static std::string setup_error_;
};

std::unique_ptr<PgCluster> BenchTest::primary_;
fs::path* BenchTest::tablespace_ = nullptr;
std::string BenchTest::setup_error_;

TEST_F(BenchTest, JsonReportOfBothStagesUnderLoad) {
  const std::uint64_t databases = database_size_sum(primary());
  const std::size_t log_offset = fs::file_size(primary().log_file());
  auto load = start_load();
  const CommandResult result =
      run_walstream(bench_args(primary(), {"--json", "--duration", "3"}), password_env(), 120s);
  stop_load(*load);
  const json report = expect_report(result);

  EXPECT_EQ(report["server"]["version_num"].get<int>() / 10000, 15);
  EXPECT_EQ(report["server"]["system_identifier"],
            primary().query_value("SELECT system_identifier::text FROM pg_control_system()"));
  EXPECT_TRUE(report["write_to"].is_null());

  const json& backup = report["backup"];
  expect_backup_matches_server(backup, databases);
  EXPECT_EQ(backup["checkpoint"], "fast");
  EXPECT_TRUE(backup["compression"].is_null());
  EXPECT_TRUE(backup["manifest"].get<bool>());
  EXPECT_GT(backup["manifest_bytes"].get<std::uint64_t>(), 0U);
  EXPECT_EQ(backup["archives"], 2);  // the main directory and space1
  EXPECT_GE(backup["bytes"].get<std::uint64_t>(), backup["tar_bytes"].get<std::uint64_t>());
  EXPECT_TRUE(backup["times"]["write"].is_null());
  EXPECT_TRUE(backup["times"]["sync"].is_null());

  const json& wal = report["wal"];
  expect_wal_matches_server(wal, primary());
  EXPECT_EQ(wal["start_from"], "retained");
  EXPECT_EQ(wal["stop_reason"], "duration");
  EXPECT_GE(wal["streaming_seconds"].get<double>(), 3.0);
  EXPECT_LT(wal["streaming_seconds"].get<double>(), 10.0);
  // Under load the stream carries more than the backlog it started with.
  EXPECT_GT(wal["bytes"].get<std::uint64_t>(), 64U * 1024U);

  expect_slot_temporary_and_dropped(primary(), log_offset);
  expect_no_slot(primary());
  expect_no_walsender(primary());
}

TEST_F(BenchTest, WriteToWritesSyncsAndRemovesEverything) {
  const std::uint64_t databases = database_size_sum(primary());
  const std::vector<std::string> tablespace_before = dir_snapshot(tablespace());
  // Missing, with a missing parent: both are created, and both go again.
  const fs::path parent = TestEnv::unique_path("bench_write_parent");
  const fs::path target = parent / "target";
  auto load = start_load();
  const CommandResult result = run_walstream(
      bench_args(primary(), {"--json", "--duration", "2", "--write-to", target.string()}),
      password_env(), 120s);
  stop_load(*load);
  const json report = expect_report(result);

  EXPECT_FALSE(fs::exists(target)) << target << " was left behind";
  EXPECT_FALSE(fs::exists(parent)) << parent << " was left behind";
  EXPECT_EQ(report["write_to"], target.string());
  const json& backup = report["backup"];
  expect_backup_matches_server(backup, databases);
  const auto written = backup["written_bytes"].get<std::uint64_t>();
  EXPECT_GE(static_cast<double>(written), 0.9 * static_cast<double>(databases)) << backup.dump(2);
  EXPECT_LE(written, backup["tar_bytes"].get<std::uint64_t>());
  EXPECT_GT(backup["times"]["write"].get<double>(), 0.0);
  EXPECT_GT(backup["times"]["sync"].get<double>(), 0.0);

  const json& wal = report["wal"];
  expect_wal_matches_server(wal, primary());
  EXPECT_GT(wal["times"]["write"].get<double>(), 0.0);
  EXPECT_GT(wal["times"]["sync"].get<double>(), 0.0);

  // The tablespace was extracted under the target, never at its location.
  EXPECT_EQ(dir_snapshot(tablespace()), tablespace_before);
  expect_no_slot(primary());
  expect_no_walsender(primary());
}

TEST_F(BenchTest, WriteToAnEmptyDirectoryLeavesItEmpty) {
  const fs::path target = TestEnv::make_dir("bench_write_empty");
  const CommandResult result = run_walstream(
      bench_args(primary(), {"--json", "--duration", "1", "--write-to", target.string()}),
      password_env(), 120s);
  const json report = expect_report(result);
  EXPECT_GT(report["backup"]["written_bytes"].get<std::uint64_t>(), 0U);
  ASSERT_TRUE(fs::is_directory(target));
  EXPECT_TRUE(fs::is_empty(target)) << ::testing::PrintToString(dir_listing(target));
}

TEST_F(BenchTest, NonEmptyWriteToIsRefused) {
  const fs::path target = TestEnv::make_dir("bench_write_nonempty");
  write_file(target / "keep.txt", "precious\n");
  const CommandResult result =
      run_walstream(bench_args(primary(), {"--write-to", target.string()}), password_env(), 60s);
  EXPECT_EQ(result.exit_code, kExitUsage) << result.describe();
  EXPECT_EQ(result.out, "");
  const std::vector<std::string> lines = non_empty_lines(result.err);
  ASSERT_EQ(lines.size(), 1U) << result.describe();
  EXPECT_THAT(lines.front(), StartsWith(kErrorPrefix));
  EXPECT_THAT(lines.front(), HasSubstr("not empty"));
  EXPECT_THAT(lines.front(), HasSubstr("--write-to"));
  EXPECT_EQ(read_file(target / "keep.txt"), "precious\n");
  EXPECT_EQ(dir_listing(target).size(), 1U);
  expect_no_slot(primary());
}

TEST_F(BenchTest, WrongPasswordIsOneCleanLine) {
  const std::string wrong = "Wr0ng-bench-pAss";
  const fs::path target = TestEnv::unique_path("bench_wrong_password");
  const CommandResult result = run_walstream(bench_args(primary(), {"--write-to", target.string()}),
                                             password_env(wrong), 60s);
  EXPECT_EQ(result.exit_code, kExitConnection) << result.describe();
  const std::vector<std::string> lines = non_empty_lines(result.err);
  ASSERT_EQ(lines.size(), 1U) << result.describe();
  EXPECT_THAT(lines.front(), StartsWith(kErrorPrefix));
  EXPECT_THAT(lines.front(), HasSubstr("password authentication failed"));
  EXPECT_THAT(result.out + result.err, Not(HasSubstr(wrong)));
  EXPECT_FALSE(fs::exists(target));
}

TEST_F(BenchTest, InterruptRemovesWrittenWalAndSlot) {
  const fs::path target = TestEnv::unique_path("bench_interrupt");
  auto load = start_load();
  std::vector<std::string> argv{TestEnv::walstream_binary().string()};
  for (auto& arg : bench_args(
           primary(), {"--stages", "wal", "--duration", "600", "--write-to", target.string()})) {
    argv.push_back(arg);
  }
  auto bench = Process::start(argv, password_env());
  // Interrupted once WAL segments are being written and the slot exists.
  ASSERT_TRUE(wait_until(
      [&] {
        std::error_code error;
        return (fs::is_directory(target / "wal", error) && !fs::is_empty(target / "wal", error)) ||
               !bench->running();
      },
      60s));
  ASSERT_TRUE(bench->running()) << "bench ended early: " << bench->wait(10s).describe();
  EXPECT_EQ(primary().query_value("SELECT count(*) FROM pg_replication_slots WHERE temporary"),
            "1");
  bench->send_signal(SIGINT);
  const CommandResult result = bench->wait(60s);
  stop_load(*load);

  EXPECT_FALSE(result.timed_out) << "SIGINT did not stop walstream: " << result.describe();
  EXPECT_EQ(result.exit_code, kExitInterrupted) << result.describe();
  EXPECT_EQ(result.term_signal, 0) << "walstream died of the signal: " << result.describe();
  const std::vector<std::string> lines = non_empty_lines(result.err);
  ASSERT_EQ(lines.size(), 1U) << result.describe();
  EXPECT_THAT(lines.front(), StartsWith(kErrorPrefix));
  EXPECT_THAT(lines.front(), HasSubstr("interrupted"));
  EXPECT_FALSE(fs::exists(target)) << target << " was left behind";
  // The temporary slot goes with the walsender, which exits on its own time.
  std::string last;
  EXPECT_TRUE(
      primary().wait_for_value("SELECT count(*) FROM pg_replication_slots", "0", 30s, &last))
      << "slots left: " << last;
  expect_no_walsender(primary());
}

TEST_F(BenchTest, WalBytesEndsTheStreamEarly) {
  auto load = start_load();
  const CommandResult result = run_walstream(
      bench_args(primary(), {"--json", "--stages", "wal", "--wal-bytes", "1", "--duration", "300"}),
      password_env(), 120s);
  stop_load(*load);
  const json report = expect_report(result);
  EXPECT_TRUE(report["backup"].is_null());
  const json& wal = report["wal"];
  expect_wal_matches_server(wal, primary());
  EXPECT_EQ(wal["stop_reason"], "wal-bytes");
  EXPECT_GE(wal["bytes"].get<std::uint64_t>(), kMB);
  EXPECT_LT(wal["streaming_seconds"].get<double>(), 120.0);
  expect_no_slot(primary());
}

// bench/compare measures the server's WAL send rate over a backlog this way.
TEST_F(BenchTest, WalStartAtAGivenLsnStreamsFromItsSegment) {
  primary().exec("SELECT pg_create_physical_replication_slot('bench_given', true)");
  const std::string start = primary().query_value("SELECT pg_current_wal_lsn()");
  primary().exec("SELECT pg_switch_wal()");
  primary().exec("CREATE TABLE given_start AS SELECT g FROM generate_series(1, 200000) g");
  primary().exec("DROP TABLE given_start");
  const CommandResult result =
      run_walstream(bench_args(primary(), {"--json", "--stages", "wal", "--wal-start", start,
                                           "--wal-bytes", "4", "--duration", "300"}),
                    password_env(), 120s);
  primary().exec("SELECT pg_drop_replication_slot('bench_given')");
  const json report = expect_report(result);
  const json& wal = report["wal"];
  EXPECT_EQ(wal["start_from"], "given");
  // The start of the segment holding `start`.
  EXPECT_EQ(wal["start_lsn"],
            primary().query_value("SELECT '" + start + "'::pg_lsn - file_offset FROM " +
                                  "pg_walfile_name_offset('" + start + "')"));
  EXPECT_EQ(wal["stop_reason"], "wal-bytes");
  EXPECT_GE(wal["bytes"].get<std::uint64_t>(), 4 * kMB);
  expect_no_slot(primary());
}

TEST_F(BenchTest, ServerCompressedBackupIsDecompressed) {
  const std::uint64_t databases = database_size_sum(primary());
  const CommandResult result = run_walstream(
      bench_args(primary(), {"--json", "--stages", "backup", "--compress=server-zstd:level=1"}),
      password_env(), 120s);
  const json report = expect_report(result);
  EXPECT_TRUE(report["wal"].is_null());
  const json& backup = report["backup"];
  expect_backup_matches_server(backup, databases);
  EXPECT_EQ(backup["compression"], "zstd");
  // pgbench's tables compress well: far less crossed the network than the
  // tar parser saw.
  EXPECT_LT(backup["archive_bytes"].get<std::uint64_t>() * 2,
            backup["tar_bytes"].get<std::uint64_t>())
      << backup.dump(2);
  EXPECT_LT(backup["bytes"].get<std::uint64_t>(), backup["tar_bytes"].get<std::uint64_t>());
  EXPECT_GE(backup["times"]["decompress"].get<double>(), 0.0);
  expect_no_slot(primary());
}

TEST_F(BenchTest, HumanReportIsATable) {
  const CommandResult result = run_walstream(
      bench_args(primary(), {"--duration", "1", "--wal-start", "current"}), password_env(), 120s);
  ASSERT_EQ(result.exit_code, 0) << result.describe();
  EXPECT_THAT(result.out, HasSubstr("PostgreSQL 15."));
  EXPECT_THAT(result.out, HasSubstr("MB/s"));
  EXPECT_THAT(result.out, HasSubstr("\nbase backup "));
  EXPECT_THAT(result.out, HasSubstr("\nWAL stream "));
  EXPECT_THAT(result.out, HasSubstr("(current)"));
  EXPECT_THAT(result.out, HasSubstr("  checkpoint (fast)"));
  EXPECT_THAT(result.out, Not(HasSubstr("{")));
  expect_no_slot(primary());
}

TEST_F(BenchTest, UsageErrors) {
  for (const std::vector<std::string>& extra : {std::vector<std::string>{"--stages", "backup,logs"},
                                                {"--stages", ""},
                                                {"--duration", "0"},
                                                {"--compress", "client-gzip"},
                                                {"--wal-start", "oldest"},
                                                {"--wal-start", "FFFF/0"},
                                                {"-c", "slow"},
                                                {"--wal-bytes", "0"}}) {
    std::vector<std::string> args = bench_args(primary());
    args.insert(args.end(), extra.begin(), extra.end());
    const CommandResult result = run_walstream(args, password_env(), 60s);
    EXPECT_EQ(result.exit_code, 2) << ::testing::PrintToString(extra) << ": " << result.describe();
    EXPECT_THAT(result.err, StartsWith(kErrorPrefix)) << result.describe();
  }
  expect_no_walsender(primary());
}

// Before 15: one tar stream per tablespace and the manifest as a COPY of its
// own, no READ_REPLICATION_SLOT (the WAL stage starts at the current
// position, which the backup's end has just moved to a new segment: only a
// load gives it WAL), no server-side compression.
TEST(BenchOldMajorTest, Pg14TarPerTablespace) {
  PgClusterOptions options;
  options.server_major = 14;
  auto primary = PgCluster::create_primary("bench_pg14", options);
  primary->start();
  primary->exec("CREATE ROLE r REPLICATION LOGIN PASSWORD " + sql_literal(kPassword));
  const fs::path tablespace = TestEnv::make_dir("bench_pg14_tablespace");
  create_settled_table_in(*primary, tablespace);
  const CommandResult init = run_command(pgbench_argv(*primary, {"-i", "-s", "1", "-q"}), {}, 120s);
  ASSERT_EQ(init.exit_code, 0) << init.describe();
  const std::vector<std::string> tablespace_before = dir_snapshot(tablespace);
  const std::uint64_t databases = database_size_sum(*primary);

  const fs::path target = TestEnv::unique_path("bench_pg14_target");
  auto load = Process::start(pgbench_argv(*primary, {"-c", "1", "-T", "600", "-n"}));
  const CommandResult result = run_walstream(
      bench_args(*primary, {"--json", "--duration", "2", "--write-to", target.string()}),
      password_env(), 120s);
  load->send_signal(SIGINT);
  EXPECT_FALSE(load->wait(30s).timed_out);
  const json report = expect_report(result);
  EXPECT_EQ(report["server"]["version_num"].get<int>() / 10000, 14);
  const json& backup = report["backup"];
  EXPECT_EQ(backup["archives"], 2) << backup.dump(2);
  EXPECT_GT(backup["manifest_bytes"].get<std::uint64_t>(), 0U);
  EXPECT_GT(backup["written_bytes"].get<std::uint64_t>(), 0U);
  // pgbench wrote alongside: the tables grew a little.
  const auto tar_bytes = backup["tar_bytes"].get<std::uint64_t>();
  EXPECT_GE(static_cast<double>(tar_bytes), 0.9 * static_cast<double>(databases));
  EXPECT_LE(tar_bytes, database_size_sum(*primary) + 16 * kMB);
  const json& wal = report["wal"];
  EXPECT_EQ(wal["start_from"], "current");
  expect_wal_matches_server(wal, *primary);
  EXPECT_FALSE(fs::exists(target));
  EXPECT_EQ(dir_snapshot(tablespace), tablespace_before);
  expect_no_slot(*primary);
  expect_no_walsender(*primary);

  const CommandResult compressed =
      run_walstream(bench_args(*primary, {"--stages", "backup", "--compress", "server-zstd"}),
                    password_env(), 60s);
  EXPECT_EQ(compressed.exit_code, 2) << compressed.describe();
  EXPECT_THAT(compressed.err, HasSubstr("needs PostgreSQL 15"));
  expect_no_walsender(*primary);
}

}  // namespace
}  // namespace walstream::it
