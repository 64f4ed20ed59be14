#include "protocol/lsn.h"

#include "protocol/hex.h"

namespace walstream::protocol {
namespace {

constexpr std::uint64_t kMiB = std::uint64_t{1} << 20;
constexpr std::uint64_t kGiB = std::uint64_t{1} << 30;

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

}  // namespace walstream::protocol
