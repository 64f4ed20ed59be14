#include "protocol/crc32c.h"

#include <array>
#include <cstring>

namespace walstream::protocol {
namespace {

constexpr std::uint32_t kPolynomial = 0x82F63B78u;

// tables[k][b]: the CRC of byte b followed by k zero bytes, so that eight
// input bytes are folded with eight lookups (slicing-by-8).
using SliceTables = std::array<std::array<std::uint32_t, 256>, 8>;

constexpr SliceTables make_tables() {
  SliceTables tables{};
  for (std::uint32_t b = 0; b < 256; ++b) {
    std::uint32_t crc = b;
    for (int bit = 0; bit < 8; ++bit) crc = (crc >> 1) ^ ((crc & 1u) ? kPolynomial : 0u);
    tables[0][b] = crc;
  }
  for (std::size_t k = 1; k < 8; ++k) {
    for (std::size_t b = 0; b < 256; ++b) {
      const std::uint32_t previous = tables[k - 1][b];
      tables[k][b] = (previous >> 8) ^ tables[0][previous & 0xFFu];
    }
  }
  return tables;
}

constexpr SliceTables kTables = make_tables();

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define WALSTREAM_CRC32C_SSE42 1

__attribute__((target("sse4.2"))) std::uint32_t update_sse42(std::uint32_t crc,
                                                             const unsigned char* p,
                                                             std::size_t n) {
  std::uint64_t crc64 = crc;
  while (n >= 8) {
    std::uint64_t word;
    std::memcpy(&word, p, 8);
    crc64 = __builtin_ia32_crc32di(crc64, word);
    p += 8;
    n -= 8;
  }
  auto crc32 = static_cast<std::uint32_t>(crc64);
  while (n > 0) {
    crc32 = __builtin_ia32_crc32qi(crc32, *p);
    ++p;
    --n;
  }
  return crc32;
}

bool detect_sse42() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("sse4.2");
}

const bool kHaveSse42 = detect_sse42();
#endif

}  // namespace

std::uint32_t crc32c_update_portable(std::uint32_t crc, ByteView data) {
  const auto* p = reinterpret_cast<const unsigned char*>(data.data());
  std::size_t n = data.size();
  const auto& t = kTables;
  while (n >= 8) {
    // Little-endian load: the reflected CRC consumes the lowest byte first.
    const std::uint32_t low = crc ^ (std::uint32_t{p[0]} | std::uint32_t{p[1]} << 8 |
                                     std::uint32_t{p[2]} << 16 | std::uint32_t{p[3]} << 24);
    crc = t[7][low & 0xFFu] ^ t[6][(low >> 8) & 0xFFu] ^ t[5][(low >> 16) & 0xFFu] ^
          t[4][low >> 24] ^ t[3][p[4]] ^ t[2][p[5]] ^ t[1][p[6]] ^ t[0][p[7]];
    p += 8;
    n -= 8;
  }
  while (n > 0) {
    crc = (crc >> 8) ^ t[0][(crc ^ *p) & 0xFFu];
    ++p;
    --n;
  }
  return crc;
}

std::uint32_t crc32c_update(std::uint32_t crc, ByteView data) {
#ifdef WALSTREAM_CRC32C_SSE42
  if (kHaveSse42) {
    return update_sse42(crc, reinterpret_cast<const unsigned char*>(data.data()), data.size());
  }
#endif
  return crc32c_update_portable(crc, data);
}

bool crc32c_uses_hardware() {
#ifdef WALSTREAM_CRC32C_SSE42
  return kHaveSse42;
#else
  return false;
#endif
}

}  // namespace walstream::protocol
