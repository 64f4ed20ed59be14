// Reads a WAL archive directory (pg_receivewal's layout): complete segments
// NAME, the segment in progress NAME.partial, compressed segments NAME.zst,
// and timeline history files TTTTTTTT.history. From that it derives where
// streaming continues and whether anything is missing.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "protocol/lsn.h"

namespace walstream::storage {

enum class SegmentState { kComplete, kPartial, kCompressed };

struct ArchivedSegment {
  std::string file_name;
  protocol::TimelineId timeline = 0;
  protocol::SegmentNo segno = 0;
  SegmentState state = SegmentState::kComplete;
};

struct ArchiveContents {
  std::vector<ArchivedSegment> segments;  // sorted by (segno, timeline, complete first)
  std::vector<protocol::TimelineId> history_files;
  // From the first page header of the complete segments; nullopt when there
  // are none.
  std::optional<std::uint64_t> system_id;
};

// Lists the archive. Complete and compressed segments must be exactly one
// segment long and start with a valid long page header whose system
// identifier agrees with the others; otherwise walstream::Error (kIo) names
// the file and the problem. A .partial of any size is listed (it is re-fetched
// from its start). Other files are ignored.
ArchiveContents scan_archive(const std::filesystem::path& dir, std::uint64_t segment_size);

// The order every archive listing is used in: segments by (segment number,
// timeline), complete before compressed (same contents) before the partial
// still being written; history files by timeline, each once.
void sort_archive_contents(ArchiveContents& contents);

struct StreamStart {
  protocol::Lsn lsn;  // a segment start
  protocol::TimelineId timeline = 0;
};
// pg_receivewal's rule: after the highest complete segment, or at the start of
// the highest .partial. nullopt for an archive without segments.
std::optional<StreamStart> streaming_start(const ArchiveContents& contents,
                                           std::uint64_t segment_size);

// Segment names missing between the oldest and the newest segment of the
// archive, following timelines upwards (segment N of timeline T may be
// continued by segment N of a later timeline). Empty when there is no hole.
std::vector<std::string> find_holes(const ArchiveContents& contents, std::uint64_t segment_size);

}  // namespace walstream::storage
