#include "protocol/lsn.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <optional>
#include <string>

using namespace walstream::protocol;

namespace {

constexpr std::uint64_t kMiB = std::uint64_t{1} << 20;
constexpr std::uint64_t kGiB = std::uint64_t{1} << 30;
constexpr std::uint64_t k16MiB = 16 * kMiB;

struct LsnParseCase {
  const char* text;
  std::optional<std::uint64_t> expected;
};

class ParseLsnTest : public testing::TestWithParam<LsnParseCase> {};

TEST_P(ParseLsnTest, Parses) {
  const auto& c = GetParam();
  const auto lsn = parse_lsn(c.text);
  if (c.expected) {
    ASSERT_TRUE(lsn.has_value()) << c.text;
    EXPECT_EQ(lsn->value, *c.expected) << c.text;
  } else {
    EXPECT_FALSE(lsn.has_value()) << c.text;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Cases, ParseLsnTest,
    testing::Values(LsnParseCase{"0/0", 0}, LsnParseCase{"0/3000028", 0x3000028},
                    LsnParseCase{"16/B374D848", 0x16B374D848},
                    LsnParseCase{"16/b374d848", 0x16B374D848},  // lower case
                    LsnParseCase{"16/0374D848", 0x160374D848},  // zero-padded low half (PG18 style)
                    LsnParseCase{"00000016/0374D848", 0x160374D848},  // 8 digits both halves
                    LsnParseCase{"FFFFFFFF/FFFFFFFF", UINT64_MAX}, LsnParseCase{"", std::nullopt},
                    LsnParseCase{"/", std::nullopt}, LsnParseCase{"0/", std::nullopt},
                    LsnParseCase{"/0", std::nullopt}, LsnParseCase{"0", std::nullopt},
                    LsnParseCase{"3000028", std::nullopt}, LsnParseCase{"0/0/0", std::nullopt},
                    LsnParseCase{"123456789/0", std::nullopt},
                    LsnParseCase{"0/123456789", std::nullopt}, LsnParseCase{"0x1/0", std::nullopt},
                    LsnParseCase{"-1/0", std::nullopt}, LsnParseCase{"+1/0", std::nullopt},
                    LsnParseCase{" 1/0", std::nullopt}, LsnParseCase{"1/0 ", std::nullopt},
                    LsnParseCase{"1 /0", std::nullopt}, LsnParseCase{"G/0", std::nullopt},
                    LsnParseCase{"1/0\n", std::nullopt}));

TEST(LsnTest, ToStringIsUpperCaseAndUnpadded) {
  EXPECT_EQ(to_string(Lsn{0}), "0/0");
  EXPECT_EQ(to_string(Lsn{0x3000028}), "0/3000028");
  EXPECT_EQ(to_string(Lsn{0x16B374D848}), "16/B374D848");
  EXPECT_EQ(to_string(Lsn{0x1600000001}), "16/1");
  EXPECT_EQ(to_string(Lsn{UINT64_MAX}), "FFFFFFFF/FFFFFFFF");
}

TEST(LsnTest, RoundTrip) {
  for (std::uint64_t v : {std::uint64_t{0}, std::uint64_t{1}, std::uint64_t{0x100000000},
                          std::uint64_t{0xABCDEF0123456789}, UINT64_MAX}) {
    const auto parsed = parse_lsn(to_string(Lsn{v}));
    ASSERT_TRUE(parsed.has_value());
    EXPECT_EQ(parsed->value, v);
  }
}

TEST(LsnTest, ValidAndOrdering) {
  EXPECT_FALSE(Lsn{}.valid());
  EXPECT_TRUE(Lsn{1}.valid());
  EXPECT_LT(Lsn{0xFFFFFFFF}, Lsn{0x100000000});
  EXPECT_EQ(Lsn{5}, Lsn{5});
}

TEST(WalSegmentSizeTest, Validity) {
  EXPECT_TRUE(is_valid_wal_segment_size(kMiB));
  EXPECT_TRUE(is_valid_wal_segment_size(k16MiB));
  EXPECT_TRUE(is_valid_wal_segment_size(kGiB));
  EXPECT_FALSE(is_valid_wal_segment_size(0));
  EXPECT_FALSE(is_valid_wal_segment_size(kMiB / 2));
  EXPECT_FALSE(is_valid_wal_segment_size(2 * kGiB));
  EXPECT_FALSE(is_valid_wal_segment_size(3 * kMiB));
  EXPECT_FALSE(is_valid_wal_segment_size(k16MiB + 1));
}

struct SegmentSizeCase {
  const char* text;
  std::optional<std::uint64_t> expected;
};

class ParseWalSegmentSizeTest : public testing::TestWithParam<SegmentSizeCase> {};

TEST_P(ParseWalSegmentSizeTest, Parses) {
  const auto& c = GetParam();
  EXPECT_EQ(parse_wal_segment_size(c.text), c.expected) << c.text;
}

INSTANTIATE_TEST_SUITE_P(
    Cases, ParseWalSegmentSizeTest,
    testing::Values(SegmentSizeCase{"16MB", k16MiB}, SegmentSizeCase{"1MB", kMiB},
                    SegmentSizeCase{"64MB", 64 * kMiB}, SegmentSizeCase{"1GB", kGiB},
                    SegmentSizeCase{"1024kB", kMiB}, SegmentSizeCase{"1048576kB", kGiB},
                    SegmentSizeCase{"1024MB", kGiB}, SegmentSizeCase{"", std::nullopt},
                    SegmentSizeCase{"MB", std::nullopt}, SegmentSizeCase{"16", std::nullopt},
                    SegmentSizeCase{"16mb", std::nullopt}, SegmentSizeCase{"16 MB", std::nullopt},
                    SegmentSizeCase{"16MB ", std::nullopt}, SegmentSizeCase{"-16MB", std::nullopt},
                    SegmentSizeCase{"512kB", std::nullopt},  // below 1 MiB
                    SegmentSizeCase{"2GB", std::nullopt},    // above 1 GiB
                    SegmentSizeCase{"3MB", std::nullopt},    // not a power of two
                    SegmentSizeCase{"0MB", std::nullopt},
                    SegmentSizeCase{"99999999999999999999MB", std::nullopt}));

TEST(SegmentArithmeticTest, NumberOffsetStart) {
  const Lsn lsn{0x3000028};
  EXPECT_EQ(segment_number(lsn, k16MiB), 3u);
  EXPECT_EQ(segment_offset(lsn, k16MiB), 0x28u);
  EXPECT_EQ(segment_start(lsn, k16MiB), Lsn{0x3000000});
  EXPECT_EQ(segment_start_lsn(3, k16MiB), Lsn{0x3000000});
  EXPECT_EQ(segment_number(lsn, kGiB), 0u);
  EXPECT_EQ(segment_number(lsn, kMiB), 0x30u);
}

}  // namespace
