// End-to-end tests of `walstream receive` (a durable WAL archive in
// pg_receivewal's layout) and `walstream restore-wal` (its restore_command)
// against real PostgreSQL servers. Servers use 1 MB WAL segments
// (initdb --wal-segsize=1) so that little WAL makes many segments.
//
// LSNs and segment names are computed here independently of the code under
// test; pg_receivewal, pg_wal of the server and the zstd tool are the
// references the archive is compared with.
#include <signal.h>
#include <sys/statvfs.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <initializer_list>
#include <iostream>
#include <map>
#include <memory>
#include <random>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/integration/test_env.h"
#include "tests/integration/wal_archive.h"

namespace walstream::it {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr const char* kErrorPrefix = "walstream: error: ";

// File name -> content of every file directly in `dir`.
std::map<std::string, std::string> snapshot(const fs::path& dir) {
  std::map<std::string, std::string> files;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.is_regular_file()) files[entry.path().filename().string()] = read_file(entry.path());
  }
  return files;
}

// Every file of `before` is still in `dir` with the same content.
void expect_nothing_lost(const std::map<std::string, std::string>& before, const fs::path& dir) {
  const auto after = snapshot(dir);
  for (const auto& [name, content] : before) {
    const auto found = after.find(name);
    if (found == after.end()) {
      ADD_FAILURE() << name << " disappeared from the archive\n" << describe_archive(dir);
    } else if (found->second != content) {
      ADD_FAILURE() << name << " changed in the archive";
    }
  }
}

// --- Servers, clients and load ----------------------------------------------

// Runs `walstream receive -S slot -E endpos` to completion.
CommandResult receive_to(const fs::path& dir, const PgCluster& server, const std::string& slot,
                         const std::string& endpos) {
  return run_walstream(receive_args(dir, server, {"-S", slot, "-E", endpos}), password_env(), 60s);
}

std::string slot_active_pid(PgCluster& server, const std::string& slot) {
  return server.query_value(
      "SELECT coalesce(active_pid::text, '') FROM pg_replication_slots WHERE slot_name = " +
      sql_literal(slot));
}

// Waits until a walsender holds `slot` (true) or `receiver` ended (false).
bool wait_slot_active(PgCluster& server, const std::string& slot, Process& receiver,
                      std::chrono::milliseconds timeout = 30s) {
  return wait_until([&] { return !receiver.running() || !slot_active_pid(server, slot).empty(); },
                    timeout) &&
         receiver.running();
}

// Waits until the server's flush position is `bytes` past `from`.
bool wait_wal_advanced(PgCluster& server, const std::string& from, std::uint64_t bytes) {
  const std::uint64_t target = parse_lsn(from) + bytes;
  return wait_until([&] { return parse_lsn(flush_lsn(server)) >= target; }, 60s);
}

// The error contract: exit `exit_code`, one line on stderr starting with the
// prefix and naming `cause`.
void expect_error(const CommandResult& result, int exit_code, const std::string& cause) {
  EXPECT_FALSE(result.timed_out) << result.describe();
  EXPECT_EQ(result.exit_code, exit_code) << result.describe();
  const std::vector<std::string> lines = non_empty_lines(result.err);
  ASSERT_EQ(lines.size(), 1U) << result.describe();
  EXPECT_THAT(lines.front(), StartsWith(kErrorPrefix));
  EXPECT_THAT(lines.front(), HasSubstr(cause));
}

// --- a. byte-identical to pg_receivewal -------------------------------------

TEST(ReceiveTest, ByteIdenticalToPgReceivewal) {
  auto primary = start_primary("identical_primary");
  // Both slots reserve WAL from the same position, before any load.
  create_slot(*primary, "a");
  create_slot(*primary, "b");
  ASSERT_NO_FATAL_FAILURE(pgbench_init(*primary));
  auto load = start_load(*primary);
  const std::string after_init = flush_lsn(*primary);
  ASSERT_TRUE(wait_wal_advanced(*primary, after_init, 3 * kSegmentSize)) << load->stderr_so_far();
  const std::string endpos = flush_lsn(*primary);
  const std::uint64_t end = parse_lsn(endpos);

  // Both receivers run at once, while pgbench keeps writing.
  const fs::path reference = TestEnv::unique_path("identical_pg_receivewal");
  const fs::path archive = TestEnv::unique_path("identical_walstream");
  auto receiver =
      start_walstream(receive_args(archive, *primary, {"-S", "b", "-E", endpos}), password_env());
  const CommandResult reference_result = pg_receivewal_to(reference, *primary, "a", endpos);
  const CommandResult result = receiver->wait(60s);
  stop_load(*load);
  ASSERT_EQ(reference_result.exit_code, 0) << reference_result.describe();
  ASSERT_EQ(result.exit_code, 0) << result.describe();

  expect_same_complete_segments(reference, archive, segno_of(end));
  const std::string name = segment_name(1, segno_of(end));
  const fs::path reference_last =
      fs::exists(reference / name) ? reference / name : reference / (name + ".partial");
  expect_same_prefix(reference_last, archive, end);
  // walstream stops exactly at the end position: nothing complete after it.
  for (const auto& file : list_archive(archive)) {
    if (file.kind == FileKind::kComplete) {
      EXPECT_LT(file.segno, segno_of(end))
          << file.name << " completed past the end position " << endpos;
    }
  }
  EXPECT_EQ(archive_problems(archive, last_segno_before(end)), "");
}

// --- b. SIGKILL under load --------------------------------------------------

// When to kill, counted from the receiver's start: a quarter of the kills
// fall in its first 60 ms (starting, connecting, scanning the archive,
// starting the stream), the rest while it streams, across segment
// completions.
std::chrono::milliseconds kill_delay(std::mt19937& random) {
  std::bernoulli_distribution early(0.25);
  std::uniform_int_distribution<int> starting(0, 60);
  std::uniform_int_distribution<int> streaming(60, 1500);
  return std::chrono::milliseconds(early(random) ? starting(random) : streaming(random));
}

// A killed receiver's walsender notices the closed socket, releases the slot
// and exits; a receiver started before that would find the slot active.
bool wait_walsenders_gone(PgCluster& server) {
  std::string last;
  const bool gone = server.wait_for_value(
      "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'walsender' AND usename = 'r'",
      "0", 30s, &last);
  EXPECT_TRUE(gone) << "walsenders of r still running: " << last;
  return gone;
}

// Complete segments of `archive` not yet in `checked` must hold the server's
// bytes (the server still has them: a slot nobody uses reserves all its WAL).
void expect_new_segments_match_server(PgCluster& server, const fs::path& archive,
                                      std::set<std::string>& checked) {
  for (const auto& file : list_archive(archive)) {
    if (file.kind != FileKind::kComplete || !checked.insert(file.name).second) continue;
    const std::string want = read_file(server.data_dir() / "pg_wal" / file.name);
    const std::string have = read_file(archive / file.name);
    EXPECT_TRUE(want == have) << file.name
                              << " differs from the server's: " << first_difference(want, have);
  }
}

// Kills `walstream receive -S kill [--compress=zstd]` with SIGKILL `kills`
// times at random moments under pgbench load, restarting it each time; then
// stops the load and runs it to a fixed end position. The archive must be
// gap-free and hold exactly the segments an uninterrupted pg_receivewal on
// its own slot wrote for the same range, byte for byte.
void kill_nine_during_load(std::string_view name, bool compress, int kills) {
  const std::uint32_t seed = kill_seed();
  SCOPED_TRACE("kill seed " + std::to_string(seed));
  auto primary = start_primary(std::string(name) + "_primary");
  create_slot(*primary, "kill");
  create_slot(*primary, "ref");
  ASSERT_NO_FATAL_FAILURE(pgbench_init(*primary));
  auto load = start_load(*primary);

  const fs::path archive = TestEnv::unique_path(std::string(name) + "_archive");
  auto args = [&](std::initializer_list<std::string> extra) {
    std::vector<std::string> result = receive_args(archive, *primary, extra);
    if (compress) result.emplace_back("--compress=zstd");
    return result;
  };
  std::mt19937 random(seed);
  std::set<std::string> checked;
  int kills_while_streaming = 0;
  for (int round = 1; round <= kills; ++round) {
    SCOPED_TRACE("kill " + std::to_string(round) + " of " + std::to_string(kills));
    auto receiver = start_walstream(args({"-S", "kill"}), password_env());
    std::this_thread::sleep_for(kill_delay(random));
    ASSERT_TRUE(receiver->running()) << "ended before the kill: " << receiver->wait(10s).describe();
    if (!slot_active_pid(*primary, "kill").empty()) ++kills_while_streaming;
    const CommandResult killed = stop_receiver(*receiver, SIGKILL);
    ASSERT_EQ(killed.term_signal, SIGKILL) << killed.describe();
    ASSERT_TRUE(wait_walsenders_gone(*primary));
    // What a kill leaves must be an archive to resume from: no hole, no
    // .partial but at the top, none next to its completed segment.
    if (!compress && !list_archive(archive).empty()) {
      ASSERT_EQ(archive_problems(archive, 0, /*after_kill=*/true), "");
      expect_new_segments_match_server(*primary, archive, checked);
      if (::testing::Test::HasFailure()) return;
    }
  }
  stop_load(*load);
  // Most kills must hit a running stream, not only its start.
  EXPECT_GE(kills_while_streaming, kills / 2);
  const std::string endpos = flush_lsn(*primary);
  const std::uint64_t end = parse_lsn(endpos);
  std::cout << kills << " kills, " << kills_while_streaming << " while streaming, end position "
            << endpos << "\n";
  const CommandResult final_run =
      run_walstream(args({"-S", "kill", "-E", endpos}), password_env(), 120s);
  ASSERT_EQ(final_run.exit_code, 0) << final_run.describe();

  const fs::path reference = TestEnv::unique_path(std::string(name) + "_reference");
  const CommandResult reference_result = pg_receivewal_to(reference, *primary, "ref", endpos);
  ASSERT_EQ(reference_result.exit_code, 0) << reference_result.describe();

  EXPECT_EQ(archive_problems(archive, last_segno_before(end)), "");
  const std::string last = segment_name(1, segno_of(end));
  expect_same_prefix(
      fs::exists(reference / last) ? reference / last : reference / (last + ".partial"), archive,
      end);
  if (!compress) {
    expect_same_complete_segments(reference, archive, segno_of(end));
    std::vector<std::string> reference_names;
    std::vector<std::string> archive_names;
    for (const auto& file : list_archive(reference)) reference_names.push_back(file.name);
    for (const auto& file : list_archive(archive)) archive_names.push_back(file.name);
    EXPECT_EQ(archive_names, reference_names)
        << describe_archive(archive) << describe_archive(reference);
    return;
  }
  // Compressed: what restore-wal serves must be pg_receivewal's segments.
  const fs::path restored = TestEnv::make_dir(std::string(name) + "_restored");
  int compared = 0;
  for (const auto& file : list_archive(reference)) {
    if (file.kind != FileKind::kComplete || file.segno >= segno_of(end)) continue;
    const CommandResult result = run_walstream(
        {"restore-wal", archive.string(), file.name, (restored / file.name).string()}, {}, 60s);
    if (result.exit_code != 0) {
      ADD_FAILURE() << "restore-wal " << file.name << ": " << result.describe() << "\n"
                    << describe_archive(archive);
      continue;
    }
    const std::string want = read_file(reference / file.name);
    const std::string have = read_file(restored / file.name);
    EXPECT_TRUE(want == have) << file.name
                              << " restored differently: " << first_difference(want, have);
    ++compared;
  }
  EXPECT_GT(compared, 0);
  for (const auto& file : list_archive(archive)) {
    EXPECT_NE(file.kind, FileKind::kComplete) << file.name << " was left uncompressed";
  }
}

TEST(ReceiveTest, FiftyKillNinesDuringLoadLoseNothing) {
  kill_nine_during_load("kill", /*compress=*/false, 50);
}

TEST(ReceiveTest, KillNinesDuringZstdCompressionLoseNothing) {
  kill_nine_during_load("killzst", /*compress=*/true, 10);
}

// --- c. walsender terminated ------------------------------------------------

TEST(ReceiveTest, ResumesAfterWalsenderTerminated) {
  auto primary = start_primary("resume_primary");
  create_slot(*primary, "resume");
  const fs::path archive = TestEnv::unique_path("resume_archive");  // created by receive
  auto receiver =
      start_walstream(receive_args(archive, *primary, {"-S", "resume", "-s", "1"}), password_env());
  ASSERT_TRUE(wait_slot_active(*primary, "resume", *receiver)) << receiver->wait(10s).describe();
  const std::string first_pid = slot_active_pid(*primary, "resume");
  EXPECT_EQ(primary->query_value("SELECT application_name FROM pg_stat_replication WHERE pid = " +
                                 first_pid),
            "walstream");
  generate_wal(*primary, 2);

  EXPECT_EQ(primary->query_value("SELECT pg_terminate_backend(" + first_pid + ")"), "t");
  std::string pid;
  ASSERT_TRUE(wait_until(
      [&] {
        pid = slot_active_pid(*primary, "resume");
        return !receiver->running() || (!pid.empty() && pid != first_pid);
      },
      30s));
  ASSERT_TRUE(receiver->running())
      << "receiver exited after its walsender was terminated: " << receiver->wait(10s).describe();

  const std::string recorded = generate_wal(*primary, 3);
  const std::uint64_t lsn = parse_lsn(recorded);
  const fs::path complete = archive / segment_name(1, segno_of(lsn));
  ASSERT_TRUE(wait_until([&] { return fs::exists(complete) || !receiver->running(); }, 30s) &&
              receiver->running())
      << complete << " never arrived\n"
      << describe_archive(archive) << receiver->stderr_so_far();
  const CommandResult result = stop_receiver(*receiver);
  EXPECT_EQ(result.exit_code, 0) << result.describe();
  EXPECT_EQ(archive_problems(archive, segno_of(lsn)), "");
  expect_same_prefix(primary->data_dir() / "pg_wal" / segment_name(1, segno_of(lsn)), archive, lsn);
  // The final status before exiting reported everything received as flushed.
  EXPECT_EQ(primary->query_value("SELECT restart_lsn >= " + sql_literal(recorded) +
                                 "::pg_lsn FROM pg_replication_slots WHERE slot_name = 'resume'"),
            "t")
      << primary->query_value(
             "SELECT restart_lsn FROM pg_replication_slots WHERE slot_name = 'resume'");
}

TEST(ReceiveTest, NoLoopExitsAfterWalsenderTerminated) {
  auto primary = start_primary("noloop_primary");
  create_slot(*primary, "noloop");
  const fs::path archive = TestEnv::unique_path("noloop_archive");
  auto receiver =
      start_walstream(receive_args(archive, *primary, {"-S", "noloop", "-n"}), password_env());
  ASSERT_TRUE(wait_slot_active(*primary, "noloop", *receiver)) << receiver->wait(10s).describe();
  const std::uint64_t lsn = parse_lsn(generate_wal(*primary, 2));
  const fs::path complete = archive / segment_name(1, segno_of(lsn));
  ASSERT_TRUE(wait_until([&] { return fs::exists(complete) || !receiver->running(); }, 30s))
      << describe_archive(archive);
  const auto before = snapshot(archive);
  EXPECT_EQ(primary->query_value("SELECT pg_terminate_backend(" +
                                 slot_active_pid(*primary, "noloop") + ")"),
            "t");
  const CommandResult result = receiver->wait(30s);
  // The one error line names the cause the server gave.
  expect_error(result, kExitConnection, "terminating connection");
  for (const auto& [name, content] : before) {
    if (classify(name).kind == FileKind::kComplete) {
      EXPECT_TRUE(fs::exists(archive / name) && read_file(archive / name) == content) << name;
    }
  }
  EXPECT_EQ(archive_problems(archive, segno_of(lsn)), "");
}

// --- d. synchronous standby -------------------------------------------------

// Names walstream (the default application_name) the primary's synchronous
// standby and waits until pg_stat_replication says it is one.
::testing::AssertionResult make_synchronous_standby(PgCluster& primary) {
  primary.exec("ALTER SYSTEM SET synchronous_standby_names = 'walstream'");
  primary.exec("SELECT pg_reload_conf()");
  std::string last;
  if (primary.wait_for_value(
          "SELECT string_agg(application_name || ':' || sync_state, ',') FROM pg_stat_replication",
          "walstream:sync", 30s, &last)) {
    return ::testing::AssertionSuccess();
  }
  return ::testing::AssertionFailure() << "pg_stat_replication shows " << last;
}

// No commit waits for a synchronous standby any more.
void release_synchronous_standby(PgCluster& primary) {
  primary.exec("ALTER SYSTEM RESET synchronous_standby_names");
  primary.exec("SELECT pg_reload_conf()");
}

TEST(ReceiveTest, SynchronousStandbyBlocksCommitsWhileStopped) {
  auto primary = start_primary("sync_primary");
  create_slot(*primary, "sync");
  primary->exec("CREATE TABLE sync_rows (id int)");
  const fs::path archive = TestEnv::unique_path("sync_archive");
  auto receiver = start_walstream(receive_args(archive, *primary, {"-S", "sync", "--synchronous"}),
                                  password_env());
  ASSERT_TRUE(wait_slot_active(*primary, "sync", *receiver)) << receiver->wait(10s).describe();
  ASSERT_TRUE(make_synchronous_standby(*primary));

  // With the default status interval (10 s), commits are quick only if the
  // flush position is reported as soon as it is durable.
  auto started = std::chrono::steady_clock::now();
  for (int i = 0; i < 10; ++i) primary->exec("INSERT INTO sync_rows VALUES (1)");
  EXPECT_LT(std::chrono::steady_clock::now() - started, 5s)
      << "10 commits waited long for the synchronous receiver";

  receiver->send_signal(SIGSTOP);
  std::atomic<bool> done{false};
  std::string commit_error;
  std::thread commit([&] {
    try {
      primary->exec("INSERT INTO sync_rows VALUES (2)");
    } catch (const std::exception& error) {
      commit_error = error.what();
    }
    done = true;
  });
  // Whatever happens below, the committing thread ends before the server.
  struct Finish {
    std::thread& thread;
    std::atomic<bool>& done;
    PgCluster& server;
    Process& receiver;
    ~Finish() {
      receiver.send_signal(SIGCONT);
      if (!done) {
        try {
          server.exec(
              "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE wait_event = 'SyncRep'");
        } catch (const std::exception&) {
        }
      }
      thread.join();
    }
  } finish{commit, done, *primary, *receiver};

  std::this_thread::sleep_for(3s);  // Deliberate: the commit must still wait.
  EXPECT_FALSE(done) << "a commit completed while the synchronous receiver was stopped";
  EXPECT_EQ(
      primary->query_value("SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'SyncRep'"),
      done ? "0" : "1");

  receiver->send_signal(SIGCONT);
  started = std::chrono::steady_clock::now();
  EXPECT_TRUE(wait_until([&] { return done.load(); }, 10s))
      << "the commit still waits 10 s after SIGCONT\n"
      << receiver->stderr_so_far();
  EXPECT_EQ(commit_error, "");
  if (done) {
    EXPECT_EQ(primary->query_value("SELECT count(*) FROM sync_rows"), "11");
  }
  // No commit may wait when the receiver stops: release it first.
  release_synchronous_standby(*primary);
  const CommandResult result = stop_receiver(*receiver, SIGTERM);
  EXPECT_EQ(result.exit_code, 0) << result.describe();
}

// A synchronous standby reports each sync at once, even when more WAL came in
// while it synced. The receiver's every fdatasync takes 50 ms (the fault
// shim's delay), and another session commits every few milliseconds without
// waiting for the standby, so WAL always arrives during a sync. The flush
// position used to be reported only when a read found the socket empty,
// which then never happened: a waiting commit waited for the whole load.
TEST(ReceiveTest, SynchronousStandbyReportsEachSyncWhileWalKeepsArriving) {
  auto primary = start_primary("busy_sync_primary");
  create_slot(*primary, "busy_sync");
  primary->exec("CREATE TABLE busy_rows (id int)");
  const fs::path archive = TestEnv::unique_path("busy_sync_archive");
  EnvOverrides env = password_env();
  env["LD_PRELOAD"] = TestEnv::fault_shim().string();
  env["WALSTREAM_FAULT_SYNC_DELAY_MS"] = "50";
  env["WALSTREAM_FAULT_EXE"] = "walstream";
  auto receiver =
      start_walstream(receive_args(archive, *primary, {"-S", "busy_sync", "--synchronous"}), env);
  ASSERT_TRUE(wait_slot_active(*primary, "busy_sync", *receiver)) << receiver->wait(10s).describe();
  ASSERT_TRUE(make_synchronous_standby(*primary));
  std::string last;

  // The load: a commit every 5 ms for up to 60 s, each one not waiting for
  // the standby (fewer messages per sync than the receiver's read batch).
  std::thread load([&] {
    try {
      primary->exec(
          "DO $$ DECLARE stop timestamptz := clock_timestamp() + interval '60 s'; BEGIN "
          "PERFORM set_config('synchronous_commit', 'local', false); "
          "PERFORM set_config('application_name', 'busy_load', false); "
          "WHILE clock_timestamp() < stop LOOP INSERT INTO busy_rows VALUES (0); "
          "COMMIT; PERFORM pg_sleep(0.005); END LOOP; END $$");
    } catch (const std::exception&) {  // cancelled below: the expected end
    }
  });
  struct EndLoad {
    std::thread& thread;
    PgCluster& server;
    ~EndLoad() {
      try {
        server.exec(
            "SELECT pg_cancel_backend(pid) FROM pg_stat_activity "
            "WHERE application_name = 'busy_load'");
      } catch (const std::exception&) {
      }
      thread.join();
    }
  } end_load{load, *primary};
  ASSERT_TRUE(primary->wait_for_value("SELECT count(*) > 100 FROM busy_rows", "t", 30s, &last))
      << "the load does not commit";

  // Each commit waits for at most two syncs (the one running, then its own).
  const auto started = std::chrono::steady_clock::now();
  for (int i = 0; i < 5; ++i) primary->exec("INSERT INTO busy_rows VALUES (1)");
  const auto took = std::chrono::steady_clock::now() - started;
  EXPECT_LT(took, 10s) << "5 commits waited "
                       << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
                       << " ms for a standby that syncs in 50 ms";
  EXPECT_EQ(primary->query_value("SELECT count(*) FROM busy_rows WHERE id = 1"), "5");

  release_synchronous_standby(*primary);
  const CommandResult result = stop_receiver(*receiver, SIGTERM);
  EXPECT_EQ(result.exit_code, 0) << result.describe();
}

// --- e. clone, then receive on its slot -------------------------------------

TEST(ReceiveTest, CloneThenReceiveOnOneSlotLeavesNoGap) {
  auto primary = start_primary("gap_primary");
  primary->exec("CREATE TABLE t AS SELECT g AS id FROM generate_series(1, 1000) g");
  const fs::path backup = PgCluster::clone_data_dir("gap_backup");
  const CommandResult clone = run_walstream(
      clone_args(backup, *primary, {"--no-standby-config", "-S", "gap", "-C"}), password_env());
  ASSERT_EQ(clone.exit_code, 0) << clone.describe();

  generate_wal(*primary, 3);
  primary->exec("INSERT INTO t VALUES (1001)");
  const std::string endpos = flush_lsn(*primary);
  const std::uint64_t end = parse_lsn(endpos);
  const fs::path archive = TestEnv::unique_path("gap_archive");
  const CommandResult result = receive_to(archive, *primary, "gap", endpos);
  ASSERT_EQ(result.exit_code, 0) << result.describe();

  const std::string label = read_file(backup / "backup_label");
  std::smatch start;
  ASSERT_TRUE(std::regex_search(
      label, start,
      std::regex(R"(START WAL LOCATION: ([0-9A-F]+/[0-9A-F]+) \(file ([0-9A-F]{24})\))")))
      << label;
  const std::uint64_t start_segno = segno_of(parse_lsn(start[1].str()));
  const std::vector<ArchiveFile> files = list_archive(archive);
  const auto first = std::find_if(files.begin(), files.end(),
                                  [](const ArchiveFile& file) { return file.is_segment(); });
  ASSERT_NE(first, files.end()) << describe_archive(archive);
  EXPECT_LE(first->segno, start_segno)
      << "the archive starts after the backup's start " << start[1].str() << "\n"
      << describe_archive(archive);
  EXPECT_TRUE(fs::exists(archive / start[2].str())) << describe_archive(archive);
  EXPECT_EQ(archive_problems(archive, last_segno_before(end)), "");
  expect_same_prefix(primary->data_dir() / "pg_wal" / segment_name(1, segno_of(end)), archive, end);
}

// --- f. timeline switch -----------------------------------------------------

TEST(ReceiveTest, FollowsTimelineSwitchAfterPromotion) {
  auto primary = start_primary("tl_primary");
  const fs::path standby_dir = PgCluster::clone_data_dir("tl_standby");
  const CommandResult clone = run_walstream(clone_args(standby_dir, *primary), password_env());
  ASSERT_EQ(clone.exit_code, 0) << clone.describe();
  auto standby = PgCluster::for_clone("tl_standby");
  standby->start();
  std::string last;
  ASSERT_TRUE(
      standby->wait_for_value("SELECT status FROM pg_stat_wal_receiver", "streaming", 60s, &last))
      << last;

  // Cascading: the receiver streams from the standby.
  const fs::path archive = TestEnv::unique_path("tl_archive");
  auto receiver = start_walstream(receive_args(archive, *standby, {"-s", "1"}), password_env());
  std::uint64_t on_timeline_2 = 0;
  ASSERT_NO_FATAL_FAILURE(
      follow_timeline_switch(*primary, *standby, *receiver, archive, on_timeline_2));
  const fs::path tli2_segment = archive / segment_name(2, segno_of(on_timeline_2));

  const CommandResult result = stop_receiver(*receiver);
  EXPECT_EQ(result.exit_code, 0) << result.describe();
  EXPECT_EQ(read_file(archive / "00000002.history"),
            read_file(standby->data_dir() / "pg_wal" / "00000002.history"));
  EXPECT_EQ(archive_problems(archive, segno_of(on_timeline_2)), "");
  const std::string tli2 = read_file(tli2_segment);
  const std::string reference = read_file(standby->data_dir() / "pg_wal" / tli2_segment.filename());
  EXPECT_TRUE(tli2 == reference) << tli2_segment.filename() << " differs from the server's: "
                                 << first_difference(reference, tli2);
}

// --- g. point-in-time recovery from a zstd archive --------------------------

TEST(ReceiveTest, PointInTimeRecoveryFromZstdArchive) {
  auto primary = start_primary("pitr_primary");
  primary->exec(
      "CREATE TABLE pitr_rows (id int PRIMARY KEY, note text);"
      "INSERT INTO pitr_rows SELECT g, 'before backup' FROM generate_series(1, 100) g");
  const fs::path backup = PgCluster::clone_data_dir("pitr_backup");
  const CommandResult clone = run_walstream(
      clone_args(backup, *primary, {"--no-standby-config", "-S", "pitr", "-C"}), password_env());
  ASSERT_EQ(clone.exit_code, 0) << clone.describe();

  const fs::path archive = TestEnv::unique_path("pitr_archive");
  auto receiver =
      start_walstream(receive_args(archive, *primary, {"-S", "pitr", "--compress=zstd", "-s", "1"}),
                      password_env());
  ASSERT_TRUE(wait_slot_active(*primary, "pitr", *receiver)) << receiver->wait(10s).describe();
  for (int batch = 0; batch < 5; ++batch) {
    primary->exec(
        "INSERT INTO pitr_rows SELECT g, repeat('after backup ', 20) FROM "
        "generate_series(" +
        std::to_string(101 + batch * 1000) + ", " + std::to_string(100 + (batch + 1) * 1000) +
        ") g");
  }
  primary->exec("INSERT INTO pitr_rows VALUES (999999, 'last committed row')");
  const std::uint64_t last_commit = parse_lsn(flush_lsn(*primary));
  primary->exec("SELECT pg_switch_wal()");
  const std::string name = segment_name(1, segno_of(last_commit));
  ASSERT_TRUE(
      wait_until([&] { return fs::exists(archive / (name + ".zst")) || !receiver->running(); },
                 60s) &&
      receiver->running())
      << name << ".zst never arrived\n"
      << describe_archive(archive) << receiver->stderr_so_far();
  const CommandResult result = stop_receiver(*receiver);
  EXPECT_EQ(result.exit_code, 0) << result.describe();
  const std::string expected_rows = primary->query_value("SELECT count(*) FROM pitr_rows");

  // Completed segments are compressed; the .zst is the server's segment.
  for (const auto& file : list_archive(archive)) {
    EXPECT_NE(file.kind, FileKind::kComplete) << file.name << " was left uncompressed";
  }
  const CommandResult unpacked =
      run_command({"zstd", "-d", "-q", "-c", (archive / (name + ".zst")).string()});
  ASSERT_EQ(unpacked.exit_code, 0) << unpacked.describe().substr(0, 2000);
  EXPECT_TRUE(unpacked.out == read_file(primary->data_dir() / "pg_wal" / name))
      << name << ".zst does not decompress to the server's segment";
  EXPECT_EQ(archive_problems(archive, segno_of(last_commit)), "");
  primary->stop();

  append_file(backup / "postgresql.auto.conf",
              "restore_command = '" + TestEnv::walstream_binary().string() + " restore-wal " +
                  archive.string() + " %f %p'\nrecovery_target_action = 'promote'\n");
  write_file(backup / "recovery.signal", "");
  auto restored = PgCluster::for_clone("pitr_backup");
  restored->start();
  std::string last;
  ASSERT_TRUE(restored->wait_for_value("SELECT pg_is_in_recovery()", "f", 60s, &last))
      << last << "\n"
      << restored->log_tail(30);
  EXPECT_EQ(restored->query_value("SELECT note FROM pitr_rows WHERE id = 999999"),
            "last committed row");
  EXPECT_EQ(restored->query_value("SELECT count(*) FROM pitr_rows"), expected_rows);
}

// --- h. bad input, i. restore-wal -------------------------------------------

// One primary with slot `base` and an archive made by pg_receivewal that ends
// with a complete segment (its .partial removed). Each test works on a copy.
class ReceiveArchiveTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    try {
      primary_ = start_primary("errors_primary");
      create_slot(*primary_, "base");
      end_lsn_ = generate_wal(*primary_, 5);
      base_archive_ = TestEnv::unique_path("errors_base");
      const CommandResult made = pg_receivewal_to(base_archive_, *primary_, "base", end_lsn_);
      if (made.exit_code != 0) throw std::runtime_error("pg_receivewal: " + made.describe());
      for (const auto& file : list_archive(base_archive_)) {
        if (file.kind == FileKind::kPartial) fs::remove(base_archive_ / file.name);
      }
    } catch (const std::exception& error) {
      setup_error_ = error.what();
      primary_.reset();
    }
  }

  static void TearDownTestSuite() { primary_.reset(); }

  void SetUp() override { ASSERT_TRUE(primary_) << "shared primary failed: " << setup_error_; }

  static PgCluster& primary() { return *primary_; }

  // A fresh copy of the base archive under `parent`.
  static fs::path copy_archive(const fs::path& parent = TestEnv::scratch_dir()) {
    fs::path copy = parent / TestEnv::unique_path("archive").filename();
    fs::copy(base_archive_, copy, fs::copy_options::recursive);
    return copy;
  }

  static std::vector<ArchiveFile> complete_segments(const fs::path& dir) {
    std::vector<ArchiveFile> segments;
    for (const auto& file : list_archive(dir)) {
      if (file.kind == FileKind::kComplete) segments.push_back(file);
    }
    return segments;
  }

  // Receive from `slot` up to end_lsn_ into `archive` must be refused with an
  // error naming `cause`, losing or changing no file (one helper for the
  // damaged-archive cases: exit 5, the local archive is at fault).
  static void expect_refused(const fs::path& archive, const std::string& slot,
                             const std::string& cause) {
    const auto before = snapshot(archive);
    const CommandResult result = run_walstream(
        receive_args(archive, primary(), {"-S", slot, "-E", end_lsn_}), password_env(), 60s);
    expect_error(result, kExitIo, cause);
    expect_nothing_lost(before, archive);
  }

  static std::unique_ptr<PgCluster> primary_;
  static std::string setup_error_;
  static std::string end_lsn_;
  static fs::path base_archive_;
};

std::unique_ptr<PgCluster> ReceiveArchiveTest::primary_;
std::string ReceiveArchiveTest::setup_error_;
std::string ReceiveArchiveTest::end_lsn_;
fs::path ReceiveArchiveTest::base_archive_;

// A slot named with -S must exist, whatever the archive holds: a usage error
// (exit 2) before anything is streamed, as for an empty archive.
TEST_F(ReceiveArchiveTest, UnknownSlot) {
  const fs::path archive = copy_archive();
  const auto before = snapshot(archive);
  const CommandResult result = run_walstream(
      receive_args(archive, primary(), {"-S", "nosuch", "-E", end_lsn_}), password_env(), 60s);
  EXPECT_EQ(result.exit_code, kExitUsage) << result.describe();
  const std::vector<std::string> lines = non_empty_lines(result.err);
  ASSERT_EQ(lines.size(), 1U) << result.describe();
  EXPECT_THAT(lines.front(), HasSubstr("replication slot \"nosuch\" does not exist"));
  EXPECT_THAT(lines.front(), HasSubstr("walstream receive -S nosuch --create-slot"));
  expect_nothing_lost(before, archive);
}

TEST_F(ReceiveArchiveTest, ArchiveWithHole) {
  const fs::path archive = copy_archive();
  const auto segments = complete_segments(archive);
  ASSERT_GE(segments.size(), 3U) << describe_archive(archive);
  const std::string missing = segments[segments.size() / 2].name;
  fs::remove(archive / missing);
  expect_refused(archive, "base", missing);
}

TEST_F(ReceiveArchiveTest, NonWalFileWithWalName) {
  const fs::path archive = copy_archive();
  const auto segments = complete_segments(archive);
  ASSERT_FALSE(segments.empty()) << describe_archive(archive);
  const std::string next = segment_name(1, segments.back().segno + 1);
  std::mt19937_64 random(7);
  std::string noise(kSegmentSize, '\0');
  for (auto& byte : noise) byte = static_cast<char>(random());
  write_file(archive / next, noise);
  expect_refused(archive, "base", next);
}

TEST_F(ReceiveArchiveTest, UnwritableDirectory) {
  const fs::path archive = copy_archive();
  const auto before = snapshot(archive);
  fs::permissions(archive, fs::perms(0500));
  const std::string endpos = generate_wal(primary(), 1);
  const CommandResult result = run_walstream(
      receive_args(archive, primary(), {"-S", "base", "-E", endpos}), password_env(), 60s);
  fs::permissions(archive, fs::perms(0700));
  expect_error(result, kExitIo, "ermission denied");
  expect_nothing_lost(before, archive);
}

TEST_F(ReceiveArchiveTest, DiskFull) {
  const fs::path small_fs = TestEnv::small_fs_dir();
  if (small_fs.empty()) GTEST_SKIP() << "no small tmpfs (the tests must start as root)";
  const fs::path archive = copy_archive(small_fs);
  const fs::path filler = small_fs / "filler";
  struct Cleanup {
    fs::path archive, filler;
    ~Cleanup() {
      std::error_code error;
      fs::remove_all(archive, error);
      fs::remove(filler, error);
    }
  } cleanup{archive, filler};
  const auto before = snapshot(archive);
  // More WAL than fits: the archive would grow by several segments.
  const std::string endpos = generate_wal(primary(), 3);

  // Fill the filesystem up to a quarter segment.
  struct statvfs info {};
  ASSERT_EQ(::statvfs(small_fs.c_str(), &info), 0);
  const std::uint64_t available = static_cast<std::uint64_t>(info.f_bavail) * info.f_frsize;
  ASSERT_GT(available, kSegmentSize / 4);
  write_file(filler, std::string(available - kSegmentSize / 4, 'f'));
  ASSERT_EQ(::statvfs(small_fs.c_str(), &info), 0);
  ASSERT_LT(static_cast<std::uint64_t>(info.f_bavail) * info.f_frsize, kSegmentSize);

  const CommandResult result = run_walstream(
      receive_args(archive, primary(), {"-S", "base", "-E", endpos}), password_env(), 60s);
  expect_error(result, kExitIo, "No space left on device");
  expect_nothing_lost(before, archive);
}

// Not in the error list of the contract's tests, but part of it: the server
// no longer has the WAL that follows the archive.
TEST(ReceiveDedicatedErrorTest, ServerNoLongerHasWal) {
  PgClusterOptions options;
  options.extra_conf = {"wal_keep_size = 0", "min_wal_size = '2MB'", "max_wal_size = '8MB'"};
  auto primary = start_primary("gone_primary", options);
  create_slot(*primary, "old");
  const std::string endpos = generate_wal(*primary, 2);
  const fs::path archive = TestEnv::unique_path("gone_archive");
  const CommandResult made = pg_receivewal_to(archive, *primary, "old", endpos);
  ASSERT_EQ(made.exit_code, 0) << made.describe();
  std::uint64_t next_segno = 0;
  for (const auto& file : list_archive(archive)) {
    if (file.kind == FileKind::kPartial) fs::remove(archive / file.name);
    if (file.kind == FileKind::kComplete) next_segno = std::max(next_segno, file.segno + 1);
  }
  // Without the slot nothing keeps that WAL: a checkpoint recycles it.
  primary->exec("SELECT pg_drop_replication_slot('old')");
  generate_wal(*primary, 4);
  primary->exec("CHECKPOINT");
  ASSERT_FALSE(fs::exists(primary->data_dir() / "pg_wal" / segment_name(1, next_segno)));
  const auto before = snapshot(archive);

  // Fatal even without -n: retrying cannot bring that WAL back.
  const CommandResult result = run_walstream(receive_args(archive, *primary), password_env(), 30s);
  // The server refuses START_REPLICATION: a server error.
  expect_error(result, kExitServer, format_lsn(next_segno * kSegmentSize));
  expect_nothing_lost(before, archive);
}

TEST_F(ReceiveArchiveTest, CreateSlotThenDropSlot) {
  const fs::path dir = TestEnv::unique_path("slot_dir");
  const std::string slot_count =
      "SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'made' AND slot_type = "
      "'physical'";
  CommandResult result =
      run_walstream(receive_args(dir, primary(), {"-S", "made", "--create-slot"}), password_env());
  EXPECT_EQ(result.exit_code, 0) << result.describe();
  EXPECT_EQ(primary().query_value(slot_count), "1");
  result =
      run_walstream(receive_args(dir, primary(), {"-S", "made", "--create-slot"}), password_env());
  EXPECT_EQ(result.exit_code, 0) << "a second --create-slot: " << result.describe();
  result =
      run_walstream(receive_args(dir, primary(), {"-S", "made", "--drop-slot"}), password_env());
  EXPECT_EQ(result.exit_code, 0) << result.describe();
  EXPECT_EQ(primary().query_value(slot_count), "0");
}

TEST_F(ReceiveArchiveTest, UsageErrors) {
  const CommandResult no_dir = run_walstream({"receive", "-h", "127.0.0.1", "-U", "r"});
  EXPECT_EQ(no_dir.exit_code, 2) << no_dir.describe();
  const CommandResult bad_option =
      run_walstream({"receive", "-D", TestEnv::unique_path("usage").string(), "--no-such-option"});
  EXPECT_EQ(bad_option.exit_code, 2) << bad_option.describe();
  const CommandResult bad_compression =
      run_walstream({"receive", "-D", TestEnv::unique_path("usage").string(), "--compress=lz4"});
  EXPECT_EQ(bad_compression.exit_code, 2) << bad_compression.describe();
}

// With --synchronous, -E ends the run as soon as the end position is
// durable: nothing pending (such as the connection's deadline timer, armed
// for the next status packet an hour away) may hold the exit.
TEST_F(ReceiveArchiveTest, SynchronousEndposExitsOnceReached) {
  primary().exec("CREATE TABLE IF NOT EXISTS filler (id bigserial, pad text)");
  primary().exec("INSERT INTO filler (pad) SELECT 'sync-endpos' FROM generate_series(1, 1000)");
  const std::string endpos = flush_lsn(primary());
  const fs::path archive = copy_archive();
  const CommandResult result = run_walstream(
      receive_args(archive, primary(), {"-E", endpos, "-n", "--synchronous", "-s", "3600"}),
      password_env(), 60s);
  EXPECT_FALSE(result.timed_out) << "still running a minute after reaching " << endpos;
  EXPECT_EQ(result.exit_code, 0) << result.describe();
}

TEST_F(ReceiveArchiveTest, EndposAtSegmentBoundary) {
  // Background WAL (running-xacts records) may slip in after the switch: retry.
  std::string endpos;
  for (int attempt = 0; attempt < 5; ++attempt) {
    primary().exec("CREATE TABLE IF NOT EXISTS filler (id bigserial, pad text)");
    primary().exec("INSERT INTO filler (pad) SELECT 'boundary' FROM generate_series(1, 100)");
    primary().exec("SELECT pg_switch_wal()");
    endpos = flush_lsn(primary());
    if (offset_in_segment(parse_lsn(endpos)) == 0) break;
  }
  const std::uint64_t end = parse_lsn(endpos);
  ASSERT_EQ(offset_in_segment(end), 0U) << endpos;
  const fs::path archive = copy_archive();
  const CommandResult result = receive_to(archive, primary(), "base", endpos);
  ASSERT_EQ(result.exit_code, 0) << result.describe();
  // Ends with the segment before the boundary, complete, as the server has it.
  const std::string last = segment_name(1, segno_of(end) - 1);
  ASSERT_TRUE(fs::exists(archive / last)) << describe_archive(archive);
  EXPECT_TRUE(read_file(archive / last) == read_file(primary().data_dir() / "pg_wal" / last));
  EXPECT_EQ(archive_problems(archive, segno_of(end) - 1), "");
  for (const auto& file : list_archive(archive)) {
    EXPECT_LT(file.segno, segno_of(end)) << file.name << " is past the end position " << endpos;
  }
}

// Finding 4: a restart rewrites the .partial it continues in place. The WAL
// it already held stays there until the same bytes are written over it, even
// beyond where the new run stops (the old code truncated and zero-filled it
// first).
TEST_F(ReceiveArchiveTest, RestartKeepsTheWalItsPartialAlreadyHeld) {
  primary().exec("CREATE TABLE IF NOT EXISTS filler (id bigserial, pad text)");
  primary().exec("SELECT pg_switch_wal()");
  std::string full;
  for (int attempt = 0; attempt < 20; ++attempt) {
    primary().exec("INSERT INTO filler (pad) SELECT repeat('w', 200) FROM generate_series(1, 400)");
    full = flush_lsn(primary());
    if (offset_in_segment(parse_lsn(full)) > 256 * 1024) break;
  }
  const std::uint64_t full_lsn = parse_lsn(full);
  ASSERT_GT(offset_in_segment(full_lsn), 256U * 1024) << full;
  const fs::path archive = copy_archive();
  const CommandResult first = receive_to(archive, primary(), "base", full);
  ASSERT_EQ(first.exit_code, 0) << first.describe();
  const fs::path partial = archive / (segment_name(1, segno_of(full_lsn)) + ".partial");
  ASSERT_TRUE(fs::exists(partial)) << describe_archive(archive);
  const std::string held = read_file(partial).substr(0, offset_in_segment(full_lsn));

  // Stop halfway through what the .partial holds.
  const std::uint64_t middle = full_lsn - offset_in_segment(full_lsn) / 2;
  const CommandResult second = receive_to(archive, primary(), "base", format_lsn(middle));
  ASSERT_EQ(second.exit_code, 0) << second.describe();
  const std::string after = read_file(partial).substr(0, offset_in_segment(full_lsn));
  EXPECT_TRUE(after == held) << "the .partial lost WAL it held: " << first_difference(held, after);
  expect_same_prefix(primary().data_dir() / "pg_wal" / segment_name(1, segno_of(full_lsn)), archive,
                     full_lsn);
}

// What SIGKILL during compression leaves: the completed segment NAME and a
// half-written NAME.zst.tmp. The next run must finish the job.
TEST_F(ReceiveArchiveTest, CompressesSegmentLeftByKilledCompression) {
  const fs::path archive = copy_archive();
  const auto segments = complete_segments(archive);
  ASSERT_GE(segments.size(), 2U);
  for (std::size_t i = 0; i + 1 < segments.size(); ++i) {
    const fs::path plain = archive / segments[i].name;
    const CommandResult packed =
        run_command({"zstd", "-q", "--rm", "-o", plain.string() + ".zst", plain.string()});
    ASSERT_EQ(packed.exit_code, 0) << packed.describe();
  }
  const std::string left = segments.back().name;
  const std::string original = read_file(archive / left);
  const CommandResult half = run_command({"zstd", "-q", "-c", (archive / left).string()});
  ASSERT_EQ(half.exit_code, 0);
  write_file(archive / (left + ".zst.tmp"), half.out.substr(0, half.out.size() / 2));

  const CommandResult result = run_walstream(
      receive_args(archive, primary(), {"-S", "base", "-E", end_lsn_, "--compress=zstd"}),
      password_env(), 60s);
  ASSERT_EQ(result.exit_code, 0) << result.describe();
  EXPECT_FALSE(fs::exists(archive / (left + ".zst.tmp"))) << describe_archive(archive);
  EXPECT_FALSE(fs::exists(archive / left)) << left << " was left uncompressed\n"
                                           << describe_archive(archive);
  const fs::path restored = TestEnv::unique_path("restored");
  const CommandResult restore =
      run_walstream({"restore-wal", archive.string(), left, restored.string()}, {}, 60s);
  ASSERT_EQ(restore.exit_code, 0) << restore.describe();
  EXPECT_TRUE(read_file(restored) == original);
}

TEST_F(ReceiveArchiveTest, ApplicationNameFromConnectionString) {
  create_slot(primary(), "named");
  const fs::path archive = TestEnv::unique_path("named_archive");
  auto receiver = start_walstream({"receive", "-D", archive.string(), "-S", "named", "-d",
                                   "host=127.0.0.1 port=" + std::to_string(primary().port()) +
                                       " user=r application_name=archiver_one"},
                                  password_env());
  ASSERT_TRUE(wait_slot_active(primary(), "named", *receiver)) << receiver->wait(10s).describe();
  EXPECT_EQ(primary().query_value("SELECT application_name FROM pg_stat_replication WHERE pid = " +
                                  slot_active_pid(primary(), "named")),
            "archiver_one");
  const CommandResult result = stop_receiver(*receiver);
  EXPECT_EQ(result.exit_code, 0) << result.describe();
  primary().exec("SELECT pg_drop_replication_slot('named')");
}

// restore_command's contract: 1 (not above 125, which would stop recovery)
// for a file the archive does not have.
TEST_F(ReceiveArchiveTest, RestoreWalMissingFileExitsOne) {
  const auto segments = complete_segments(base_archive_);
  ASSERT_GE(segments.size(), 2U);
  const fs::path archive = TestEnv::make_dir("restore_archive");
  const fs::path original_plain = base_archive_ / segments[0].name;
  const fs::path original_zst = base_archive_ / segments[1].name;
  fs::copy_file(original_plain, archive / segments[0].name);
  const CommandResult packed =
      run_command({"zstd", "-q", "-o", (archive / (segments[1].name + ".zst")).string(),
                   original_zst.string()});
  ASSERT_EQ(packed.exit_code, 0) << packed.describe();
  const std::string history = "1\t0/3000000\tno recovery target specified\n";
  write_file(archive / "00000002.history", history);
  const fs::path out = TestEnv::make_dir("restore_out");
  auto restore = [&](const std::string& name, const fs::path& target) {
    return run_walstream({"restore-wal", archive.string(), name, target.string()}, {}, 60s);
  };

  const std::string absent = segment_name(1, segments.back().segno + 100);
  const CommandResult missing = restore(absent, out / "missing");
  EXPECT_EQ(missing.exit_code, kExitFailure) << missing.describe();
  EXPECT_FALSE(missing.timed_out);
  EXPECT_FALSE(fs::exists(out / "missing"));
  const CommandResult missing_history = restore("00000003.history", out / "missing.history");
  EXPECT_EQ(missing_history.exit_code, kExitFailure) << missing_history.describe();
  EXPECT_FALSE(fs::exists(out / "missing.history"));

  CommandResult result = restore("00000002.history", out / "history");
  ASSERT_EQ(result.exit_code, 0) << result.describe();
  EXPECT_EQ(read_file(out / "history"), history);

  result = restore(segments[0].name, out / "plain");
  ASSERT_EQ(result.exit_code, 0) << result.describe();
  EXPECT_TRUE(read_file(out / "plain") == read_file(original_plain));

  result = restore(segments[1].name, out / "unpacked");
  ASSERT_EQ(result.exit_code, 0) << result.describe();
  const std::string unpacked = read_file(out / "unpacked");
  const std::string original = read_file(original_zst);
  EXPECT_TRUE(unpacked == original) << first_difference(original, unpacked);
}

}  // namespace
}  // namespace walstream::it
