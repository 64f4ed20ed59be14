// End-to-end tests of `walstream verify` on PostgreSQL 15: a clone taken
// under write load must verify with walstream and with pg_verifybackup, and
// each kind of damage must be rejected by both, walstream naming the file or
// LSN. A WAL archive made by `walstream receive` must verify, and a flipped
// byte or a missing segment must be named. Servers use 1 MB WAL segments so
// that little WAL makes many segments.
#include <signal.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <memory>
#include <regex>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/integration/test_env.h"
#include "tests/integration/wal_archive.h"

namespace walstream::it {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr const char* kErrorPrefix = "walstream: error: ";
constexpr std::uint64_t kPageSize = 8192;

void flip_byte(const fs::path& file, std::uint64_t offset) {
  std::fstream stream(file, std::ios::in | std::ios::out | std::ios::binary);
  ASSERT_TRUE(stream) << file;
  stream.seekg(static_cast<std::streamoff>(offset));
  char byte = 0;
  stream.read(&byte, 1);
  byte = static_cast<char>(byte ^ 0x5A);
  stream.seekp(static_cast<std::streamoff>(offset));
  stream.write(&byte, 1);
  ASSERT_TRUE(stream) << file;
}

struct WalRecord {
  std::uint64_t lsn = 0;
  std::uint64_t length = 0;
};

// Records pg_waldump lists (the reference reader), e.g.
// "rmgr: Heap len (rec/tot): 54/ 54, tx: 735, lsn: 0/01F00108, prev ...".
std::vector<WalRecord> waldump_records(const std::vector<std::string>& args) {
  std::vector<std::string> argv{TestEnv::pg_bin("pg_waldump").string()};
  argv.insert(argv.end(), args.begin(), args.end());
  const CommandResult result = run_command(argv);
  static const std::regex line(R"(len \(rec/tot\):\s*\d+/\s*(\d+),.*lsn: ([0-9A-F]+/[0-9A-F]+))");
  std::vector<WalRecord> records;
  for (const auto& text : non_empty_lines(result.out)) {
    std::smatch match;
    if (std::regex_search(text, match, line)) {
      records.push_back({parse_lsn(match[2].str()), std::stoull(match[1].str())});
    }
  }
  return records;
}

// A record at least 64 bytes long whose first 64 bytes sit on one page, from
// the middle of `records` (between `after` and `before`).
std::optional<WalRecord> pick_record(const std::vector<WalRecord>& records, std::uint64_t after,
                                     std::uint64_t before) {
  std::vector<WalRecord> candidates;
  for (const auto& record : records) {
    if (record.lsn > after && record.lsn + record.length < before && record.length >= 64 &&
        record.lsn % kPageSize + 64 < kPageSize) {
      candidates.push_back(record);
    }
  }
  if (candidates.empty()) return std::nullopt;
  return candidates[candidates.size() / 2];
}

// Damage found: exit 1, verify's "no".
void expect_rejected(const CommandResult& result, const std::string& named) {
  EXPECT_EQ(result.exit_code, kExitFailure) << result.describe();
  EXPECT_THAT(result.err, HasSubstr(kErrorPrefix)) << result.describe();
  EXPECT_THAT(result.err, HasSubstr(named)) << result.describe();
  EXPECT_THAT(result.out, Not(HasSubstr("verified"))) << result.describe();
}

// A primary with 1 MB segments, role r and pgbench tables of scale 2.
std::unique_ptr<PgCluster> start_primary(std::string_view name) {
  PgClusterOptions options;
  options.wal_segment_size_mb = 1;
  auto primary = PgCluster::create_primary(name, options);
  primary->start();
  primary->exec("CREATE ROLE r REPLICATION LOGIN PASSWORD '" + std::string(kPassword) + "'");
  const CommandResult init = run_command(pgbench_argv(*primary, {"-i", "-s", "2"}));
  if (init.exit_code != 0) throw std::runtime_error("pgbench -i: " + init.describe());
  return primary;
}

class VerifyTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    try {
      primary_ = start_primary("verify_primary");

      // Writes go on during the clone, so its WAL has real traffic.
      auto load = Process::start(pgbench_argv(*primary_, {"-c", "2", "-T", "30"}));
      backup_ = PgCluster::clone_data_dir("verify_backup");
      const CommandResult clone = run_walstream(
          {"clone", "-D", backup_.string(), "-h", "127.0.0.1", "-p",
           std::to_string(primary_->port()), "-U", "r", "-c", "fast", "--no-standby-config"},
          password_env());
      load->send_signal(SIGINT);
      load->wait(60s);
      if (clone.exit_code != 0) throw std::runtime_error("clone: " + clone.describe());
    } catch (const std::exception& error) {
      setup_error_ = error.what();
    }
  }

  static void TearDownTestSuite() { primary_.reset(); }

  void SetUp() override { ASSERT_TRUE(setup_error_.empty()) << setup_error_; }

  static fs::path copy_backup() {
    const fs::path copy = TestEnv::unique_path("verify_copy");
    fs::copy(backup_, copy, fs::copy_options::recursive);
    fs::permissions(copy, fs::perms::owner_all);
    return copy;
  }

  static CommandResult walstream_verify(const fs::path& dir) {
    return run_walstream({"verify", dir.string()});
  }

  static CommandResult pg_verifybackup(const fs::path& dir) {
    return run_command({TestEnv::pg_bin("pg_verifybackup").string(), dir.string()});
  }

  // Both tools reject `dir`; walstream's message names `named`.
  static void expect_both_reject(const fs::path& dir, const std::string& named,
                                 const std::string& pg_named) {
    expect_rejected(walstream_verify(dir), named);
    const CommandResult reference = pg_verifybackup(dir);
    EXPECT_NE(reference.exit_code, 0) << reference.describe();
    EXPECT_THAT(reference.out + reference.err, HasSubstr(pg_named)) << reference.describe();
  }

  // (timeline, start, end) of the backup's single WAL range.
  static std::tuple<std::uint32_t, std::uint64_t, std::uint64_t> wal_range() {
    static const std::regex range(
        R"re("Timeline": (\d+), "Start-LSN": "([0-9A-F/]+)", "End-LSN": "([0-9A-F/]+)")re");
    const std::string manifest = read_file(backup_ / "backup_manifest");
    std::smatch match;
    if (!std::regex_search(manifest, match, range)) return {0, 0, 0};
    return {static_cast<std::uint32_t>(std::stoul(match[1].str())), parse_lsn(match[2].str()),
            parse_lsn(match[3].str())};
  }

  static std::unique_ptr<PgCluster> primary_;
  static fs::path backup_;
  static std::string setup_error_;
};

std::unique_ptr<PgCluster> VerifyTest::primary_;
fs::path VerifyTest::backup_;
std::string VerifyTest::setup_error_;

TEST_F(VerifyTest, CloneVerifiesWithWalstreamAndPgVerifybackup) {
  const CommandResult ours = walstream_verify(backup_);
  EXPECT_EQ(ours.exit_code, 0) << ours.describe();
  EXPECT_THAT(ours.out, HasSubstr("backup successfully verified"));
  EXPECT_EQ(ours.err, "");
  const CommandResult reference = pg_verifybackup(backup_);
  EXPECT_EQ(reference.exit_code, 0) << reference.describe();

  const CommandResult no_wal = run_walstream({"verify", "-n", backup_.string()});
  EXPECT_EQ(no_wal.exit_code, 0) << no_wal.describe();
  const CommandResult major = run_walstream({"verify", "--server-major", "15", backup_.string()});
  EXPECT_EQ(major.exit_code, 0) << major.describe();
  // The wrong major means the wrong page magic: every page is rejected.
  const CommandResult wrong = run_walstream({"verify", "--server-major", "14", backup_.string()});
  expect_rejected(wrong, "magic");
}

TEST_F(VerifyTest, ChangedByteInDataFile) {
  const fs::path copy = copy_backup();
  const std::string relation =
      "base/" + primary_->query_value("SELECT oid FROM pg_database WHERE datname = 'postgres'") +
      "/" + primary_->query_value("SELECT pg_relation_filenode('pgbench_accounts')");
  ASSERT_TRUE(fs::exists(copy / relation)) << relation;
  flip_byte(copy / relation, fs::file_size(copy / relation) / 2);
  expect_both_reject(copy, "checksum mismatch for file \"" + relation + "\"",
                     "checksum mismatch for file");
}

TEST_F(VerifyTest, MissingFile) {
  const fs::path copy = copy_backup();
  const std::string relation =
      "base/" + primary_->query_value("SELECT oid FROM pg_database WHERE datname = 'postgres'") +
      "/" + primary_->query_value("SELECT pg_relation_filenode('pgbench_branches')");
  ASSERT_TRUE(fs::remove(copy / relation)) << relation;
  expect_both_reject(copy, "\"" + relation + "\" is present in the manifest but not on disk",
                     "present in the manifest but not on disk");
}

TEST_F(VerifyTest, ExtraFile) {
  const fs::path copy = copy_backup();
  write_file(copy / "global" / "stray_file", "not from the server\n");
  expect_both_reject(copy, "\"global/stray_file\" is present on disk but not in the manifest",
                     "present on disk but not in the manifest");
}

TEST_F(VerifyTest, IgnoredFilesMayBeAdded) {
  const fs::path copy = copy_backup();
  write_file(copy / "standby.signal", "");
  append_file(copy / "postgresql.auto.conf", "primary_conninfo = 'host=x'\n");
  write_file(copy / "pg_wal" / "archive_status" / "x.done", "");
  EXPECT_EQ(walstream_verify(copy).exit_code, 0);
  EXPECT_EQ(pg_verifybackup(copy).exit_code, 0);
}

TEST_F(VerifyTest, MissingWalSegment) {
  const auto [timeline, start, end] = wal_range();
  ASSERT_NE(timeline, 0U);
  const fs::path copy = copy_backup();
  // The segment holding End-LSN: always needed.
  const std::string name = segment_name(timeline, (end - 1) / kSegmentSize);
  ASSERT_TRUE(fs::remove(copy / "pg_wal" / name)) << name;
  expect_both_reject(copy, "\"pg_wal/" + name + "\" is missing", "WAL parsing failed");
}

TEST_F(VerifyTest, ChangedByteInWalRecord) {
  const auto [timeline, start, end] = wal_range();
  ASSERT_NE(timeline, 0U);
  const auto records =
      waldump_records({"-p", (backup_ / "pg_wal").string(), "-t", std::to_string(timeline), "-s",
                       format_lsn(start), "-e", format_lsn(end)});
  const auto victim = pick_record(records, start, end);
  ASSERT_TRUE(victim) << records.size() << " records from pg_waldump";
  const fs::path copy = copy_backup();
  const std::string name = segment_name(timeline, victim->lsn / kSegmentSize);
  flip_byte(copy / "pg_wal" / name, victim->lsn % kSegmentSize + 40);
  expect_both_reject(copy,
                     "invalid WAL record at " + format_lsn(victim->lsn) + " in \"pg_wal/" + name +
                         "\": incorrect record checksum",
                     "WAL parsing failed");
}

TEST_F(VerifyTest, ChangedByteInManifest) {
  const fs::path copy = copy_backup();
  std::string manifest = read_file(copy / "backup_manifest");
  // A hex digit of the first file checksum: still valid JSON, new meaning.
  const auto at = manifest.find("\"Checksum\": \"");
  ASSERT_NE(at, std::string::npos);
  char& digit = manifest[at + 13];
  digit = digit == '0' ? '1' : '0';
  write_file(copy / "backup_manifest", manifest);
  expect_both_reject(copy, "manifest checksum mismatch", "manifest checksum mismatch");
}

TEST_F(VerifyTest, ReportsEveryProblem) {
  const fs::path copy = copy_backup();
  write_file(copy / "global" / "stray_a", "a");
  write_file(copy / "base" / "stray_b", "b");
  const CommandResult result = walstream_verify(copy);
  EXPECT_EQ(result.exit_code, kExitFailure);
  const auto lines = non_empty_lines(result.err);
  EXPECT_EQ(lines.size(), 2U) << result.describe();
  EXPECT_THAT(result.err, HasSubstr("global/stray_a"));
  EXPECT_THAT(result.err, HasSubstr("base/stray_b"));
}

TEST_F(VerifyTest, UsageErrors) {
  EXPECT_EQ(run_walstream({"verify"}).exit_code, 2);
  EXPECT_EQ(run_walstream({"verify", backup_.string(), "--wal", backup_.string()}).exit_code, 2);
  EXPECT_EQ(run_walstream({"verify", backup_.string(), "--from", "0/1"}).exit_code, 2);
  EXPECT_EQ(run_walstream({"verify", "--wal", backup_.string(), "--from", "zz"}).exit_code, 2);
  // Nothing to read is no damage found: the manifest cannot be opened.
  const CommandResult none = run_walstream({"verify", (backup_ / "nonexistent").string()});
  EXPECT_EQ(none.exit_code, kExitIo) << none.describe();
  EXPECT_THAT(none.err, HasSubstr("backup_manifest"));
}

// --- WAL archives -----------------------------------------------------------

class VerifyArchiveTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    try {
      primary_ = start_primary("verify_archive_primary");
      archive_ = TestEnv::unique_path("verify_archive");
      zstd_archive_ = TestEnv::unique_path("verify_archive_zstd");
      for (const auto& [dir, slot] :
           {std::pair{archive_, "plain"}, std::pair{zstd_archive_, "z"}}) {
        const CommandResult slot_made = run_walstream(
            {"receive", "-D", dir.string(), "-h", "127.0.0.1", "-p",
             std::to_string(primary_->port()), "-U", "r", "-S", slot, "--create-slot"},
            password_env());
        if (slot_made.exit_code != 0) throw std::runtime_error(slot_made.describe());
      }
      primary_->exec("CREATE TABLE filler (id bigserial, pad text)");
      for (int i = 0; i < 4; ++i) {
        primary_->exec(
            "INSERT INTO filler (pad) SELECT repeat('x', 200) FROM generate_series(1, 3000)");
        if (i == 1) primary_->exec("SELECT pg_switch_wal()");
      }
      const CommandResult load = run_command(pgbench_argv(*primary_, {"-t", "300"}));
      if (load.exit_code != 0) throw std::runtime_error(load.describe());
      end_lsn_ = primary_->query_value("SELECT pg_current_wal_flush_lsn()");
      for (const auto& [dir, slot, extra] :
           {std::tuple{archive_, "plain", ""}, std::tuple{zstd_archive_, "z", "--compress=zstd"}}) {
        std::vector<std::string> args{"receive",
                                      "-D",
                                      dir.string(),
                                      "-h",
                                      "127.0.0.1",
                                      "-p",
                                      std::to_string(primary_->port()),
                                      "-U",
                                      "r",
                                      "-S",
                                      slot,
                                      "-E",
                                      end_lsn_};
        if (*extra) args.emplace_back(extra);
        const CommandResult received = run_walstream(args, password_env(), 120s);
        if (received.exit_code != 0) throw std::runtime_error(received.describe());
      }
    } catch (const std::exception& error) {
      setup_error_ = error.what();
    }
  }

  static fs::path copy_archive() {
    const fs::path copy = TestEnv::unique_path("verify_archive_copy");
    fs::copy(archive_, copy, fs::copy_options::recursive);
    return copy;
  }

  // Complete (plain) segments of the archive, sorted.
  static std::vector<std::string> complete_segments(const fs::path& dir) {
    std::vector<std::string> names;
    for (const auto& entry : fs::directory_iterator(dir)) {
      const std::string name = entry.path().filename().string();
      if (name.size() == 24) names.push_back(name);
    }
    std::sort(names.begin(), names.end());
    return names;
  }

  static void TearDownTestSuite() { primary_.reset(); }

  void SetUp() override { ASSERT_TRUE(setup_error_.empty()) << setup_error_; }

  static std::unique_ptr<PgCluster> primary_;
  static std::string setup_error_;
  static fs::path archive_;
  static fs::path zstd_archive_;
  static std::string end_lsn_;
};

std::unique_ptr<PgCluster> VerifyArchiveTest::primary_;
std::string VerifyArchiveTest::setup_error_;

fs::path VerifyArchiveTest::archive_;
fs::path VerifyArchiveTest::zstd_archive_;
std::string VerifyArchiveTest::end_lsn_;

TEST_F(VerifyArchiveTest, ReceivedArchiveVerifies) {
  const CommandResult result = run_walstream({"verify", "--wal", archive_.string()});
  EXPECT_EQ(result.exit_code, 0) << result.describe();
  EXPECT_THAT(result.out, HasSubstr("WAL archive verified from "));
  // The WAL ends at the position receive stopped at (or in its last record).
  const CommandResult to = run_walstream({"verify", "--wal", archive_.string(), "--to", end_lsn_});
  EXPECT_EQ(to.exit_code, 0) << to.describe();
  EXPECT_THAT(to.out, HasSubstr(" to " + format_lsn(parse_lsn(end_lsn_))));

  const CommandResult compressed = run_walstream({"verify", "--wal", zstd_archive_.string()});
  EXPECT_EQ(compressed.exit_code, 0) << compressed.describe();
  bool any_zst = false;
  for (const auto& entry : fs::directory_iterator(zstd_archive_)) {
    any_zst = any_zst || entry.path().extension() == ".zst";
  }
  EXPECT_TRUE(any_zst);
}

TEST_F(VerifyArchiveTest, FromAndTo) {
  const auto segments = complete_segments(archive_);
  ASSERT_GE(segments.size(), 3U);
  const std::uint64_t second = std::stoull(segments[1].substr(16), nullptr, 16) * kSegmentSize;
  const std::string from = format_lsn(second + 3 * kPageSize + 16);
  const std::string to = format_lsn(second + kSegmentSize + 5000);
  const CommandResult result =
      run_walstream({"verify", "--wal", archive_.string(), "--from", from, "--to", to});
  EXPECT_EQ(result.exit_code, 0) << result.describe();
  EXPECT_THAT(result.out, HasSubstr("verified from " + from + " to " + to));
  const CommandResult beyond = run_walstream({"verify", "--wal", archive_.string(), "--to",
                                              format_lsn(parse_lsn(end_lsn_) + 40 * kSegmentSize)});
  // The archive ends before --to: a problem found.
  EXPECT_EQ(beyond.exit_code, kExitFailure) << beyond.describe();
}

TEST_F(VerifyArchiveTest, FlippedByteInRecordIsNamed) {
  const fs::path copy = copy_archive();
  const auto segments = complete_segments(copy);
  ASSERT_GE(segments.size(), 3U);
  const std::string name = segments[segments.size() / 2];
  const auto records = waldump_records({(copy / name).string()});
  const std::uint64_t segment_start = std::stoull(name.substr(16), nullptr, 16) * kSegmentSize;
  const auto victim = pick_record(records, segment_start, segment_start + kSegmentSize);
  ASSERT_TRUE(victim) << records.size() << " records in " << name;
  flip_byte(copy / name, victim->lsn % kSegmentSize + 40);
  const CommandResult result = run_walstream({"verify", "--wal", copy.string()});
  expect_rejected(result, "invalid WAL at " + format_lsn(victim->lsn) + " in \"" + name + "\"");
}

TEST_F(VerifyArchiveTest, MissingSegmentIsNamed) {
  const fs::path copy = copy_archive();
  const auto segments = complete_segments(copy);
  ASSERT_GE(segments.size(), 3U);
  const std::string name = segments[segments.size() / 2];
  fs::remove(copy / name);
  expect_rejected(run_walstream({"verify", "--wal", copy.string()}),
                  "WAL segment \"" + name + "\" is missing");
}

}  // namespace
}  // namespace walstream::it
