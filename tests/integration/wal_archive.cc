#include "tests/integration/wal_archive.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <stdexcept>
#include <system_error>
#include <utility>

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

}  // namespace walstream::it
