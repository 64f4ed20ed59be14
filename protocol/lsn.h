// Log sequence numbers, timelines and WAL segment arithmetic. The names of
// the files that hold them are protocol/wal_file_names.h's business.
#pragma once

#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace walstream::protocol {

// A position in the WAL stream. 0 is InvalidXLogRecPtr.
struct Lsn {
  std::uint64_t value = 0;

  constexpr bool valid() const { return value != 0; }
  constexpr auto operator<=>(const Lsn&) const = default;
};

using TimelineId = std::uint32_t;
using SegmentNo = std::uint64_t;

// Parses "16/B374D848" (also zero-padded "16/0374D848"); nullopt if malformed.
std::optional<Lsn> parse_lsn(std::string_view text);
// Formats as PostgreSQL does: "%X/%X".
std::string to_string(Lsn lsn);

// wal_segment_size: a power of two from 1 MiB to 1 GiB.
bool is_valid_wal_segment_size(std::uint64_t bytes);
// Parses the text of SHOW wal_segment_size ("16MB", "1GB", "64MB"); nullopt if
// malformed or not a valid size.
std::optional<std::uint64_t> parse_wal_segment_size(std::string_view text);

constexpr SegmentNo segment_number(Lsn lsn, std::uint64_t segment_size) {
  return lsn.value / segment_size;
}
constexpr std::uint64_t segment_offset(Lsn lsn, std::uint64_t segment_size) {
  return lsn.value % segment_size;
}
constexpr Lsn segment_start(Lsn lsn, std::uint64_t segment_size) {
  return Lsn{lsn.value - lsn.value % segment_size};
}
constexpr Lsn segment_start_lsn(SegmentNo segno, std::uint64_t segment_size) {
  return Lsn{segno * segment_size};
}

}  // namespace walstream::protocol
