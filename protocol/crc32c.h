// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum of WAL
// records, pg_control and CRC32C backup manifest entries. Uses the SSE4.2
// crc32 instruction when the CPU has it, slicing-by-8 tables otherwise.
#pragma once

#include <cstdint>

#include "protocol/bytes.h"

namespace walstream::protocol {

inline constexpr std::uint32_t kCrc32cInit = 0xFFFFFFFFu;

// Extends a running CRC (start with kCrc32cInit) by `data`, without the final
// inversion, so that a checksum can be computed piece by piece:
//   crc32c_finish(crc32c_update(crc32c_update(kCrc32cInit, a), b)).
std::uint32_t crc32c_update(std::uint32_t crc, ByteView data);
constexpr std::uint32_t crc32c_finish(std::uint32_t crc) { return crc ^ 0xFFFFFFFFu; }

// The CRC-32C of `data` in one go: crc32c("123456789") == 0xE3069283.
inline std::uint32_t crc32c(ByteView data) {
  return crc32c_finish(crc32c_update(kCrc32cInit, data));
}

// The table-driven implementation alone (for tests comparing both paths).
std::uint32_t crc32c_update_portable(std::uint32_t crc, ByteView data);
// True when crc32c_update uses the SSE4.2 instruction on this CPU.
bool crc32c_uses_hardware();

}  // namespace walstream::protocol
