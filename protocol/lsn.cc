#include "protocol/lsn.h"

#include <array>
#include <cstddef>

#include "protocol/error.h"

namespace walstream::protocol {
namespace {

// Value of one hex digit, or -1. Accepts both cases (LSNs are printed in upper
// case, but hand-written ones often are not).
int hex_digit_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

// Parses 1..8 hex digits into 32 bits; anything else (sign, space, "0x") fails.
std::optional<std::uint32_t> parse_hex32(std::string_view text) {
  if (text.empty() || text.size() > 8) return std::nullopt;
  std::uint32_t value = 0;
  for (char c : text) {
    const int digit = hex_digit_value(c);
    if (digit < 0) return std::nullopt;
    value = (value << 4) | static_cast<std::uint32_t>(digit);
  }
  return value;
}

// Segment names use upper case only, so that a name we parse is a name we would
// have written (avoids two files for one segment on case-sensitive filesystems).
std::optional<std::uint32_t> parse_upper_hex32(std::string_view text) {
  for (char c : text) {
    if (c >= 'a' && c <= 'f') return std::nullopt;
  }
  return parse_hex32(text);
}

void append_hex32(std::string& out, std::uint32_t value, bool zero_pad) {
  static constexpr char kDigits[] = "0123456789ABCDEF";
  std::array<char, 8> buf{};
  for (int i = 7; i >= 0; --i) {
    buf[static_cast<std::size_t>(i)] = kDigits[value & 0xF];
    value >>= 4;
  }
  std::size_t first = 0;
  if (!zero_pad) {
    while (first < 7 && buf[first] == '0') ++first;
  }
  out.append(buf.data() + first, buf.size() - first);
}

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
  const std::size_t slash = text.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  const auto high = parse_hex32(text.substr(0, slash));
  const auto low = parse_hex32(text.substr(slash + 1));
  if (!high || !low) return std::nullopt;
  return Lsn{(std::uint64_t{*high} << 32) | *low};
}

std::string to_string(Lsn lsn) {
  std::string out;
  out.reserve(17);
  append_hex32(out, static_cast<std::uint32_t>(lsn.value >> 32), false);
  out.push_back('/');
  append_hex32(out, static_cast<std::uint32_t>(lsn.value), false);
  return out;
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
  std::string out;
  out.reserve(24);
  append_hex32(out, tli, true);
  append_hex32(out, static_cast<std::uint32_t>(segno / segments_per_id), true);
  append_hex32(out, static_cast<std::uint32_t>(segno % segments_per_id), true);
  return out;
}

std::string timeline_history_file_name(TimelineId tli) {
  std::string out;
  out.reserve(16);
  append_hex32(out, tli, true);
  out += ".history";
  return out;
}

std::optional<ParsedSegmentName> parse_wal_segment_file_name(std::string_view name,
                                                             std::uint64_t segment_size) {
  if (name.size() != 24 || !is_valid_wal_segment_size(segment_size)) return std::nullopt;
  const auto tli = parse_upper_hex32(name.substr(0, 8));
  const auto high = parse_upper_hex32(name.substr(8, 8));
  const auto low = parse_upper_hex32(name.substr(16, 8));
  if (!tli || !high || !low) return std::nullopt;
  const std::uint64_t segments_per_id = kXLogIdSpan / segment_size;
  // A low part past the segments of one xlogid is never written for this
  // segment size; accepting it would alias another segment.
  if (*low >= segments_per_id) return std::nullopt;
  return ParsedSegmentName{*tli, std::uint64_t{*high} * segments_per_id + *low};
}

}  // namespace walstream::protocol
