#include "protocol/lsn.h"

#include "protocol/error.h"
#include "protocol/hex.h"

namespace walstream::protocol {
namespace {

constexpr std::uint64_t kMiB = std::uint64_t{1} << 20;
constexpr std::uint64_t kGiB = std::uint64_t{1} << 30;
constexpr std::uint64_t kXLogIdSpan = std::uint64_t{1} << 32;

void require_valid_segment_size(std::uint64_t segment_size) {
  // Dividing by an invalid size would produce names no server ever uses.
  if (!is_valid_wal_segment_size(segment_size)) {
    throw Error(ErrorKind::kInternal,
                "invalid wal segment size " + std::to_string(segment_size) + " bytes");
  }
}

}  // namespace

std::optional<Lsn> parse_lsn(std::string_view text) {
  // Either case: LSNs are printed in upper case, but hand-written ones often
  // are not.
  const std::size_t slash = text.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  const auto high = parse_hex32(text.substr(0, slash));
  const auto low = parse_hex32(text.substr(slash + 1));
  if (!high || !low) return std::nullopt;
  return Lsn{(std::uint64_t{*high} << 32) | *low};
}

std::string to_string(Lsn lsn) {
  return format_hex(lsn.value >> 32) + "/" + format_hex(lsn.value & 0xFFFFFFFF);
}

bool is_valid_wal_segment_size(std::uint64_t bytes) {
  const bool power_of_two = bytes != 0 && (bytes & (bytes - 1)) == 0;
  return power_of_two && bytes >= kMiB && bytes <= kGiB;
}

std::optional<std::uint64_t> parse_wal_segment_size(std::string_view text) {
  std::size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
  // At most 7 digits: enough for "1048576kB", no overflow possible below.
  if (digits == 0 || digits > 7) return std::nullopt;
  std::uint64_t number = 0;
  for (std::size_t i = 0; i < digits; ++i) {
    number = number * 10 + static_cast<std::uint64_t>(text[i] - '0');
  }
  const std::string_view unit = text.substr(digits);
  std::uint64_t multiplier = 0;
  if (unit == "kB") {
    multiplier = std::uint64_t{1} << 10;
  } else if (unit == "MB") {
    multiplier = kMiB;
  } else if (unit == "GB") {
    multiplier = kGiB;
  } else {
    return std::nullopt;
  }
  const std::uint64_t bytes = number * multiplier;
  if (!is_valid_wal_segment_size(bytes)) return std::nullopt;
  return bytes;
}

std::string wal_segment_file_name(TimelineId tli, SegmentNo segno, std::uint64_t segment_size) {
  require_valid_segment_size(segment_size);
  const std::uint64_t segments_per_id = kXLogIdSpan / segment_size;
  return format_hex(tli, 8) + format_hex(segno / segments_per_id, 8) +
         format_hex(segno % segments_per_id, 8);
}

std::string timeline_history_file_name(TimelineId tli) { return format_hex(tli, 8) + ".history"; }

std::optional<ParsedSegmentName> parse_wal_segment_file_name(std::string_view name,
                                                             std::uint64_t segment_size) {
  if (name.size() != 24 || !is_valid_wal_segment_size(segment_size)) return std::nullopt;
  // Upper case only, so that a name we parse is a name we would have written
  // (no second spelling of one segment on case-sensitive filesystems).
  if (!is_upper_hex(name)) return std::nullopt;
  const auto tli = parse_hex32(name.substr(0, 8));
  const auto high = parse_hex32(name.substr(8, 8));
  const auto low = parse_hex32(name.substr(16, 8));
  if (!tli || !high || !low) return std::nullopt;
  const std::uint64_t segments_per_id = kXLogIdSpan / segment_size;
  // A low part past the segments of one xlogid is never written for this
  // segment size; accepting it would alias another segment.
  if (*low >= segments_per_id) return std::nullopt;
  return ParsedSegmentName{*tli, std::uint64_t{*high} * segments_per_id + *low};
}

}  // namespace walstream::protocol
