// Hexadecimal text, parsed and formatted in one place: LSNs ("16/B374D848"),
// WAL file names ("000000010000000000000003"), page magics and CRCs in
// messages, and the byte strings of backup manifests. Numbers are written in
// upper case as PostgreSQL prints them; byte strings in lower case as
// manifests carry them.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace walstream::protocol {

// `value` in upper-case hex without a prefix, zero-padded to at least
// `min_digits` digits: format_hex(0x1A) is "1A", format_hex(0x1A, 8) is
// "0000001A" (printf's "%X" and "%08X").
std::string format_hex(std::uint64_t value, int min_digits = 1);

// Two lower-case digits per byte, no separators: {0x83, 0x92} is "8392".
std::string to_hex(std::span<const std::uint8_t> bytes);
std::string to_hex(std::uint8_t byte);

// 1 to 8 hex digits of either case as a 32-bit value; nullopt for anything
// else (empty, longer, a sign, spaces, a "0x" prefix).
std::optional<std::uint32_t> parse_hex32(std::string_view text);

// True if `text` is not empty and only '0'-'9' and 'A'-'F': the digits of
// names PostgreSQL writes, which must be read back exactly as written.
bool is_upper_hex(std::string_view text);

// The bytes of an even number of hex digits of either case ("" is no
// bytes); nullopt for an odd length or any other character.
std::optional<std::vector<std::uint8_t>> parse_hex_bytes(std::string_view text);

}  // namespace walstream::protocol
