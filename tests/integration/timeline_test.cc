// End-to-end tests of timeline switches: `walstream receive` starting on a
// later timeline, resuming exactly at the end of a historic timeline, killed
// or disconnected around a promotion, and `walstream clone` of a standby
// whose upstream is promoted while the backup runs. Servers use 1 MB WAL
// segments (initdb --wal-segsize=1).
//
// The references are independent of the code under test: standbys are made
// with pg_basebackup, archives are compared with pg_receivewal's and with the
// servers' pg_wal, timeline history files with the server's, a clone with
// pg_verifybackup, pg_basebackup and a standby that replays it.
#include <poll.h>
#include <signal.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <exception>
#include <filesystem>
#include <functional>
#include <iostream>
#include <memory>
#include <regex>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/integration/test_env.h"
#include "tests/integration/wal_archive.h"

namespace walstream::it {
namespace {

namespace fs = std::filesystem;

constexpr const char* kHistory2 = "00000002.history";

// --- Servers ------------------------------------------------------------------

// A hot standby of `upstream` made by pg_basebackup -R (the reference tool,
// so that these tests do not depend on walstream clone), started and
// streaming. `upstream` may itself be a standby (cascading).
std::unique_ptr<PgCluster> start_standby(const PgCluster& upstream, const std::string& name) {
  const fs::path data = PgCluster::clone_data_dir(name);
  std::vector<std::string> argv{TestEnv::pg_bin("pg_basebackup").string(), "-D", data.string()};
  for (auto& arg : connection_args(upstream)) argv.push_back(arg);
  for (const char* arg : {"-X", "stream", "-R", "-c", "fast", "-w"}) argv.emplace_back(arg);
  const CommandResult made = run_command(argv, password_env(), 120s);
  if (made.exit_code != 0) {
    throw std::runtime_error("pg_basebackup of " + upstream.name() + ": " + made.describe());
  }
  auto standby = PgCluster::for_clone(name);
  standby->start();
  std::string last;
  if (!standby->wait_for_value("SELECT status FROM pg_stat_wal_receiver", "streaming", 60s,
                               &last)) {
    throw std::runtime_error(name + " does not stream from " + upstream.name() + ": " + last +
                             "\n" + standby->log_tail(20));
  }
  return standby;
}

fs::path pg_wal(const PgCluster& server) { return server.data_dir() / "pg_wal"; }

// Waits until `server` has replayed WAL up to `lsn`.
bool wait_replayed(PgCluster& server, const std::string& lsn) {
  return server.wait_for_value(
      "SELECT pg_last_wal_replay_lsn() >= " + sql_literal(lsn) + "::pg_lsn", "t", 30s);
}

// Where the newest timeline of a history file begins: the LSN on its last
// line ("<parent timeline>\t<switch LSN>\t<reason>").
std::uint64_t switch_point(const std::string& history) {
  static const std::regex line(R"(^\s*\d+\s+([0-9A-Fa-f]+/[0-9A-Fa-f]+))");
  std::uint64_t lsn = 0;
  for (const auto& text : non_empty_lines(history)) {
    std::smatch match;
    if (std::regex_search(text, match, line)) lsn = parse_lsn(match[1].str());
  }
  if (lsn == 0) throw std::runtime_error("no switch point in history file: " + history);
  return lsn;
}

// The switch point of timeline 2 on a promoted server.
std::uint64_t timeline_2_start(const PgCluster& promoted) {
  return switch_point(read_file(pg_wal(promoted) / kHistory2));
}

std::string walsender_count(PgCluster& server) {
  return server.query_value("SELECT count(*) FROM pg_stat_replication");
}

// Waits until a walsender serves `receiver` (true) or `receiver` ended.
bool wait_walsender(PgCluster& server, Process& receiver) {
  return wait_until([&] { return !receiver.running() || walsender_count(server) == "1"; }, 30s) &&
         receiver.running();
}

// Terminates every walsender of `server`; returns how many there were.
int terminate_walsenders(PgCluster& server) {
  return std::stoi(
      server.query_value("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_replication"));
}

// Waits until the archive holds the complete segment of `lsn` on `timeline`,
// with `receiver` still running.
void expect_archived(Process& receiver, const fs::path& archive, std::uint32_t timeline,
                     std::uint64_t lsn) {
  const fs::path segment = archive / segment_name(timeline, segno_of(lsn));
  ASSERT_TRUE(wait_until([&] { return fs::exists(segment) || !receiver.running(); }, 60s) &&
              receiver.running())
      << segment.filename() << " never arrived\n"
      << describe_archive(archive) << receiver.stderr_so_far();
}

// Kills `receiver` with SIGKILL (also when it is stopped) and waits until its
// walsender on `server` is gone, so that the next receiver's is the only one.
void kill_nine(Process& receiver, PgCluster& server, const std::string& moment) {
  const CommandResult killed = stop_receiver(receiver, SIGKILL);
  EXPECT_EQ(killed.term_signal, SIGKILL) << moment << ": " << killed.describe();
  EXPECT_TRUE(wait_until([&] { return walsender_count(server) == "0"; }, 30s)) << moment;
}

// Files appearing in a directory (created, or renamed into it), seen through
// inotify as they appear: a receiver can be stopped or killed microseconds
// after one of its steps rather than a polling interval later.
class DirectoryWatch {
 public:
  explicit DirectoryWatch(const fs::path& dir)
      : dir_(dir), fd_(::inotify_init1(IN_CLOEXEC | IN_NONBLOCK)) {
    if (fd_ < 0 || ::inotify_add_watch(fd_, dir.c_str(), IN_CREATE | IN_MOVED_TO) < 0) {
      const std::string reason = std::strerror(errno);
      if (fd_ >= 0) ::close(fd_);
      throw std::runtime_error("cannot watch " + dir.string() + ": " + reason);
    }
  }
  ~DirectoryWatch() { ::close(fd_); }
  DirectoryWatch(const DirectoryWatch&) = delete;
  DirectoryWatch& operator=(const DirectoryWatch&) = delete;

  // Waits until a file named `name` appears (or is there already); false when
  // `receiver` exits first or `timeout` passes.
  bool wait_for(const std::string& name, Process& receiver,
                std::chrono::milliseconds timeout = 30s) {
    if (fs::exists(dir_ / name)) return true;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    alignas(inotify_event) char buffer[4096];
    while (std::chrono::steady_clock::now() < deadline) {
      for (;;) {
        const ssize_t length = ::read(fd_, buffer, sizeof buffer);
        if (length <= 0) break;
        for (ssize_t offset = 0; offset < length;) {
          const auto* event = reinterpret_cast<const inotify_event*>(buffer + offset);
          if (event->len > 0 && name == event->name) return true;
          offset += static_cast<ssize_t>(sizeof(inotify_event) + event->len);
        }
      }
      if (!receiver.running()) return false;
      pollfd ready{fd_, POLLIN, 0};
      ::poll(&ready, 1, 10);
    }
    return false;
  }

 private:
  fs::path dir_;
  int fd_;
};

bool has_timeline_2_segment(const fs::path& archive) {
  const auto files = list_archive(archive);
  return std::any_of(files.begin(), files.end(), [](const ArchiveFile& file) {
    return file.is_segment() && file.timeline == 2;
  });
}

// --- What a receiver must leave behind -----------------------------------------

// The archive of a receiver that followed `standby`'s promotion (timeline 2
// begins at `switch_lsn`) and stopped at `end` on timeline 2: no hole;
// timeline 1 only up to the switch, its complete segments as `primary` (the
// old primary) wrote them and the switch segment, kept .partial, holding the
// same WAL up to the switch; 00000002.history and the timeline-2 segments as
// the promoted standby has them.
void expect_followed_switch(const fs::path& archive, const PgCluster& primary,
                            const PgCluster& standby, std::uint64_t switch_lsn, std::uint64_t end) {
  EXPECT_EQ(archive_problems(archive, last_segno_before(end)), "");
  if (fs::exists(archive / kHistory2)) {
    EXPECT_EQ(read_file(archive / kHistory2), read_file(pg_wal(standby) / kHistory2));
  } else {
    ADD_FAILURE() << "no " << kHistory2 << " in the archive\n" << describe_archive(archive);
  }
  const std::uint64_t switch_segno = segno_of(switch_lsn);
  const bool switch_mid_segment = offset_in_segment(switch_lsn) != 0;
  int timeline_2_compared = 0;
  for (const auto& file : list_archive(archive)) {
    if (!file.is_segment()) continue;
    if (file.timeline == 1) {
      EXPECT_TRUE(switch_mid_segment ? file.segno <= switch_segno : file.segno < switch_segno)
          << file.name << " lies past the end of timeline 1 at " << format_lsn(switch_lsn);
      if (file.kind != FileKind::kComplete) continue;
      if (file.segno == switch_segno) {
        ADD_FAILURE() << file.name << " holds the switch to timeline 2 at "
                      << format_lsn(switch_lsn) << " and must stay .partial";
        continue;
      }
      const fs::path reference = pg_wal(primary) / file.name;
      EXPECT_TRUE(fs::exists(reference) && read_file(archive / file.name) == read_file(reference))
          << file.name << " differs from the old primary's";
    } else if (file.timeline == 2) {
      EXPECT_GE(file.segno, switch_segno)
          << file.name << " lies before the start of timeline 2 at " << format_lsn(switch_lsn);
      if (file.kind != FileKind::kComplete) continue;
      const fs::path reference = pg_wal(standby) / file.name;
      const std::string have = read_file(archive / file.name);
      const std::string want = fs::exists(reference) ? read_file(reference) : std::string();
      EXPECT_TRUE(have == want) << file.name << " differs from the promoted standby's: "
                                << first_difference(want, have);
      ++timeline_2_compared;
    } else {
      ADD_FAILURE() << file.name << " is on an unexpected timeline";
    }
  }
  EXPECT_GT(timeline_2_compared, 0) << "no complete timeline-2 segment\n"
                                    << describe_archive(archive);
  if (switch_mid_segment) {
    expect_same_prefix(pg_wal(primary) / segment_name(1, switch_segno), archive, switch_lsn, 1);
  }
  expect_same_prefix(pg_wal(standby) / segment_name(2, segno_of(end)), archive, end, 2);
}

// --- 1. Starting on timeline 2 --------------------------------------------------

// A server already on timeline 2 (a promoted standby): the archive, started
// there, must hold 00000002.history like pg_receivewal's (which fetches the
// history of the timeline it starts on) and the same segments.
TEST(TimelineTest, ReceiveStartingOnTimeline2FetchesItsHistory) {
  auto primary = start_primary("tlstart_primary");
  auto standby = start_standby(*primary, "tlstart_standby");
  const std::string on_timeline_1 = generate_wal(*primary, 1);
  ASSERT_TRUE(wait_replayed(*standby, on_timeline_1));
  primary->stop();
  standby->promote();
  // One statement: both slots reserve WAL from the same position, on
  // timeline 2.
  standby->exec(
      "SELECT pg_create_physical_replication_slot('a', true), "
      "pg_create_physical_replication_slot('b', true)");
  ASSERT_EQ(standby->query_value("SELECT count(DISTINCT restart_lsn) FROM pg_replication_slots"),
            "1");
  const std::string endpos = generate_wal(*standby, 3);
  const std::uint64_t end = parse_lsn(endpos);

  const fs::path reference = TestEnv::unique_path("tlstart_pg_receivewal");
  const fs::path archive = TestEnv::unique_path("tlstart_walstream");
  const CommandResult reference_result = pg_receivewal_to(reference, *standby, "a", endpos);
  ASSERT_EQ(reference_result.exit_code, 0) << reference_result.describe();
  ASSERT_TRUE(fs::exists(reference / kHistory2)) << describe_archive(reference);
  const CommandResult result = run_walstream(
      receive_args(archive, *standby, {"-S", "b", "-E", endpos}), password_env(), 60s);
  ASSERT_EQ(result.exit_code, 0) << result.describe();

  if (fs::exists(archive / kHistory2)) {
    EXPECT_EQ(read_file(archive / kHistory2), read_file(reference / kHistory2));
    EXPECT_EQ(read_file(archive / kHistory2), read_file(pg_wal(*standby) / kHistory2));
  } else {
    ADD_FAILURE() << "the history of the starting timeline was not fetched\n"
                  << describe_archive(archive);
  }
  expect_same_complete_segments(reference, archive, segno_of(end));
  const std::string last = segment_name(2, segno_of(end));
  expect_same_prefix(
      fs::exists(reference / last) ? reference / last : reference / (last + ".partial"), archive,
      end, 2);
  EXPECT_EQ(archive_problems(archive, last_segno_before(end)), "");
  for (const auto& file : list_archive(archive)) {
    if (file.is_segment()) {
      EXPECT_EQ(file.timeline, 2U) << file.name;
    }
  }
}

// --- 2. Resuming exactly at the end of a historic timeline ----------------------

// Ends timeline 1 exactly at a segment boundary: the primary's WAL ends with
// pg_switch_wal(), the standby has received and replayed it, and the primary
// stops without a shutdown checkpoint (-m immediate). Returns the boundary.
// Background WAL written after the switch spoils an attempt; then the
// primary is restarted and it tries again.
std::uint64_t stop_primary_at_segment_boundary(PgCluster& primary, PgCluster& standby) {
  for (int attempt = 1; attempt <= 5; ++attempt) {
    generate_wal(primary, 1);
    const std::string boundary = flush_lsn(primary);
    if (offset_in_segment(parse_lsn(boundary)) != 0) continue;
    const std::string at = sql_literal(boundary) + "::pg_lsn";
    if (!standby.wait_for_value(
            "SELECT pg_last_wal_receive_lsn() = " + at + " AND pg_last_wal_replay_lsn() = " + at,
            "t", 30s)) {
      continue;
    }
    if (flush_lsn(primary) != boundary) continue;
    primary.stop_immediate();
    if (standby.query_value("SELECT pg_last_wal_receive_lsn() = " + at) == "t") {
      return parse_lsn(boundary);
    }
    primary.start();
  }
  throw std::runtime_error("could not end timeline 1 at a segment boundary");
}

// The archive ends with the last complete timeline-1 segment; timeline 1
// ended right after it. The receiver resumes at (timeline 1, boundary), where
// the server answers START_REPLICATION with the next timeline and no COPY. It
// must continue on timeline 2.
TEST(TimelineTest, ResumesExactlyAtTheEndOfAHistoricTimeline) {
  PgClusterOptions options;
  options.extra_conf = {"autovacuum = off"};  // less background WAL after the switch
  auto primary = start_primary("tlend_primary", options);
  auto standby = start_standby(*primary, "tlend_standby");
  const std::uint64_t boundary = stop_primary_at_segment_boundary(*primary, *standby);
  standby->promote();
  ASSERT_EQ(format_lsn(timeline_2_start(*standby)), format_lsn(boundary))
      << "setup: timeline 2 must begin exactly at the segment boundary\n"
      << read_file(pg_wal(*standby) / kHistory2);

  // The contiguous timeline-1 segments before the boundary, all complete.
  const fs::path archive = TestEnv::make_dir("tlend_archive");
  const std::uint64_t boundary_segno = segno_of(boundary);
  for (std::uint64_t segno = boundary_segno - 3; segno < boundary_segno; ++segno) {
    const std::string name = segment_name(1, segno);
    ASSERT_TRUE(fs::exists(pg_wal(*primary) / name)) << name;
    ASSERT_EQ(fs::file_size(pg_wal(*primary) / name), kSegmentSize) << name;
    fs::copy_file(pg_wal(*primary) / name, archive / name);
  }
  const std::string endpos = generate_wal(*standby, 2);
  const std::uint64_t end = parse_lsn(endpos);

  const CommandResult result =
      run_walstream(receive_args(archive, *standby, {"-E", endpos}), password_env(), 60s);
  ASSERT_EQ(result.exit_code, 0) << result.describe();
  expect_followed_switch(archive, *primary, *standby, boundary, end);
}

// --- 3. SIGKILL around a timeline switch ----------------------------------------

// The receiver streams from a standby and is killed with SIGKILL at four
// moments around the standby's promotion, restarted after each; then it runs
// to an end position on timeline 2. The moments, each seen through inotify:
//   1. stopped (SIGSTOP) before the promotion and killed after it: it never
//      saw the end of timeline 1;
//   2. as soon as 00000002.history is renamed into place, before (usually)
//      any timeline-2 WAL arrived;
//   3. as soon as the timeline-2 file of the switch segment is created (when
//      run 2 already created it: as soon as run 3 streams again);
//   4. as soon as that segment is complete (renamed from .partial).
TEST(TimelineTest, KillNineAroundTimelineSwitchLeavesNoGap) {
  auto primary = start_primary("tlkill_primary");
  auto standby = start_standby(*primary, "tlkill_standby");
  const fs::path archive = TestEnv::make_dir("tlkill_archive");
  const std::vector<std::string> args = receive_args(archive, *standby, {"-s", "1"});
  auto receiver = start_walstream(args, password_env());
  ASSERT_TRUE(wait_walsender(*standby, *receiver)) << receiver->wait(10s).describe();
  ASSERT_NO_FATAL_FAILURE(
      expect_archived(*receiver, archive, 1, parse_lsn(generate_wal(*primary, 2))));

  // 1.
  receiver->send_signal(SIGSTOP);
  primary->stop();
  standby->promote();
  const std::uint64_t switch_lsn = timeline_2_start(*standby);
  kill_nine(*receiver, *standby, "moment 1");
  EXPECT_FALSE(fs::exists(archive / kHistory2)) << "moment 1 is not covered";
  EXPECT_EQ(archive_problems(archive, 0, /*after_kill=*/true), "") << "after moment 1";

  // 2.
  auto watch = std::make_unique<DirectoryWatch>(archive);
  receiver = start_walstream(args, password_env());
  ASSERT_TRUE(watch->wait_for(kHistory2, *receiver))
      << kHistory2 << " never arrived\n"
      << describe_archive(archive) << receiver->wait(10s).describe();
  kill_nine(*receiver, *standby, "moment 2");
  const bool timeline_2_at_kill_2 = has_timeline_2_segment(archive);
  EXPECT_EQ(archive_problems(archive, 0, /*after_kill=*/true), "") << "after moment 2";

  // 3.
  const std::string switch_segment = segment_name(2, segno_of(switch_lsn));
  const std::string switch_partial = switch_segment + ".partial";
  const bool had_switch_segment =
      fs::exists(archive / switch_segment) || fs::exists(archive / switch_partial);
  watch = std::make_unique<DirectoryWatch>(archive);
  receiver = start_walstream(args, password_env());
  if (had_switch_segment) {
    ASSERT_TRUE(wait_walsender(*standby, *receiver)) << receiver->wait(10s).describe();
  } else {
    ASSERT_TRUE(watch->wait_for(switch_partial, *receiver))
        << switch_partial << " never arrived\n"
        << describe_archive(archive) << receiver->wait(10s).describe();
  }
  kill_nine(*receiver, *standby, "moment 3");
  EXPECT_EQ(archive_problems(archive, 0, /*after_kill=*/true), "") << "after moment 3";

  // 4.
  watch = std::make_unique<DirectoryWatch>(archive);
  receiver = start_walstream(args, password_env());
  standby->exec("CREATE TABLE on_timeline_2 AS SELECT g FROM generate_series(1, 20000) g");
  standby->exec("SELECT pg_switch_wal()");
  ASSERT_TRUE(watch->wait_for(switch_segment, *receiver))
      << switch_segment << " was never completed\n"
      << describe_archive(archive) << receiver->wait(10s).describe();
  kill_nine(*receiver, *standby, "moment 4");
  EXPECT_EQ(archive_problems(archive, 0, /*after_kill=*/true), "") << "after moment 4";
  std::cerr << "kill moments: switch at " << format_lsn(switch_lsn)
            << "; timeline-2 WAL in the archive after kill 2: " << timeline_2_at_kill_2
            << "; the switch segment existed before run 3: " << had_switch_segment << "\n";

  const std::string endpos = generate_wal(*standby, 2);
  const std::uint64_t end = parse_lsn(endpos);
  const CommandResult final_run =
      run_walstream(receive_args(archive, *standby, {"-E", endpos}), password_env(), 60s);
  ASSERT_EQ(final_run.exit_code, 0) << final_run.describe();
  expect_followed_switch(archive, *primary, *standby, switch_lsn, end);
}

// --- 4. Disconnected around a timeline switch -----------------------------------

// Runs `action` every `period` on its own thread until destroyed; errors
// (a server restarting, a promotion in progress) are ignored.
class Repeater {
 public:
  Repeater(std::function<void()> action, std::chrono::milliseconds period)
      : thread_([this, action = std::move(action), period] {
          while (!stop_) {
            try {
              action();
            } catch (const std::exception&) {
            }
            std::this_thread::sleep_for(period);
          }
        }) {}
  ~Repeater() {
    stop_ = true;
    thread_.join();
  }
  Repeater(const Repeater&) = delete;
  Repeater& operator=(const Repeater&) = delete;

 private:
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// How one round disturbs the receiver's connection while it promotes
// `standby`.
using Disruption = std::function<void(PgCluster& standby, Process& receiver,
                                      const fs::path& archive, std::string& observed)>;

// pg_ctl promote -w on `standby`, in the background: the caller watches the
// receiver meanwhile and waits for the result.
std::unique_ptr<Process> start_promotion(const PgCluster& standby) {
  return Process::start(
      {TestEnv::pg_bin("pg_ctl").string(), "-D", standby.data_dir().string(), "-w", "promote"});
}

// One round of ReconnectsAroundTimelineSwitchWithoutGap: a fresh standby of
// `primary` whose timeline 1 ends inside a segment (`mid_segment`) or at the
// end of one, a receiver streaming from it, the promotion under `disrupt`,
// then WAL on timeline 2 that the same receiver process must archive.
void disconnect_round(PgCluster& primary, const std::string& name, bool mid_segment,
                      const Disruption& disrupt) {
  auto standby = start_standby(primary, "tldisc_standby_" + name);
  const fs::path archive = TestEnv::unique_path("tldisc_archive_" + name);
  auto receiver = start_walstream(receive_args(archive, *standby, {"-s", "1"}), password_env());
  ASSERT_TRUE(wait_walsender(*standby, *receiver)) << receiver->wait(10s).describe();
  // generate_wal ends with a segment switch: timeline 1 ends at a segment
  // boundary unless more WAL follows.
  ASSERT_NO_FATAL_FAILURE(
      expect_archived(*receiver, archive, 1, parse_lsn(generate_wal(primary, 2))));
  if (mid_segment) primary.exec("INSERT INTO filler (pad) VALUES ('inside a segment')");
  ASSERT_TRUE(wait_replayed(*standby, flush_lsn(primary)));

  std::string observed;
  ASSERT_NO_FATAL_FAILURE(disrupt(*standby, *receiver, archive, observed));
  const std::uint64_t switch_lsn = timeline_2_start(*standby);
  std::cerr << "round " << name << ": " << observed << "; timeline 2 starts at "
            << format_lsn(switch_lsn) << "\n";

  standby->exec("CREATE TABLE on_timeline_2 AS SELECT g FROM generate_series(1, 1000) g");
  const std::uint64_t on_timeline_2 = parse_lsn(flush_lsn(*standby));
  standby->exec("SELECT pg_switch_wal()");
  ASSERT_NO_FATAL_FAILURE(expect_archived(*receiver, archive, 2, on_timeline_2));
  const CommandResult result = stop_receiver(*receiver);
  EXPECT_EQ(result.exit_code, 0) << result.describe();
  expect_followed_switch(archive, primary, *standby, switch_lsn, on_timeline_2);
}

// The receiver (no -n) streams from a standby of a shared primary; each round
// promotes a fresh standby while terminating the receiver's walsender, and
// the receiver must reconnect by itself and end with a gap-free archive that
// equals the servers' WAL. The rounds:
//   frozen_at_boundary, frozen_mid_segment - the receiver, holding all the
//             standby's WAL, is stopped (SIGSTOP) across the promotion, its
//             walsender terminated, then it continues: the connection is lost
//             after the last timeline-1 byte, before the receiver can have
//             seen the switch; it reconnects exactly at the end of timeline 1,
//             where the server answers with the next timeline and no COPY
//             (deterministic; timeline 1 ending at a segment boundary, then
//             inside a segment);
//   storm   - every walsender of the standby is terminated every 50 ms for
//             2.5 s while the standby is promoted: the first connection breaks
//             somewhere around the switch, the reconnects (1 s, then 2 s
//             apart) are broken at random steps: identifying the system,
//             fetching the history, streaming timeline 1 or 2 (random);
//   history - stopped (SIGSTOP) the moment 00000002.history is renamed into
//             the archive (inotify), its walsender terminated, then continued:
//             the connection is lost between fetching the history and the
//             first timeline-2 byte (the round prints whether a timeline-2
//             file existed already).
TEST(TimelineTest, ReconnectsAroundTimelineSwitchWithoutGap) {
  PgClusterOptions options;
  options.extra_conf = {"autovacuum = off"};  // less background WAL after a switch
  auto primary = start_primary("tldisc_primary", options);
  const Disruption frozen = [](PgCluster& standby, Process& receiver, const fs::path&,
                               std::string& observed) {
    ASSERT_TRUE(standby.wait_for_value(
        "SELECT bool_and(write_lsn >= pg_last_wal_replay_lsn()) FROM pg_stat_replication", "t",
        30s));
    receiver.send_signal(SIGSTOP);
    standby.promote();
    observed = "terminated " + std::to_string(terminate_walsenders(standby));
    ASSERT_TRUE(wait_until([&] { return walsender_count(standby) == "0"; }, 30s));
    receiver.send_signal(SIGCONT);
  };
  const Disruption storm = [](PgCluster& standby, Process&, const fs::path& archive,
                              std::string& observed) {
    std::atomic<int> terminated{0};
    {
      Repeater repeater([&] { terminated += terminate_walsenders(standby); }, 50ms);
      standby.promote();
      // Deliberately a time window: the storm must outlast at least one
      // reconnect (1 s backoff) after the switch.
      std::this_thread::sleep_for(2500ms);
    }
    observed =
        "terminated " + std::to_string(terminated.load()) +
        ", history archived during the storm: " + std::to_string(fs::exists(archive / kHistory2));
  };
  const Disruption history = [](PgCluster& standby, Process& receiver, const fs::path& archive,
                                std::string& observed) {
    DirectoryWatch watch(archive);
    auto promotion = start_promotion(standby);
    const bool arrived = watch.wait_for(kHistory2, receiver);
    receiver.send_signal(SIGSTOP);
    const bool timeline_2_data = has_timeline_2_segment(archive);
    const CommandResult promoted = promotion->wait(120s);
    ASSERT_EQ(promoted.exit_code, 0) << promoted.describe();
    ASSERT_TRUE(arrived) << kHistory2 << " never arrived\n" << describe_archive(archive);
    observed = "terminated " + std::to_string(terminate_walsenders(standby)) +
               ", timeline-2 file present when stopped: " + std::to_string(timeline_2_data);
    ASSERT_TRUE(wait_until([&] { return walsender_count(standby) == "0"; }, 30s));
    receiver.send_signal(SIGCONT);
  };
  struct Round {
    std::string name;
    bool mid_segment;
    Disruption disrupt;
  };
  const std::vector<Round> rounds{
      {"frozen_at_boundary", false, frozen},
      {"frozen_mid_segment", true, frozen},
      {"storm", true, storm},
      {"history", true, history},
  };
  for (const Round& round : rounds) {
    SCOPED_TRACE("round " + round.name);
    disconnect_round(*primary, round.name, round.mid_segment, round.disrupt);
  }
}

// --- 5. Clone of a standby whose upstream is promoted during the backup ---------

// Bytes of the data directory the backup sends (pg_wal aside).
std::uint64_t backup_size(const fs::path& data_dir) {
  std::uint64_t bytes = 0;
  std::error_code error;
  for (auto it = fs::recursive_directory_iterator(data_dir, error);
       !error && it != fs::recursive_directory_iterator(); it.increment(error)) {
    if (it->path().filename() == "pg_wal") {
      it.disable_recursion_pending();
      continue;
    }
    std::error_code ignored;
    if (it->is_regular_file(ignored)) bytes += it->file_size(ignored);
  }
  return bytes;
}

int backup_label_start_timeline(const fs::path& backup) {
  const std::string label = read_file(backup / "backup_label");
  std::smatch match;
  if (!std::regex_search(label, match, std::regex(R"(START TIMELINE: (\d+))"))) {
    throw std::runtime_error("no START TIMELINE in backup_label: " + label);
  }
  return std::stoi(match[1].str());
}

struct WalRange {
  int timeline = 0;
  std::uint64_t start = 0;
  std::uint64_t end = 0;
};

// The manifest's WAL-Ranges, newest timeline first as the server lists them.
std::vector<WalRange> manifest_wal_ranges(const fs::path& backup) {
  const auto manifest = nlohmann::json::parse(read_file(backup / "backup_manifest"));
  std::vector<WalRange> ranges;
  for (const auto& range : manifest.at("WAL-Ranges")) {
    ranges.push_back({range.at("Timeline").get<int>(),
                      parse_lsn(range.at("Start-LSN").get<std::string>()),
                      parse_lsn(range.at("End-LSN").get<std::string>())});
  }
  return ranges;
}

int end_timeline(const std::vector<WalRange>& ranges) {
  int newest = 0;
  for (const auto& range : ranges) newest = std::max(newest, range.timeline);
  return newest;
}

// A backup that began on timeline 1 and ended on timeline 2: the manifest
// says so; pg_wal holds 00000002.history as `promoted` (the server that
// created timeline 2) has it and the last segment of each timeline's WAL
// range; pg_verifybackup, which also parses that WAL, accepts it.
void expect_backup_across_switch(const fs::path& backup, const PgCluster& promoted) {
  EXPECT_EQ(backup_label_start_timeline(backup), 1);
  const std::vector<WalRange> ranges = manifest_wal_ranges(backup);
  ASSERT_EQ(end_timeline(ranges), 2) << read_file(backup / "backup_manifest");
  const fs::path wal = backup / "pg_wal";
  if (fs::exists(wal / kHistory2)) {
    EXPECT_EQ(read_file(wal / kHistory2), read_file(pg_wal(promoted) / kHistory2));
  } else {
    ADD_FAILURE() << "no pg_wal/" << kHistory2 << " in " << backup;
  }
  for (const auto& range : ranges) {
    const std::string last_segment = segment_name(range.timeline, last_segno_before(range.end));
    EXPECT_TRUE(fs::exists(wal / last_segment))
        << "no pg_wal/" << last_segment << " for the WAL of timeline " << range.timeline
        << " up to " << format_lsn(range.end);
  }
  const CommandResult verify =
      run_command({TestEnv::pg_bin("pg_verifybackup").string(), backup.string()});
  EXPECT_EQ(verify.exit_code, 0) << verify.describe();
}

// P -> S1 -> S2 (cascading). A throttled clone of S2 runs while S1 is
// promoted and S2 follows it onto timeline 2; a restartpoint on S2 moves its
// minRecoveryPoint, where a standby's backup ends, onto timeline 2. The
// backup starts on timeline 1 and ends on timeline 2: the clone must follow
// the switch like pg_basebackup -X stream (run alongside as the reference).
TEST(TimelineTest, CloneOfStandbyWhoseUpstreamIsPromotedDuringBackup) {
  auto primary = start_primary("tlclone_primary");
  auto upstream = start_standby(*primary, "tlclone_upstream");
  auto source = start_standby(*upstream, "tlclone_source");
  // After the backups that made the standbys (each ends with a segment
  // switch): timeline 1 ends inside a segment.
  primary->exec("CREATE TABLE before_clone AS SELECT g AS id FROM generate_series(1, 1000) g");
  ASSERT_TRUE(source->wait_for_value("SELECT count(*) FROM before_clone", "1000", 30s));

  // Throttled so that each backup takes about 8 s.
  const std::uint64_t rate_kb = std::max<std::uint64_t>(32, backup_size(source->data_dir()) / 8192);
  const std::string rate = std::to_string(rate_kb);
  const fs::path target = PgCluster::clone_data_dir("tlclone_clone");
  auto clone = start_walstream(clone_args(target, *source, {"-r", rate}), password_env());
  const fs::path reference_dir = TestEnv::unique_path("tlclone_pg_basebackup");
  std::vector<std::string> reference_argv{TestEnv::pg_bin("pg_basebackup").string(), "-D",
                                          reference_dir.string()};
  for (auto& arg : connection_args(*source)) reference_argv.push_back(arg);
  for (const std::string& arg : {std::string("-X"), std::string("stream"), std::string("-r"), rate,
                                 std::string("-w"), std::string("--no-sync")}) {
    reference_argv.push_back(arg);
  }
  auto reference = Process::start(reference_argv, password_env());

  const std::string streaming_backups =
      "SELECT coalesce(string_agg(a.application_name, ',' ORDER BY a.application_name), '') "
      "FROM pg_stat_progress_basebackup p JOIN pg_stat_activity a USING (pid) "
      "WHERE p.phase = 'streaming database files'";
  std::string last;
  ASSERT_TRUE(source->wait_for_value(streaming_backups, "pg_basebackup,walstream", 30s, &last))
      << "both backups should be sending files: " << last << "\n"
      << clone->stderr_so_far() << reference->stderr_so_far();

  upstream->promote();
  ASSERT_NE(offset_in_segment(timeline_2_start(*upstream)), 0U)
      << "setup: timeline 1 should end inside a segment\n"
      << read_file(pg_wal(*upstream) / kHistory2);
  upstream->exec("CREATE TABLE on_timeline_2 AS SELECT g AS id FROM generate_series(1, 1000) g");
  upstream->exec("CHECKPOINT");
  const std::string after_checkpoint = flush_lsn(*upstream);
  ASSERT_TRUE(wait_replayed(*source, after_checkpoint)) << source->log_tail(20);
  source->exec("CHECKPOINT");  // a restartpoint on timeline 2
  ASSERT_EQ(source->query_value("SELECT min_recovery_end_timeline FROM pg_control_recovery()"), "2")
      << "setup: the standby's minimum recovery point must be on timeline 2";
  // The reference backup ends after the restartpoint, so on timeline 2.
  ASSERT_TRUE(source->query_value(streaming_backups).find("pg_basebackup") != std::string::npos)
      << "setup: the backups ended too early; lower the rate";

  const CommandResult reference_result = reference->wait(120s);
  const CommandResult result = clone->wait(120s);
  ASSERT_EQ(reference_result.exit_code, 0)
      << "setup: pg_basebackup -X stream fails too: " << reference_result.describe();
  {
    SCOPED_TRACE("setup: the reference backup made by pg_basebackup");
    ASSERT_NO_FATAL_FAILURE(expect_backup_across_switch(reference_dir, *upstream));
  }

  ASSERT_EQ(result.exit_code, 0) << result.describe();
  ASSERT_NO_FATAL_FAILURE(expect_backup_across_switch(target, *upstream));

  // It starts as a hot standby of S2, replays across the switch and streams.
  auto cloned = PgCluster::for_clone("tlclone_clone");
  cloned->start();
  EXPECT_EQ(cloned->query_value("SELECT pg_is_in_recovery()"), "t");
  EXPECT_TRUE(
      cloned->wait_for_value("SELECT status FROM pg_stat_wal_receiver", "streaming", 60s, &last))
      << last << "\n"
      << cloned->log_tail(20);
  upstream->exec("CREATE TABLE after_clone AS SELECT g AS id FROM generate_series(1, 25) g");
  EXPECT_TRUE(cloned->wait_for_value("SELECT count(*) FROM after_clone", "25", 60s, &last))
      << last << "\n"
      << cloned->log_tail(20);
  EXPECT_EQ(cloned->query_value("SELECT count(*) FROM on_timeline_2"), "1000");
}

}  // namespace
}  // namespace walstream::it
