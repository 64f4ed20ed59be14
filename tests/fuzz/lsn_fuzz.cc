// Fuzz target for the text the server sends as numbers: LSNs ("16/B374D848"),
// SHOW wal_segment_size ("16MB") and the hex of manifests. The input is the
// text. Each parser is compared with an oracle written here from the
// grammar: an LSN is two runs of 1 to 8 hex digits of either case around the
// first '/'; a segment size is 1 to 7 decimal digits and kB, MB or GB, and a
// power of two from 1 MiB to 1 GiB. What parses prints back to the same
// value (to_string, to_hex), and the segment arithmetic of a parsed LSN
// adds up.
#include <cctype>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

#include "protocol/hex.h"
#include "protocol/lsn.h"
#include "tests/fuzz/fuzz_support.h"

namespace {

using walstream::fuzz::check;
using namespace walstream::protocol;

std::optional<std::uint64_t> hex_oracle(std::string_view digits) {
  if (digits.empty() || digits.size() > 8) return std::nullopt;
  std::uint64_t value = 0;
  const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value, 16);
  if (ec != std::errc{} || end != digits.data() + digits.size()) return std::nullopt;
  return value;
}

std::optional<Lsn> lsn_oracle(std::string_view text) {
  const std::size_t slash = text.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  const auto high = hex_oracle(text.substr(0, slash));
  const auto low = hex_oracle(text.substr(slash + 1));
  if (!high || !low) return std::nullopt;
  return Lsn{*high << 32 | *low};
}

void check_lsn(std::string_view text) {
  const std::optional<Lsn> lsn = parse_lsn(text);
  check(lsn == lsn_oracle(text));
  if (!lsn) return;
  const std::string printed = to_string(*lsn);
  check(parse_lsn(printed) == lsn);
  // PostgreSQL's "%X/%X": upper case, no leading zeros.
  check(printed.size() <= 17 && printed.find('/') != std::string::npos);
  for (char c : printed) check(c == '/' || std::isdigit(c) || (c >= 'A' && c <= 'F'));
  for (std::uint64_t size = std::uint64_t{1} << 20; size <= std::uint64_t{1} << 30; size <<= 1) {
    const SegmentNo segno = segment_number(*lsn, size);
    check(segment_start_lsn(segno, size).value + segment_offset(*lsn, size) == lsn->value);
    check(segment_start(*lsn, size) == segment_start_lsn(segno, size));
  }
}

std::optional<std::uint64_t> segment_size_oracle(std::string_view text) {
  std::size_t digits = 0;
  while (digits < text.size() && std::isdigit(static_cast<unsigned char>(text[digits]))) ++digits;
  if (digits == 0 || digits > 7) return std::nullopt;
  std::uint64_t number = 0;
  std::from_chars(text.data(), text.data() + digits, number);
  const std::string_view unit = text.substr(digits);
  const int shift = unit == "kB" ? 10 : unit == "MB" ? 20 : unit == "GB" ? 30 : -1;
  if (shift < 0) return std::nullopt;
  const std::uint64_t bytes = number << shift;
  if (bytes < (std::uint64_t{1} << 20) || bytes > (std::uint64_t{1} << 30)) return std::nullopt;
  if ((bytes & (bytes - 1)) != 0) return std::nullopt;
  return bytes;
}

void check_segment_size(std::string_view text) {
  const auto size = parse_wal_segment_size(text);
  check(size == segment_size_oracle(text));
  if (size) check(is_valid_wal_segment_size(*size));
}

void check_hex_bytes(std::string_view text) {
  const auto bytes = parse_hex_bytes(text);
  bool oracle = text.size() % 2 == 0;
  for (char c : text) oracle = oracle && std::isxdigit(static_cast<unsigned char>(c));
  check(bytes.has_value() == oracle);
  if (!bytes) return;
  std::string lower(text);
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  check(to_hex(*bytes) == lower);
  const auto value = parse_hex32(text);
  check(value.has_value() == (!text.empty() && text.size() <= 8));
  if (value) check(parse_hex32(format_hex(*value)) == value);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  check_lsn(text);
  check_segment_size(text);
  check_hex_bytes(text);
  return 0;
}
