#include "storage/archive_scan.h"

#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <map>
#include <set>
#include <system_error>
#include <tuple>

#include "protocol/error.h"
#include "protocol/wal_file_names.h"
#include "protocol/wal_page.h"
#include "storage/file_util.h"
#include "storage/zstd_file.h"

namespace walstream::storage {

namespace {

namespace fs = std::filesystem;
using protocol::SegmentNo;
using protocol::TimelineId;
using protocol::WalFileKind;

// The state of a segment file; nullopt for the other kinds of names
// (.zst.tmp, .history.tmp: leftovers of an interrupted step).
std::optional<SegmentState> segment_state(WalFileKind kind) {
  switch (kind) {
    case WalFileKind::kSegment:
      return SegmentState::kComplete;
    case WalFileKind::kPartialSegment:
      return SegmentState::kPartial;
    case WalFileKind::kCompressedSegment:
      return SegmentState::kCompressed;
    default:
      return std::nullopt;
  }
}

[[noreturn]] void throw_invalid_segment(const std::string& name, const std::string& reason) {
  throw Error(ErrorKind::kIo,
              "file \"" + name + "\" in the archive is not a valid WAL segment: " + reason,
              "move it out of the archive directory; walstream never overwrites a complete "
              "segment");
}

// Checks a complete or compressed segment; sets `system_id` from the first one.
void check_segment(const fs::path& dir, const ArchivedSegment& segment, std::uint64_t segment_size,
                   std::optional<std::uint64_t>& system_id) {
  const fs::path path = dir / segment.file_name;
  std::array<std::byte, protocol::kWalPageSize> page{};
  std::size_t have = 0;
  if (segment.state == SegmentState::kComplete) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) throw_io_error("stat file", path, errno);
    if (static_cast<std::uint64_t>(st.st_size) != segment_size) {
      throw_invalid_segment(segment.file_name, "it has " + std::to_string(st.st_size) +
                                                   " bytes, expected " +
                                                   std::to_string(segment_size));
    }
    have = read_prefix(path, page);
  } else {
    std::optional<std::uint64_t> content_size;
    try {
      content_size = zstd_content_size(path);
    } catch (const Error&) {
      throw_invalid_segment(segment.file_name, "not a zstd-compressed file");
    }
    if (!content_size) {
      throw_invalid_segment(segment.file_name, "its zstd frame does not record the content size");
    }
    if (*content_size != segment_size) {
      throw_invalid_segment(segment.file_name, "it holds " + std::to_string(*content_size) +
                                                   " bytes, expected " +
                                                   std::to_string(segment_size));
    }
    try {
      have = decompress_prefix(path, page);
    } catch (const Error& e) {
      throw_invalid_segment(segment.file_name, e.what());
    }
  }
  std::string problem = protocol::check_segment_first_page(ByteView(page).first(have),
                                                           segment.segno, segment_size, system_id);
  if (!problem.empty()) throw_invalid_segment(segment.file_name, problem);
  if (!system_id) {
    system_id = protocol::parse_long_page_header(ByteView(page).first(have))->system_id;
  }
}

}  // namespace

void sort_archive_contents(ArchiveContents& contents) {
  // Rank at equal (segno, timeline).
  const auto state_rank = [](SegmentState state) {
    switch (state) {
      case SegmentState::kComplete:
        return 0;
      case SegmentState::kCompressed:
        return 1;
      case SegmentState::kPartial:
        return 2;
    }
    return 3;
  };
  std::sort(contents.segments.begin(), contents.segments.end(),
            [&](const ArchivedSegment& a, const ArchivedSegment& b) {
              return std::tuple(a.segno, a.timeline, state_rank(a.state)) <
                     std::tuple(b.segno, b.timeline, state_rank(b.state));
            });
  std::sort(contents.history_files.begin(), contents.history_files.end());
  contents.history_files.erase(
      std::unique(contents.history_files.begin(), contents.history_files.end()),
      contents.history_files.end());
}

ArchiveContents scan_archive(const fs::path& dir, std::uint64_t segment_size) {
  ArchiveContents contents;
  std::error_code ec;
  fs::directory_iterator it(dir, ec);
  if (ec) throw_io_error("open directory", dir, ec.value());
  for (; it != fs::directory_iterator(); it.increment(ec)) {
    if (ec) break;
    const std::string name = it->path().filename().string();
    // Directories and sockets are not ours; symlinks to files are followed.
    std::error_code type_ec;
    if (!it->is_regular_file(type_ec)) continue;

    const auto parsed = protocol::parse_wal_file_name(name, segment_size);
    if (!parsed) continue;
    if (parsed->kind == WalFileKind::kHistory) {
      contents.history_files.push_back(parsed->timeline);
      continue;
    }
    const auto state = segment_state(parsed->kind);
    if (!state) continue;
    contents.segments.push_back(ArchivedSegment{name, parsed->timeline, parsed->segno, *state});
  }
  if (ec) throw_io_error("read directory", dir, ec.value());

  sort_archive_contents(contents);

  // In segment order, so the oldest segment defines the system identifier.
  for (const ArchivedSegment& segment : contents.segments) {
    if (segment.state == SegmentState::kPartial) continue;
    check_segment(dir, segment, segment_size, contents.system_id);
  }
  return contents;
}

std::optional<StreamStart> streaming_start(const ArchiveContents& contents,
                                           std::uint64_t segment_size) {
  // Highest by segno, then timeline, then complete over partial.
  const ArchivedSegment* best = nullptr;
  auto key = [](const ArchivedSegment& s) {
    return std::tuple(s.segno, s.timeline, s.state != SegmentState::kPartial);
  };
  for (const ArchivedSegment& segment : contents.segments) {
    if (best == nullptr || key(segment) > key(*best)) best = &segment;
  }
  if (best == nullptr) return std::nullopt;
  if (best->state != SegmentState::kPartial) {
    return StreamStart{protocol::segment_start_lsn(best->segno + 1, segment_size), best->timeline};
  }
  // A full segment is renamed by the syncer after the next one was opened: a
  // kill in between leaves several .partial segments in a row. Start at the
  // oldest of them, or the full-but-unsynced ones would never be completed.
  auto has = [&](SegmentNo segno, SegmentState state) {
    return std::any_of(
        contents.segments.begin(), contents.segments.end(), [&](const ArchivedSegment& s) {
          return s.timeline == best->timeline && s.segno == segno && s.state == state;
        });
  };
  SegmentNo segno = best->segno;
  while (segno > 0 && has(segno - 1, SegmentState::kPartial) &&
         !has(segno - 1, SegmentState::kComplete) && !has(segno - 1, SegmentState::kCompressed)) {
    --segno;
  }
  return StreamStart{protocol::segment_start_lsn(segno, segment_size), best->timeline};
}

std::vector<std::string> find_holes(const ArchiveContents& contents, std::uint64_t segment_size) {
  std::map<TimelineId, std::set<SegmentNo>> by_timeline;
  for (const ArchivedSegment& segment : contents.segments) {
    by_timeline[segment.timeline].insert(segment.segno);
  }
  std::vector<std::string> holes;
  std::optional<SegmentNo> previous_highest;
  for (const auto& [timeline, segnos] : by_timeline) {
    const SegmentNo lowest = *segnos.begin();
    const SegmentNo highest = *segnos.rbegin();
    // A timeline continues the one before it at the latest with the segment
    // after that one's last (the switch segment itself is fetched again).
    if (previous_highest && lowest > *previous_highest + 1) {
      for (SegmentNo segno = *previous_highest + 1; segno < lowest; ++segno) {
        holes.push_back(protocol::wal_segment_file_name(timeline, segno, segment_size));
      }
    }
    SegmentNo expected = lowest;
    for (SegmentNo segno : segnos) {
      for (; expected < segno; ++expected) {
        holes.push_back(protocol::wal_segment_file_name(timeline, expected, segment_size));
      }
      expected = segno + 1;
    }
    previous_highest = highest;
  }
  return holes;
}

}  // namespace walstream::storage
