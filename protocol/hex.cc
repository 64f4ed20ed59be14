#include "protocol/hex.h"

#include <algorithm>

namespace walstream::protocol {
namespace {

constexpr char kUpperDigits[] = "0123456789ABCDEF";
constexpr char kLowerDigits[] = "0123456789abcdef";

// Value of one hex digit of either case, or -1.
int digit_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

}  // namespace

std::string format_hex(std::uint64_t value, int min_digits) {
  // 16 digits hold any 64-bit value; more only adds padding.
  char digits[16];
  int count = 0;
  do {
    digits[15 - count] = kUpperDigits[value & 0xF];
    value >>= 4;
    ++count;
  } while (value != 0);
  std::string out;
  if (min_digits > count) out.assign(static_cast<std::size_t>(min_digits - count), '0');
  out.append(digits + 16 - count, static_cast<std::size_t>(count));
  return out;
}

std::string to_hex(std::span<const std::uint8_t> bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (std::uint8_t b : bytes) {
    out.push_back(kLowerDigits[b >> 4]);
    out.push_back(kLowerDigits[b & 0xF]);
  }
  return out;
}

std::string to_hex(std::uint8_t byte) { return to_hex(std::span<const std::uint8_t>(&byte, 1)); }

std::optional<std::uint32_t> parse_hex32(std::string_view text) {
  if (text.empty() || text.size() > 8) return std::nullopt;
  std::uint32_t value = 0;
  for (char c : text) {
    const int digit = digit_value(c);
    if (digit < 0) return std::nullopt;
    value = (value << 4) | static_cast<std::uint32_t>(digit);
  }
  return value;
}

bool is_upper_hex(std::string_view text) {
  return !text.empty() && std::all_of(text.begin(), text.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F');
  });
}

std::optional<std::vector<std::uint8_t>> parse_hex_bytes(std::string_view text) {
  if (text.size() % 2 != 0) return std::nullopt;
  std::vector<std::uint8_t> bytes;
  bytes.reserve(text.size() / 2);
  for (std::size_t i = 0; i < text.size(); i += 2) {
    const int high = digit_value(text[i]);
    const int low = digit_value(text[i + 1]);
    if (high < 0 || low < 0) return std::nullopt;
    bytes.push_back(static_cast<std::uint8_t>(high * 16 + low));
  }
  return bytes;
}

}  // namespace walstream::protocol
