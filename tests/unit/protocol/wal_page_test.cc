#include "protocol/wal_page.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <vector>

using namespace walstream::protocol;
using testing::HasSubstr;

namespace {

constexpr std::uint64_t kSegmentSize = 1024 * 1024;
constexpr std::uint64_t kSystemId = 7312345678901234567ULL;
constexpr std::uint16_t kMagic = 0xD110;

template <typename T>
void put(std::vector<std::byte>& buffer, std::size_t offset, T value) {
  std::memcpy(buffer.data() + offset, &value, sizeof value);
}

// A segment whose every page has a valid header (no records needed here).
std::vector<std::byte> make_segment(SegmentNo segno, TimelineId timeline) {
  std::vector<std::byte> segment(kSegmentSize);
  for (std::size_t offset = 0; offset < kSegmentSize; offset += kWalPageSize) {
    const bool first = offset == 0;
    put<std::uint16_t>(segment, offset, kMagic);
    put<std::uint16_t>(segment, offset + 2, first ? kXlpLongHeader : 0);
    put<std::uint32_t>(segment, offset + 4, timeline);
    put<std::uint64_t>(segment, offset + 8, segno * kSegmentSize + offset);
    if (first) {
      put<std::uint64_t>(segment, 24, kSystemId);
      put<std::uint32_t>(segment, 32, static_cast<std::uint32_t>(kSegmentSize));
      put<std::uint32_t>(segment, 36, static_cast<std::uint32_t>(kWalPageSize));
    }
  }
  return segment;
}

PageCheck check_for(TimelineId max_timeline) {
  return PageCheck{kMagic, kSegmentSize, kSystemId, max_timeline};
}

TEST(WalPageTest, ValidSegmentPasses) {
  EXPECT_EQ(check_segment_pages(make_segment(5, 1), 5, check_for(1)), "");
}

TEST(WalPageTest, EachBrokenFieldIsNamedWithItsPage) {
  struct Case {
    std::size_t offset;
    std::uint64_t value;
    std::size_t width;
    const char* expected;
  };
  const std::size_t page3 = 3 * kWalPageSize;
  const Case cases[] = {
      {page3, 0xD113, 2, "magic"},           {page3 + 2, 0x0010, 2, "unknown flag bits"},
      {page3 + 8, 12345, 8, "page address"}, {page3 + 4, 2, 4, "timeline"},
      {page3 + 16, 100, 4, "disagree"},  // remaining length without the flag
      {24, 42, 8, "system identifier"},
  };
  for (const auto& c : cases) {
    auto segment = make_segment(5, 1);
    std::memcpy(segment.data() + c.offset, &c.value, c.width);
    const std::string problem = check_segment_pages(segment, 5, check_for(1));
    EXPECT_THAT(problem, HasSubstr(c.expected)) << c.expected;
    if (c.offset != 24) {
      EXPECT_THAT(problem, HasSubstr(to_string(Lsn{5 * kSegmentSize + page3})));
    }
  }
}

TEST(WalPageTest, TimelineMayRiseWithinASegmentButNotFall) {
  auto segment = make_segment(5, 1);
  for (std::size_t offset = 64 * kWalPageSize; offset < kSegmentSize; offset += kWalPageSize) {
    put<std::uint32_t>(segment, offset + 4, 2);  // promotion inside this segment
  }
  EXPECT_EQ(check_segment_pages(segment, 5, check_for(2)), "");
  EXPECT_THAT(check_segment_pages(segment, 5, check_for(1)), HasSubstr("timeline"));
  put<std::uint32_t>(segment, 100 * kWalPageSize + 4, 1);
  EXPECT_THAT(check_segment_pages(segment, 5, check_for(2)), HasSubstr("timeline"));
}

TEST(WalPageTest, ZeroTailAfterSwitchIsAcceptedButNotDataAfterIt) {
  auto segment = make_segment(5, 1);
  std::fill(segment.begin() + 10 * kWalPageSize, segment.end(), std::byte{0});
  EXPECT_EQ(check_segment_pages(segment, 5, check_for(1)), "");
  put<std::uint16_t>(segment, 20 * kWalPageSize + 100, 1);
  EXPECT_THAT(check_segment_pages(segment, 5, check_for(1)), HasSubstr("zero-filled"));
}

TEST(WalPageTest, ZeroFirstPageIsRefused) {
  auto segment = make_segment(5, 1);
  std::fill(segment.begin(), segment.begin() + kWalPageSize, std::byte{0});
  EXPECT_NE(check_segment_pages(segment, 5, check_for(1)), "");
}

TEST(WalPageTest, WrongSegmentNumberOrSizeIsRefused) {
  EXPECT_THAT(check_segment_pages(make_segment(5, 1), 6, check_for(1)), HasSubstr("first page"));
  auto segment = make_segment(5, 1);
  segment.resize(kSegmentSize / 2);
  EXPECT_THAT(check_segment_pages(segment, 5, check_for(1)), HasSubstr("bytes"));
}

}  // namespace
