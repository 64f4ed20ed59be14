// Storage faults under `walstream receive` and `walstream clone`, against a
// real PostgreSQL 15. The fault shim (tests/fault/fault_shim.c), preloaded
// into the binary, makes the Nth write, sync, rename, file creation,
// allocation or syncfs in the target fail. Every case checks that
//   - the command exits 5 (a local I/O failure) with one error line, last,
//     naming the file of a failed call, and never syncs a file successfully
//     after its sync failed;
//   - receive (catching up, and streaming commits as they happen): no segment
//     under its final name differs from the server's pg_wal, and every flush
//     position the server recorded for the slot is held on disk by the
//     server's bytes, although a failed sync also loses what was written to
//     the file since its last successful one (WALSTREAM_FAULT_LOSE); a rerun
//     without the fault resumes the archive and ends with the server's WAL;
//   - clone: the target does not look like a finished clone (no
//     backup_manifest: walstream removes what it created, and empties a
//     directory that existed), nothing is left on the server, and a clone
//     without the fault verifies;
//   - a filesystem refusing O_DIRECT (EINVAL) is no failure: the run succeeds
//     with the same archive or a clone that verifies.
//
// Which N: a first run with N = 0 fails nothing and counts the matching
// calls, C. Every N in 1..kDenseCalls is tried (the first segment, file, sync
// or rename, where the code paths differ most), then kSpreadCalls more spread
// evenly over the rest up to C itself (the last calls: the end position, the
// manifest). A receive makes a few calls of each kind (every N is tried), a
// clone up to a thousand writes and creations. Counts vary a little between
// runs (sync batching, thread order), so a run in which the Nth call never
// came must simply succeed. WALSTREAM_IT_FAULT_EVERY_N=1 tries every N
// instead (many minutes).
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <memory>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/integration/test_env.h"
#include "tests/integration/wal_archive.h"

namespace walstream::it {
namespace {

namespace fs = std::filesystem;
using ::testing::Not;
using ::testing::StartsWith;

constexpr const char* kErrorPrefix = "walstream: error: ";
constexpr long kDenseCalls = 3;
constexpr long kSpreadCalls = 3;

// The calls to make fail, out of `count` matching calls (see the top).
std::vector<long> calls_to_fail(long count) {
  std::vector<long> calls;
  const char* every = std::getenv("WALSTREAM_IT_FAULT_EVERY_N");
  const bool all = every != nullptr && std::string(every) == "1";
  for (long n = 1; n <= count && (all || n <= kDenseCalls); ++n) calls.push_back(n);
  if (!all && count > kDenseCalls) {
    for (long i = 1; i <= kSpreadCalls; ++i) {
      const long n = kDenseCalls + (count - kDenseCalls) * i / kSpreadCalls;
      if (n > calls.back()) calls.push_back(n);
    }
  }
  return calls;
}

// One line per case for the test log: how many calls there were, which
// were made to fail, and how long the runs took.
class CaseSummary {
 public:
  explicit CaseSummary(std::string what)
      : what_(std::move(what)), started_(std::chrono::steady_clock::now()) {}
  ~CaseSummary() {
    const auto seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started_);
    std::cout << what_ << ": " << count_ << " calls; failed at" << tried_ << " in "
              << seconds.count() << " s\n";
  }
  void counted(long count) { count_ = count; }
  void tried(long n, bool failed) {
    tried_ += " " + std::to_string(n) + (failed ? "" : "(no failure)");
  }

 private:
  std::string what_;
  std::chrono::steady_clock::time_point started_;
  long count_ = 0;
  std::string tried_;
};

// What the shim is to do: fail the Nth call of `kind` with `error`, and with
// `sticky` every later one too (a full disk stays full).
struct Fault {
  std::string kind;
  std::string error;
  bool sticky = false;
  // walstream handles this failure (a refusal of O_DIRECT: it writes through
  // the page cache instead), so every run must succeed.
  bool absorbed = false;
  std::string spec(long n) const {
    return kind + ":" + std::to_string(n) + (sticky ? "+" : "") + ":" + error;
  }
};

// One shim log line: "SEQ CALL PATH[ -> PATH2] ok|FAIL ...|error ...".
struct LoggedCall {
  std::string call;
  std::string path;
  std::string outcome;
};

struct FaultedRun {
  CommandResult result;
  long calls = -1;  // -1: no report, the process did not exit normally
  long failures = -1;
  std::vector<LoggedCall> log;
  std::string failed_path;                // of the first failed call
  std::vector<std::string> failed_paths;  // of every failed call
  std::string describe() const {
    std::ostringstream text;
    text << result.describe() << "\nshim: " << calls << " matching calls, " << failures
         << " failed";
    if (!failed_path.empty()) text << ", first on " << failed_path;
    return text.str();
  }
};

// A walstream run with the fault shim armed with `spec` for calls on paths
// under `under`: start it, then collect what it did.
class FaultedProcess {
 public:
  FaultedProcess(const std::vector<std::string>& args, const std::string& spec,
                 const fs::path& under)
      : report_(TestEnv::unique_path("fault-report")), log_(TestEnv::unique_path("fault-log")) {
    EnvOverrides env = password_env();
    env["LD_PRELOAD"] = TestEnv::fault_shim().string();
    env["WALSTREAM_FAULT"] = spec;
    env["WALSTREAM_FAULT_PATH"] = under.string();
    env["WALSTREAM_FAULT_LOG"] = log_.string();
    env["WALSTREAM_FAULT_REPORT"] = report_.string();
    env["WALSTREAM_FAULT_EXE"] = "walstream";
    env["WALSTREAM_FAULT_LOSE"] = "1";
    process_ = start_walstream(args, env);
  }

  Process& process() { return *process_; }

  // Waits for the end of the run.
  FaultedRun wait() {
    FaultedRun run;
    run.result = process_->wait(60s);
    if (fs::exists(report_)) {
      std::istringstream text(read_file(report_));
      std::string word;
      long value = 0;
      while (text >> word >> value) {
        if (word == "calls") run.calls = value;
        if (word == "failures") run.failures = value;
      }
      fs::remove(report_);
    }
    if (fs::exists(log_)) {
      for (const std::string& line : non_empty_lines(read_file(log_))) {
        std::istringstream text(line);
        std::string seq;
        LoggedCall call;
        text >> seq >> call.call >> call.path;
        std::string word;
        while (text >> word) {
          if (word == "ok" || word == "FAIL" || word == "error") {
            call.outcome = word;
            break;
          }
        }
        if (call.outcome == "FAIL") {
          if (run.failed_path.empty()) run.failed_path = call.path;
          run.failed_paths.push_back(call.path);
        }
        run.log.push_back(call);
      }
      fs::remove(log_);
    }
    return run;
  }

 private:
  fs::path report_;
  fs::path log_;
  std::unique_ptr<Process> process_;
};

FaultedRun run_with_fault(const std::vector<std::string>& args, const std::string& spec,
                          const fs::path& under) {
  return FaultedProcess(args, spec, under).wait();
}

// The failure contract of a faulted run: exit 5 (not a crash, not a hang),
// one error line, last, naming the file of a failed call (with every call
// from the Nth on failing, the one that is reported first is a race), and no
// successful sync of a file after its sync failed. Lines before it can only
// be walstream's warnings.
void expect_failed_naming_the_file(const FaultedRun& run) {
  const CommandResult& result = run.result;
  EXPECT_FALSE(result.timed_out) << run.describe();
  EXPECT_EQ(result.exit_code, kExitIo) << run.describe();
  const std::vector<std::string> lines = non_empty_lines(result.err);
  ASSERT_FALSE(lines.empty()) << run.describe();
  const std::string& error = lines.back();
  EXPECT_THAT(error, StartsWith(kErrorPrefix)) << run.describe();
  // A warning line of the text log format: timestamp, process, identity, level.
  const std::regex warning(
      R"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} UTC walstream\[\d+\] \S+ warning: .+)");
  for (std::size_t i = 0; i + 1 < lines.size(); ++i) {
    EXPECT_TRUE(std::regex_match(lines[i], warning)) << lines[i] << "\n" << run.describe();
  }
  ASSERT_FALSE(run.failed_paths.empty()) << run.describe();
  const bool named =
      std::any_of(run.failed_paths.begin(), run.failed_paths.end(), [&](const std::string& path) {
        return error.find(fs::path(path).filename().string()) != std::string::npos;
      });
  EXPECT_TRUE(named) << "the error names no file of a failed call: " << run.describe();
  for (const std::string& failed : run.failed_paths) {
    bool sync_failed = false;
    for (const LoggedCall& call : run.log) {
      const bool is_sync = call.call == "fsync" || call.call == "fdatasync";
      if (!is_sync || call.path != failed) continue;
      if (call.outcome == "FAIL") sync_failed = true;
      EXPECT_FALSE(sync_failed && call.outcome == "ok")
          << call.call << " of " << call.path << " succeeded after it had failed: a retry";
    }
  }
}

// --- walstream receive --------------------------------------------------------

// The server's copy of segment `segno` (timeline 1).
fs::path server_segment(PgCluster& server, std::uint64_t segno) {
  return server.data_dir() / "pg_wal" / segment_name(1, segno);
}

// Every segment under its final name in `archive` is the server's, byte for
// byte.
void expect_final_segments_are_the_servers(PgCluster& server, const fs::path& archive) {
  for (const ArchiveFile& file : list_archive(archive)) {
    if (file.kind != FileKind::kComplete) continue;
    const std::string want = read_file(server_segment(server, file.segno));
    const std::string have = read_file(archive / file.name);
    EXPECT_TRUE(want == have) << file.name
                              << " differs from the server's: " << first_difference(want, have);
  }
}

// The archive holds the server's bytes of [from, to) (in final or .partial
// segments).
void expect_holds(PgCluster& server, const fs::path& archive, std::uint64_t from,
                  std::uint64_t to) {
  for (std::uint64_t lsn = from; lsn < to;) {
    const std::uint64_t segno = segno_of(lsn);
    const std::uint64_t end = std::min(to, (segno + 1) * kSegmentSize);
    const std::string name = segment_name(1, segno);
    fs::path file = archive / name;
    if (!fs::exists(file)) file = archive / (name + ".partial");
    ASSERT_TRUE(fs::exists(file)) << "no " << name << "[.partial] to hold WAL up to "
                                  << format_lsn(to) << "\n"
                                  << describe_archive(archive);
    const std::size_t offset = offset_in_segment(lsn);
    const std::size_t length = end - lsn;
    const std::string want = read_file(server_segment(server, segno)).substr(offset, length);
    const std::string have = read_file(file).substr(offset, length);
    ASSERT_TRUE(want == have) << file << " does not hold the server's WAL from " << format_lsn(lsn)
                              << " to " << format_lsn(end) << ": " << first_difference(want, have);
    lsn = end;
  }
}

// One server for every receive case, with a slot `anchor` that reserves
// the WAL from before the suite wrote any: about 2.5 segments of it, up to
// backlog_end_, are there before a receiver starts (a catch-up: few, large
// batches), and each live case writes its own while the receiver streams.
class ReceiveFaultTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    try {
      primary_ = start_primary("fault_receive_primary");
      create_slot(*primary_, "anchor");
      backlog_start_ = slot_restart("anchor");
      primary_->exec("CREATE TABLE filler (id bigserial, pad text)");
      const std::uint64_t target = backlog_start_ + 5 * kSegmentSize / 2;
      while (parse_lsn(flush_lsn(*primary_)) < target) {
        primary_->exec(
            "INSERT INTO filler (pad) SELECT repeat('x', 100) FROM generate_series(1, 2000)");
      }
      backlog_end_ = parse_lsn(flush_lsn(*primary_));
    } catch (const std::exception& error) {
      setup_error_ = error.what();
      primary_.reset();
    }
  }
  static void TearDownTestSuite() { primary_.reset(); }

  void SetUp() override {
    ASSERT_TRUE(primary_) << "shared primary failed: " << setup_error_;
    ASSERT_FALSE(TestEnv::fault_shim().empty()) << "the fault shim was not copied";
  }

  static PgCluster& primary() { return *primary_; }

  static std::uint64_t slot_restart(const std::string& slot) {
    return parse_lsn(primary_->query_value(
        "SELECT restart_lsn FROM pg_replication_slots WHERE slot_name = " + sql_literal(slot)));
  }

  static std::string new_slot_name() {
    static int counter = 0;
    return "fault_" + std::to_string(++counter);
  }

  static void wait_slot_inactive(const std::string& slot) {
    std::string last;
    ASSERT_TRUE(primary().wait_for_value(
        "SELECT active FROM pg_replication_slots WHERE slot_name = " + sql_literal(slot), "f", 30s,
        &last))
        << slot << " stays active";
  }

  static void drop_slot(const std::string& slot) {
    wait_slot_inactive(slot);
    primary().exec("SELECT pg_drop_replication_slot(" + sql_literal(slot) + ")");
  }

  static std::vector<std::string> args(const fs::path& archive, const std::string& slot,
                                       std::uint64_t end, const std::vector<std::string>& flags) {
    std::vector<std::string> result =
        receive_args(archive, primary(), {"-S", slot, "-E", format_lsn(end), "-n"});
    result.insert(result.end(), flags.begin(), flags.end());
    return result;
  }

  // The archive is the server's WAL from the segment of `start` to `end`,
  // with no hole and nothing under a final name that differs.
  static void expect_whole_archive(const fs::path& archive, std::uint64_t start,
                                   std::uint64_t end) {
    EXPECT_EQ(archive_problems(archive, last_segno_before(end)), "");
    expect_final_segments_are_the_servers(primary(), archive);
    expect_holds(primary(), archive, start / kSegmentSize * kSegmentSize, end);
  }

  // What one receive into `archive` from `slot` (reserving WAL from `start`)
  // up to `end` with the fault must leave (see the top), and the rerun
  // without it.
  static void expect_fault_handled(const FaultedRun& run, const Fault& fault,
                                   const fs::path& archive, const std::string& slot,
                                   std::uint64_t start, std::uint64_t end,
                                   const std::vector<std::string>& flags) {
    if (fault.absorbed || run.failures == 0) {
      EXPECT_EQ(run.result.exit_code, 0) << run.describe();
      expect_whole_archive(archive, start, end);
      return;
    }
    expect_failed_naming_the_file(run);
    expect_final_segments_are_the_servers(primary(), archive);
    // What the server was told is flushed must be on disk, the server's
    // bytes (the slot's position moves only with the reported flush).
    wait_slot_inactive(slot);
    const std::uint64_t flushed = slot_restart(slot);
    if (flushed > start)
      expect_holds(primary(), archive, start / kSegmentSize * kSegmentSize, flushed);
    // The fault gone, a rerun resumes the archive and completes it.
    const CommandResult resumed =
        run_walstream(args(archive, slot, end, flags), password_env(), 60s);
    EXPECT_EQ(resumed.exit_code, 0) << "rerun without the fault: " << resumed.describe();
    expect_whole_archive(archive, start, end);
  }

  // Every chosen N of `fault` on `walstream receive -S -E -n flags...` over
  // the backlog, each from a copy of the anchor slot.
  static void run_backlog_cases(const Fault& fault, const std::vector<std::string>& flags) {
    CaseSummary summary("receive (catch-up) " + fault.spec(0));
    auto one_run = [&](long n, const fs::path& archive, const std::string& slot) {
      primary().exec("SELECT pg_copy_physical_replication_slot('anchor', " + sql_literal(slot) +
                     ")");
      return run_with_fault(args(archive, slot, backlog_end_, flags), fault.spec(n), archive);
    };
    long count = 0;
    {
      const fs::path archive = TestEnv::unique_path("fault_archive");
      const std::string slot = new_slot_name();
      const FaultedRun counting = one_run(0, archive, slot);
      ASSERT_EQ(counting.result.exit_code, 0) << counting.describe();
      expect_whole_archive(archive, backlog_start_, backlog_end_);
      drop_slot(slot);
      count = counting.calls;
    }
    summary.counted(count);
    ASSERT_GT(count, 0) << fault.kind << " never happens in this run";
    for (const long n : calls_to_fail(count)) {
      SCOPED_TRACE(fault.spec(n) + ", out of " + std::to_string(count) + " calls");
      const fs::path archive = TestEnv::unique_path("fault_archive");
      const std::string slot = new_slot_name();
      const FaultedRun run = one_run(n, archive, slot);
      summary.tried(n, run.failures > 0);
      expect_fault_handled(run, fault, archive, slot, backlog_start_, backlog_end_, flags);
      drop_slot(slot);
    }
  }

  // Every chosen N of `fault` on `walstream receive --synchronous` from a
  // new slot while the server commits small transactions up to an end half
  // a segment ahead: each commit reaches the receiver on its own, which syncs
  // and reports a flush position for it, so the server records many.
  static void run_live_cases(const Fault& fault) {
    CaseSummary summary("receive (live) " + fault.spec(0));
    const std::vector<std::string> flags{"--synchronous"};
    auto one_run = [&](long n, const fs::path& archive, const std::string& slot,
                       std::uint64_t& start, std::uint64_t& end) {
      // The live part crosses a segment boundary: it starts 70-80% into a
      // segment (what precedes it in the segment arrives at once).
      while (offset_in_segment(parse_lsn(flush_lsn(primary()))) < 7 * kSegmentSize / 10) {
        primary().exec(
            "INSERT INTO filler (pad) SELECT repeat('x', 100) FROM generate_series(1, 500)");
      }
      // A physical slot reserves from the last checkpoint's redo position.
      primary().exec("CHECKPOINT");
      create_slot(primary(), slot);
      start = slot_restart(slot);
      end = parse_lsn(flush_lsn(primary())) + kSegmentSize / 2;
      FaultedProcess receiver(args(archive, slot, end, flags), fault.spec(n), archive);
      // Written once the receiver streams (or failed before it could).
      wait_until([&] {
        return !receiver.process().running() ||
               primary().query_value("SELECT active FROM pg_replication_slots WHERE slot_name = " +
                                     sql_literal(slot)) == "t";
      });
      primary().exec("DO $$ BEGIN WHILE pg_current_wal_flush_lsn() < '" + format_lsn(end) +
                     "'::pg_lsn LOOP INSERT INTO filler (pad) SELECT repeat('z', 100) FROM "
                     "generate_series(1, 10); COMMIT; PERFORM pg_sleep(0.001); END LOOP; END $$");
      return receiver.wait();
    };
    long count = 0;
    {
      const fs::path archive = TestEnv::unique_path("fault_archive");
      const std::string slot = new_slot_name();
      std::uint64_t start = 0;
      std::uint64_t end = 0;
      const FaultedRun counting = one_run(0, archive, slot, start, end);
      ASSERT_EQ(counting.result.exit_code, 0) << counting.describe();
      expect_whole_archive(archive, start, end);
      drop_slot(slot);
      count = counting.calls;
    }
    summary.counted(count);
    ASSERT_GT(count, 0) << fault.kind << " never happens in this run";
    for (const long n : calls_to_fail(count)) {
      SCOPED_TRACE(fault.spec(n) + " (live), out of " + std::to_string(count) + " calls");
      const fs::path archive = TestEnv::unique_path("fault_archive");
      const std::string slot = new_slot_name();
      std::uint64_t start = 0;
      std::uint64_t end = 0;
      const FaultedRun run = one_run(n, archive, slot, start, end);
      summary.tried(n, run.failures > 0);
      expect_fault_handled(run, fault, archive, slot, start, end, flags);
      drop_slot(slot);
    }
  }

  static std::unique_ptr<PgCluster> primary_;
  static std::string setup_error_;
  static std::uint64_t backlog_start_;
  static std::uint64_t backlog_end_;
};

std::unique_ptr<PgCluster> ReceiveFaultTest::primary_;
std::string ReceiveFaultTest::setup_error_;
std::uint64_t ReceiveFaultTest::backlog_start_ = 0;
std::uint64_t ReceiveFaultTest::backlog_end_ = 0;

// A synchronous standby catching up: zero-filled segments written with
// direct I/O, a sync (inline) after every batch, the flush reported right
// after it.
TEST_F(ReceiveFaultTest, SynchronousStandbyCatchingUp) {
  for (const Fault& fault : {Fault{"pwrite", "ENOSPC", true}, Fault{"create", "ENOSPC"},
                             Fault{"fdatasync", "EIO"}, Fault{"fsyncdir", "EIO"},
                             Fault{"rename", "EIO"}, Fault{"directwrite", "EINVAL", true, true}}) {
    run_backlog_cases(fault, {"--synchronous"});
  }
}

// A synchronous standby streaming commits as they happen: a sync and a
// flush report per commit.
TEST_F(ReceiveFaultTest, SynchronousStandbyStreaming) {
  for (const Fault& fault : {Fault{"fdatasync", "EIO"}, Fault{"pwrite", "EIO"}}) {
    run_live_cases(fault);
  }
}

// An archiver: allocated segments, syncs in batches on the syncer thread.
TEST_F(ReceiveFaultTest, Archiver) {
  for (const Fault& fault :
       {Fault{"fallocate", "ENOSPC"}, Fault{"fdatasync", "EIO"}, Fault{"rename", "ENOSPC"},
        Fault{"directwrite", "EINVAL", true, true}}) {
    run_backlog_cases(fault, {});
  }
}

// Through the page cache: pwritev straight from libpq's buffers.
TEST_F(ReceiveFaultTest, ThroughThePageCache) {
  run_backlog_cases({"pwritev", "EIO"}, {"--synchronous", "--no-direct-io"});
}

// --- walstream clone ----------------------------------------------------------

class CloneFaultTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    try {
      primary_ = start_primary("fault_clone_primary");
      primary_->exec(
          "CREATE TABLE t AS SELECT g AS id, repeat('y', 200) AS pad "
          "FROM generate_series(1, 2000) g");
    } catch (const std::exception& error) {
      setup_error_ = error.what();
      primary_.reset();
    }
  }
  static void TearDownTestSuite() { primary_.reset(); }

  void SetUp() override {
    ASSERT_TRUE(primary_) << "shared primary failed: " << setup_error_;
    ASSERT_FALSE(TestEnv::fault_shim().empty()) << "the fault shim was not copied";
  }

  static PgCluster& primary() { return *primary_; }

  static std::vector<std::string> args(const fs::path& target,
                                       const std::vector<std::string>& flags) {
    std::vector<std::string> result = clone_args(target, primary());
    result.insert(result.end(), flags.begin(), flags.end());
    return result;
  }

  static void expect_verifies(const fs::path& target) {
    const CommandResult verify =
        run_command({TestEnv::pg_bin("pg_verifybackup").string(), target.string()});
    EXPECT_EQ(verify.exit_code, 0) << "pg_verifybackup " << target << ": " << verify.describe();
  }

  // Nothing of the failed clone stays on the server: its walsenders and its
  // temporary slot are gone.
  static void expect_server_released() {
    std::string last;
    EXPECT_TRUE(primary().wait_for_value(
        "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'walsender'", "0", 30s, &last))
        << "walsenders left: " << last;
    EXPECT_TRUE(
        primary().wait_for_value("SELECT count(*) FROM pg_replication_slots", "0", 30s, &last))
        << "slots left: " << last;
  }

  // Every chosen N of `fault` on `walstream clone flags...`. Every other
  // case clones into an empty directory that exists already: it must be left
  // empty (and still there).
  static void run_cases(const Fault& fault, const std::vector<std::string>& flags) {
    CaseSummary summary("clone " + fault.spec(0));
    long count = 0;
    {
      const fs::path target = TestEnv::unique_path("fault_clone");
      const FaultedRun counting = run_with_fault(args(target, flags), fault.spec(0), target);
      ASSERT_EQ(counting.result.exit_code, 0) << counting.describe();
      expect_verifies(target);
      fs::remove_all(target);
      count = counting.calls;
    }
    summary.counted(count);
    ASSERT_GT(count, 0) << fault.kind << " never happens in this run";
    bool existing = false;
    for (const long n : calls_to_fail(count)) {
      SCOPED_TRACE(fault.spec(n) + ", out of " + std::to_string(count) + " calls" +
                   (existing ? ", into an existing empty directory" : ""));
      const fs::path target = TestEnv::unique_path("fault_clone");
      if (existing) fs::create_directory(target);
      const FaultedRun run = run_with_fault(args(target, flags), fault.spec(n), target);
      summary.tried(n, run.failures > 0);
      if (fault.absorbed || run.failures == 0) {
        EXPECT_EQ(run.result.exit_code, 0) << run.describe();
        expect_verifies(target);
      } else {
        expect_failed_naming_the_file(run);
        EXPECT_FALSE(fs::exists(target / "backup_manifest"))
            << "a failed clone looks finished: " << run.describe();
        if (existing) {
          EXPECT_TRUE(fs::is_directory(target) && fs::is_empty(target))
              << target << " was not emptied again";
        } else {
          EXPECT_FALSE(fs::exists(target)) << target << " was left behind";
        }
        expect_server_released();
      }
      fs::remove_all(target);
      existing = !existing;
    }
  }

  // After the failed clones, a clone without the shim succeeds and verifies.
  static void expect_clean_clone() {
    const fs::path target = TestEnv::unique_path("fault_clone");
    const CommandResult clean = run_walstream(args(target, {}), password_env(), 120s);
    ASSERT_EQ(clean.exit_code, 0) << "clone without the fault: " << clean.describe();
    expect_verifies(target);
    fs::remove_all(target);
  }

  static std::unique_ptr<PgCluster> primary_;
  static std::string setup_error_;
};

std::unique_ptr<PgCluster> CloneFaultTest::primary_;
std::string CloneFaultTest::setup_error_;

// Writing the files: data files through the write pool (direct I/O), the
// manifest and the standby configuration with write(2), creating them all.
// -N: the final syncfs would sync the whole (shared) filesystem each time.
TEST_F(CloneFaultTest, DataWritesFail) {
  for (const Fault& fault : {Fault{"pwrite", "ENOSPC", true}, Fault{"write", "ENOSPC", true},
                             Fault{"create", "EDQUOT"}}) {
    run_cases(fault, {"-N"});
  }
  expect_clean_clone();
}

// The steps that make the clone durable and mark it complete, counted as
// one sequence (a handful of calls in all): renames of WAL segments and of
// the manifest, the manifest's fsync, the directory fsync, syncfs.
TEST_F(CloneFaultTest, DurabilityStepsFail) {
  run_cases({"rename,fsync,fsyncdir,syncfs", "EIO"}, {});
  expect_clean_clone();
}

TEST_F(CloneFaultTest, DirectWritesRefused) {
  run_cases({"directwrite", "EINVAL", true, true}, {"-N"});
}

TEST_F(CloneFaultTest, ThroughThePageCache) {
  run_cases({"writes", "EIO"}, {"--no-direct-io", "-N"});
  expect_clean_clone();
}

}  // namespace
}  // namespace walstream::it
