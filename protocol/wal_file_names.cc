#include "protocol/wal_file_names.h"

#include "protocol/error.h"
#include "protocol/hex.h"

namespace walstream::protocol {
namespace {

constexpr std::size_t kHexFieldLength = 8;
constexpr std::size_t kSegmentNameLength = 3 * kHexFieldLength;
constexpr std::uint64_t kXLogIdSpan = std::uint64_t{1} << 32;

// How each kind is spelled: an optional directory, the segment or history
// name (`history`), a suffix. Parsing and formatting both read this table.
struct Spelling {
  WalFileKind kind;
  bool history;
  std::string_view directory;
  std::string_view suffix;
};
constexpr std::string_view kStatusDirectory = "archive_status/";
constexpr Spelling kSpellings[] = {
    {WalFileKind::kSegment, false, "", ""},
    {WalFileKind::kPartialSegment, false, "", ".partial"},
    {WalFileKind::kCompressedSegment, false, "", ".zst"},
    {WalFileKind::kCompressionTemporary, false, "", ".zst.tmp"},
    {WalFileKind::kHistory, true, "", ".history"},
    {WalFileKind::kHistoryTemporary, true, "", ".history.tmp"},
    {WalFileKind::kArchiveDoneMarker, false, kStatusDirectory, ".done"},
};
static_assert(kStatusDirectory.substr(0, kStatusDirectory.size() - 1) == kArchiveStatusDirectory);

const Spelling& spelling_of(WalFileKind kind) {
  for (const Spelling& spelling : kSpellings) {
    if (spelling.kind == kind) return spelling;
  }
  throw Error(ErrorKind::kInternal, "unknown WAL file kind");
}

void require_valid_segment_size(std::uint64_t segment_size) {
  // Dividing by an invalid size would produce names no server ever uses.
  if (!is_valid_wal_segment_size(segment_size)) {
    throw Error(ErrorKind::kInternal,
                "invalid wal segment size " + std::to_string(segment_size) + " bytes");
  }
}

// Exactly 8 upper-case hex digits: a name we parse is a name we would have
// written (no second spelling of one segment on case-sensitive filesystems).
std::optional<std::uint32_t> parse_hex_field(std::string_view text) {
  if (text.size() != kHexFieldLength || !is_upper_hex(text)) return std::nullopt;
  return parse_hex32(text);
}

}  // namespace

std::string wal_segment_file_name(TimelineId tli, SegmentNo segno, std::uint64_t segment_size) {
  require_valid_segment_size(segment_size);
  const std::uint64_t segments_per_id = kXLogIdSpan / segment_size;
  return format_hex(tli, kHexFieldLength) + format_hex(segno / segments_per_id, kHexFieldLength) +
         format_hex(segno % segments_per_id, kHexFieldLength);
}

std::string timeline_history_file_name(TimelineId tli) {
  return wal_file_name({WalFileKind::kHistory, tli, 0}, 0);
}

std::string wal_file_name(const WalFileName& file, std::uint64_t segment_size) {
  const Spelling& spelling = spelling_of(file.kind);
  std::string name(spelling.directory);
  if (spelling.history) {
    name += format_hex(file.timeline, kHexFieldLength);
  } else {
    name += wal_segment_file_name(file.timeline, file.segno, segment_size);
  }
  name += spelling.suffix;
  return name;
}

std::string archive_done_marker_name(std::string_view name) {
  return std::string(kStatusDirectory) + std::string(name) +
         std::string(spelling_of(WalFileKind::kArchiveDoneMarker).suffix);
}

std::string compressed_file_name(std::string_view name) {
  return std::string(name) + std::string(spelling_of(WalFileKind::kCompressedSegment).suffix);
}

std::string compression_temporary_file_name(std::string_view name) {
  return std::string(name) + std::string(spelling_of(WalFileKind::kCompressionTemporary).suffix);
}

std::optional<WalFileName> parse_wal_segment_file_name(std::string_view name,
                                                       std::uint64_t segment_size) {
  if (name.size() != kSegmentNameLength || !is_valid_wal_segment_size(segment_size)) {
    return std::nullopt;
  }
  const auto tli = parse_hex_field(name.substr(0, kHexFieldLength));
  const auto high = parse_hex_field(name.substr(kHexFieldLength, kHexFieldLength));
  const auto low = parse_hex_field(name.substr(2 * kHexFieldLength));
  if (!tli || !high || !low) return std::nullopt;
  const std::uint64_t segments_per_id = kXLogIdSpan / segment_size;
  // A low part past the segments of one xlogid is never written for this
  // segment size; accepting it would alias another segment.
  if (*low >= segments_per_id) return std::nullopt;
  return WalFileName{WalFileKind::kSegment, *tli, std::uint64_t{*high} * segments_per_id + *low};
}

std::optional<WalFileName> parse_wal_file_name(std::string_view name, std::uint64_t segment_size) {
  for (const Spelling& spelling : kSpellings) {
    const std::size_t stem_length = spelling.history ? kHexFieldLength : kSegmentNameLength;
    if (name.size() != spelling.directory.size() + stem_length + spelling.suffix.size() ||
        !name.starts_with(spelling.directory) || !name.ends_with(spelling.suffix)) {
      continue;
    }
    const std::string_view stem = name.substr(spelling.directory.size(), stem_length);
    if (spelling.history) {
      const auto tli = parse_hex_field(stem);
      if (!tli) return std::nullopt;
      return WalFileName{spelling.kind, *tli, 0};
    }
    auto segment = parse_wal_segment_file_name(stem, segment_size);
    if (!segment) return std::nullopt;
    segment->kind = spelling.kind;
    return segment;
  }
  return std::nullopt;
}

}  // namespace walstream::protocol
