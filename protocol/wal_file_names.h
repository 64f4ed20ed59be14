// The names of the files in a WAL archive (pg_receivewal's layout, pg_wal's
// too) are made and recognised here and nowhere else, so that every name we
// read back is one we would write. A segment is named as XLogFileName does:
// timeline, "xlogid" and the segment within it, 8 upper-case hex digits each
// (the split depends on the segment size); a timeline's history is named
// after the timeline. The other kinds add a suffix (or a directory) to one of
// these two.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "protocol/lsn.h"

namespace walstream::protocol {

enum class WalFileKind {
  kSegment,               // 000000010000000000000003: a complete segment
  kPartialSegment,        // 000000010000000000000003.partial: not complete (yet)
  kCompressedSegment,     // 000000010000000000000003.zst: complete, zstd-compressed
  kCompressionTemporary,  // 000000010000000000000003.zst.tmp: an interrupted compression
  kHistory,               // 00000002.history: the history of timeline 2
  kHistoryTemporary,      // 00000002.history.tmp: written, not yet renamed into place
  kArchiveDoneMarker,     // archive_status/000000010000000000000003.done: archived already
};

// A parsed name. `segno` is 0 for the history kinds.
struct WalFileName {
  WalFileKind kind = WalFileKind::kSegment;
  TimelineId timeline = 0;
  SegmentNo segno = 0;

  bool operator==(const WalFileName&) const = default;
};

// The directory inside pg_wal where the server keeps the archiving state of
// each segment (NAME.ready, NAME.done).
inline constexpr std::string_view kArchiveStatusDirectory = "archive_status";

// For names read before the segment size is known: the smallest size has the
// most segments per xlogid, so every name valid for some segment size parses
// with it. Only the kind and timeline of such a parse mean anything; its
// segno counts 1 MiB segments.
inline constexpr std::uint64_t kAnySegmentSize = std::uint64_t{1} << 20;

// "000000010000000000000003". Throws walstream::Error (kInternal) unless
// is_valid_wal_segment_size(segment_size).
std::string wal_segment_file_name(TimelineId tli, SegmentNo segno, std::uint64_t segment_size);
// "00000002.history"
std::string timeline_history_file_name(TimelineId tli);
// The name of any kind; parse_wal_file_name(wal_file_name(f, s), s) == f.
// `segment_size` is used by the segment kinds only (and throws as above).
std::string wal_file_name(const WalFileName& file, std::uint64_t segment_size);

// archive_status/NAME.done for any file the server would archive (a segment
// or a history file): PostgreSQL's marker that NAME needs no archiving.
std::string archive_done_marker_name(std::string_view name);

// NAME.zst and its temporary NAME.zst.tmp for any archive file NAME: the
// archiver compresses segments, and restore also serves history files
// someone compressed this way.
std::string compressed_file_name(std::string_view name);
std::string compression_temporary_file_name(std::string_view name);

// Classifies a name relative to the archive (or pg_wal) directory; nullopt
// for anything that is not exactly one of the kinds: other suffixes, lower-
// case or too few or too many hex digits, a segment number beyond the
// segments of one xlogid for `segment_size`, or an invalid segment size.
std::optional<WalFileName> parse_wal_file_name(std::string_view name, std::uint64_t segment_size);
// A plain segment name only (kind kSegment); nullopt for everything else.
std::optional<WalFileName> parse_wal_segment_file_name(std::string_view name,
                                                       std::uint64_t segment_size);

}  // namespace walstream::protocol
