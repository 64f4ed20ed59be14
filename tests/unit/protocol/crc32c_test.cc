#include "protocol/crc32c.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

using namespace walstream;
using namespace walstream::protocol;

namespace {

TEST(Crc32cTest, KnownVectors) {
  EXPECT_EQ(crc32c(as_bytes("123456789")), 0xE3069283u);
  EXPECT_EQ(crc32c(as_bytes("")), 0x00000000u);
  EXPECT_EQ(crc32c(as_bytes("a")), 0xC1D04330u);
  // RFC 3720 (iSCSI) B.4: 32 bytes of zeros, of 0xFF, ascending, descending.
  std::vector<std::byte> zeros(32, std::byte{0});
  EXPECT_EQ(crc32c(zeros), 0x8A9136AAu);
  std::vector<std::byte> ones(32, std::byte{0xFF});
  EXPECT_EQ(crc32c(ones), 0x62A8AB43u);
  std::vector<std::byte> ascending(32);
  std::vector<std::byte> descending(32);
  for (int i = 0; i < 32; ++i) {
    ascending[i] = static_cast<std::byte>(i);
    descending[i] = static_cast<std::byte>(31 - i);
  }
  EXPECT_EQ(crc32c(ascending), 0x46DD794Eu);
  EXPECT_EQ(crc32c(descending), 0x113FDB5Cu);
}

TEST(Crc32cTest, PortableAgreesWithDispatchForAllLengthsAndAlignments) {
  std::mt19937 random(42);
  std::vector<std::byte> data(600);
  for (auto& b : data) b = static_cast<std::byte>(random() & 0xFF);
  for (std::size_t offset = 0; offset < 8; ++offset) {
    for (std::size_t length = 0; length + offset <= data.size(); length += 7) {
      const ByteView view(data.data() + offset, length);
      ASSERT_EQ(crc32c_update(kCrc32cInit, view), crc32c_update_portable(kCrc32cInit, view))
          << "offset " << offset << " length " << length;
    }
  }
}

TEST(Crc32cTest, IncrementalEqualsOneShot) {
  const std::string text = "The quick brown fox jumps over the lazy dog";
  const ByteView all = as_bytes(text);
  for (std::size_t split = 0; split <= all.size(); ++split) {
    std::uint32_t crc = crc32c_update(kCrc32cInit, all.first(split));
    crc = crc32c_update(crc, all.subspan(split));
    EXPECT_EQ(crc32c_finish(crc), crc32c(all)) << split;
  }
  EXPECT_EQ(crc32c(all), 0x22620404u);
}

}  // namespace
