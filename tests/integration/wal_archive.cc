#include "tests/integration/wal_archive.h"

#include <algorithm>
#include <csignal>
#include <cstddef>
#include <cstdio>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <stdexcept>
#include <system_error>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

namespace walstream::it {

namespace fs = std::filesystem;

std::uint64_t parse_lsn(const std::string& text) {
  const auto slash = text.find('/');
  if (slash == std::string::npos) throw std::runtime_error("not an LSN: " + text);
  return (std::stoull(text.substr(0, slash), nullptr, 16) << 32U) |
         std::stoull(text.substr(slash + 1), nullptr, 16);
}

std::string format_lsn(std::uint64_t lsn) {
  char text[32];
  std::snprintf(text, sizeof text, "%X/%X", static_cast<unsigned>(lsn >> 32U),
                static_cast<unsigned>(lsn & 0xFFFFFFFFU));
  return text;
}

std::string segment_name(std::uint32_t timeline, std::uint64_t segno) {
  char name[32];
  std::snprintf(name, sizeof name, "%08X%08X%08X", timeline,
                static_cast<unsigned>(segno / kSegmentsPerXLogId),
                static_cast<unsigned>(segno % kSegmentsPerXLogId));
  return name;
}

ArchiveFile classify(const std::string& name) {
  static const std::regex segment(R"(([0-9A-F]{8})([0-9A-F]{8})([0-9A-F]{8})(\.partial|\.zst)?)");
  static const std::regex history(R"(([0-9A-F]{8})\.history)");
  ArchiveFile file{name};
  std::smatch match;
  if (std::regex_match(name, match, segment)) {
    file.timeline = static_cast<std::uint32_t>(std::stoul(match[1].str(), nullptr, 16));
    file.segno = std::stoull(match[2].str(), nullptr, 16) * kSegmentsPerXLogId +
                 std::stoull(match[3].str(), nullptr, 16);
    const std::string suffix = match[4].str();
    file.kind = suffix.empty()         ? FileKind::kComplete
                : suffix == ".partial" ? FileKind::kPartial
                                       : FileKind::kCompressed;
  } else if (std::regex_match(name, match, history)) {
    file.kind = FileKind::kHistory;
    file.timeline = static_cast<std::uint32_t>(std::stoul(match[1].str(), nullptr, 16));
  }
  return file;
}

std::vector<ArchiveFile> list_archive(const fs::path& dir) {
  std::vector<ArchiveFile> files;
  if (!fs::is_directory(dir)) return files;
  for (const auto& entry : fs::directory_iterator(dir)) {
    files.push_back(classify(entry.path().filename().string()));
  }
  std::sort(files.begin(), files.end(),
            [](const ArchiveFile& a, const ArchiveFile& b) { return a.name < b.name; });
  return files;
}

std::string describe_archive(const fs::path& dir) {
  std::ostringstream text;
  text << "contents of " << dir.string() << ":\n";
  for (const auto& file : list_archive(dir)) {
    std::error_code error;
    const auto size = fs::file_size(dir / file.name, error);
    text << "  " << file.name << " " << (error ? std::string("?") : std::to_string(size)) << "\n";
  }
  return text.str();
}

std::string archive_problems(const fs::path& dir, std::uint64_t through_segno, bool after_kill) {
  const std::vector<ArchiveFile> files = list_archive(dir);
  std::ostringstream problems;
  std::map<std::uint64_t, int> segnos;
  std::map<std::uint32_t, std::uint64_t> newest_of_timeline;
  std::map<std::uint32_t, std::uint64_t> newest_completed_of_timeline;
  std::set<std::pair<std::uint32_t, std::uint64_t>> completed;
  for (const auto& file : files) {
    if (file.kind == FileKind::kOther) problems << "unexpected file " << file.name << "\n";
    if (!file.is_segment()) continue;
    ++segnos[file.segno];
    auto& newest = newest_of_timeline[file.timeline];
    newest = std::max(newest, file.segno);
    if (file.kind != FileKind::kPartial) {
      completed.emplace(file.timeline, file.segno);
      auto& newest_completed = newest_completed_of_timeline[file.timeline];
      newest_completed = std::max(newest_completed, file.segno);
    }
  }
  for (const auto& file : files) {
    if (file.kind != FileKind::kPartial) continue;
    const auto newest_completed = newest_completed_of_timeline.find(file.timeline);
    const bool below_completed = newest_completed != newest_completed_of_timeline.end() &&
                                 newest_completed->second > file.segno;
    if (after_kill ? below_completed : file.segno != newest_of_timeline[file.timeline]) {
      problems << file.name << " is not the newest segment of its timeline\n";
    }
    if (completed.count({file.timeline, file.segno}) != 0) {
      problems << file.name << " exists next to its completed segment\n";
    }
  }
  if (segnos.empty()) {
    problems << "no WAL segment at all\n";
  } else {
    const std::uint64_t first = segnos.begin()->first;
    const std::uint64_t last = segnos.rbegin()->first;
    for (std::uint64_t segno = first; segno <= last; ++segno) {
      if (segnos.count(segno) == 0) {
        problems << "hole: no file for segment number " << segno << " ("
                 << segment_name(newest_of_timeline.begin()->first, segno) << ")\n";
      }
    }
    if (last < through_segno) {
      problems << "archive ends at segment number " << last << ", expected at least "
               << through_segno << " (" << segment_name(1, through_segno) << ")\n";
    }
  }
  const std::string text = problems.str();
  return text.empty() ? text : text + describe_archive(dir);
}

std::unique_ptr<PgCluster> start_primary(std::string_view name, PgClusterOptions options) {
  options.wal_segment_size_mb = 1;
  auto primary = PgCluster::create_primary(name, options);
  primary->start();
  primary->exec("CREATE ROLE r REPLICATION LOGIN PASSWORD " + sql_literal(kPassword));
  return primary;
}

void create_slot(PgCluster& server, const std::string& slot) {
  server.exec("SELECT pg_create_physical_replication_slot(" + sql_literal(slot) + ", true)");
}

CommandResult pg_receivewal_to(const fs::path& dir, const PgCluster& server,
                               const std::string& slot, const std::string& endpos) {
  fs::create_directories(dir);
  std::vector<std::string> argv{TestEnv::pg_bin("pg_receivewal").string(), "-D", dir.string()};
  for (auto& arg : connection_args(server)) argv.push_back(arg);
  for (const char* arg : {"-w", "-n", "-S", slot.c_str(), "-E", endpos.c_str()}) {
    argv.emplace_back(arg);
  }
  return run_command(argv, password_env(), 60s);
}

std::string first_difference(const std::string& expected, const std::string& actual) {
  const auto length = std::min(expected.size(), actual.size());
  const auto [left, right] = std::mismatch(
      expected.begin(), expected.begin() + static_cast<std::ptrdiff_t>(length), actual.begin());
  const auto offset = static_cast<std::size_t>(left - expected.begin());
  std::ostringstream text;
  if (offset < length) {
    text << "first difference at offset " << offset;
  } else {
    text << "sizes differ: " << expected.size() << " vs " << actual.size();
  }
  return text.str();
}

void expect_same_complete_segments(const fs::path& reference, const fs::path& actual,
                                   std::uint64_t below_segno) {
  auto complete_below = [&](const fs::path& dir) {
    std::set<std::string> names;
    for (const auto& file : list_archive(dir)) {
      if (file.kind == FileKind::kComplete && file.segno < below_segno) names.insert(file.name);
    }
    return names;
  };
  const std::set<std::string> expected = complete_below(reference);
  const std::set<std::string> got = complete_below(actual);
  EXPECT_FALSE(expected.empty()) << "reference archive has no complete segment\n"
                                 << describe_archive(reference);
  int compared = 0;
  for (const auto& name : expected) {
    if (got.count(name) == 0) {
      ADD_FAILURE() << name << " is in " << reference << " but not in " << actual << "\n"
                    << describe_archive(actual);
      continue;
    }
    const std::string want = read_file(reference / name);
    const std::string have = read_file(actual / name);
    if (want != have) ADD_FAILURE() << name << " differs: " << first_difference(want, have);
    ++compared;
  }
  for (const auto& name : got) {
    if (expected.count(name) == 0) {
      ADD_FAILURE() << name << " is in " << actual << " but not in " << reference << "\n"
                    << describe_archive(reference);
    }
  }
  EXPECT_GT(compared, 0);
}

void expect_same_prefix(const fs::path& reference_file, const fs::path& actual_dir,
                        std::uint64_t lsn, std::uint32_t timeline) {
  const std::uint64_t length = offset_in_segment(lsn);
  if (length == 0) return;
  const std::string name = segment_name(timeline, segno_of(lsn));
  fs::path actual = actual_dir / name;
  if (!fs::exists(actual)) actual = actual_dir / (name + ".partial");
  ASSERT_TRUE(fs::exists(actual)) << "no " << name << "[.partial] holding " << format_lsn(lsn)
                                  << "\n"
                                  << describe_archive(actual_dir);
  const std::string want = read_file(reference_file);
  const std::string have = read_file(actual);
  ASSERT_GE(want.size(), length) << reference_file;
  ASSERT_GE(have.size(), length) << actual << " does not hold WAL up to " << format_lsn(lsn);
  const std::string want_prefix = want.substr(0, length);
  const std::string have_prefix = have.substr(0, length);
  EXPECT_TRUE(want_prefix == have_prefix)
      << actual << " and " << reference_file << " differ before " << format_lsn(lsn) << ": "
      << first_difference(want_prefix, have_prefix);
}

std::string flush_lsn(PgCluster& server) {
  // pg_current_wal_flush_lsn() is primary-only; on a standby the replay
  // position is what cascading walsenders serve.
  return server.query_value(
      "SELECT CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() "
      "ELSE pg_current_wal_flush_lsn() END");
}

std::string generate_wal(PgCluster& server, int segments) {
  server.exec("CREATE TABLE IF NOT EXISTS filler (id bigserial, pad text)");
  std::string last;
  for (int i = 0; i < segments; ++i) {
    server.exec("INSERT INTO filler (pad) SELECT repeat('x', 100) FROM generate_series(1, 1000)");
    last = flush_lsn(server);
    server.exec("SELECT pg_switch_wal()");
  }
  return last;
}

void follow_timeline_switch(PgCluster& primary, PgCluster& standby, Process& receiver,
                            const fs::path& archive, std::uint64_t& on_timeline_2) {
  ASSERT_TRUE(wait_until(
                  [&] {
                    return !receiver.running() ||
                           standby.query_value("SELECT count(*) FROM pg_stat_replication") == "1";
                  },
                  30s) &&
              receiver.running())
      << receiver.wait(10s).describe();
  const std::uint64_t on_timeline_1 = parse_lsn(generate_wal(primary, 2));
  const fs::path tli1_segment = archive / segment_name(1, segno_of(on_timeline_1));
  ASSERT_TRUE(wait_until([&] { return fs::exists(tli1_segment) || !receiver.running(); }, 30s) &&
              receiver.running())
      << tli1_segment << " never arrived\n"
      << describe_archive(archive) << receiver.stderr_so_far();

  primary.stop();
  standby.promote();
  ASSERT_EQ(standby.query_value("SELECT pg_is_in_recovery()"), "f");
  standby.exec("CREATE TABLE after_promotion AS SELECT g FROM generate_series(1, 1000) g");
  on_timeline_2 = parse_lsn(flush_lsn(standby));
  standby.exec("SELECT pg_switch_wal()");
  const fs::path tli2_segment = archive / segment_name(2, segno_of(on_timeline_2));
  ASSERT_TRUE(wait_until(
      [&] {
        return !receiver.running() ||
               (fs::exists(tli2_segment) && fs::exists(archive / "00000002.history"));
      },
      60s))
      << tli2_segment << " or 00000002.history never arrived\n"
      << describe_archive(archive) << receiver.stderr_so_far();
  ASSERT_TRUE(receiver.running()) << "receiver exited at the timeline switch: "
                                  << receiver.wait(10s).describe();
}

void pgbench_init(PgCluster& server) {
  const CommandResult init = run_command(pgbench_argv(server, {"-i", "-s", "1", "-q"}), {}, 120s);
  ASSERT_EQ(init.exit_code, 0) << init.describe();
}

std::unique_ptr<Process> start_load(PgCluster& server) {
  return Process::start(pgbench_argv(server, {"-c", "2", "-j", "2", "-T", "600", "-n"}));
}

void stop_load(Process& load) {
  load.send_signal(SIGINT);
  const CommandResult result = load.wait(30s);
  EXPECT_FALSE(result.timed_out) << result.describe();
}

}  // namespace walstream::it
