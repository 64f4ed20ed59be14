#include "protocol/hex.h"

#include <gtest/gtest.h>

#include <cctype>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

using namespace walstream::protocol;

namespace {

struct FormatCase {
  std::uint64_t value;
  int min_digits;
  const char* text;
};

class FormatHexTest : public testing::TestWithParam<FormatCase> {};

TEST_P(FormatHexTest, MatchesPrintf) {
  const auto& c = GetParam();
  EXPECT_EQ(format_hex(c.value, c.min_digits), c.text);
}

INSTANTIATE_TEST_SUITE_P(Cases, FormatHexTest,
                         testing::Values(FormatCase{0, 1, "0"}, FormatCase{0, 8, "00000000"},
                                         FormatCase{0x1A, 1, "1A"}, FormatCase{0x1A, 8, "0000001A"},
                                         FormatCase{0xD110, 4, "D110"}, FormatCase{0x5, 4, "0005"},
                                         FormatCase{0xDEADBEEF, 8, "DEADBEEF"},
                                         FormatCase{0xDEADBEEF, 2, "DEADBEEF"},
                                         FormatCase{0x100000000, 8, "100000000"},
                                         FormatCase{UINT64_MAX, 1, "FFFFFFFFFFFFFFFF"},
                                         FormatCase{0xAB, 20, "000000000000000000AB"},
                                         FormatCase{7, 0, "7"}, FormatCase{7, -3, "7"}));

TEST(ToHexTest, LowerCaseTwoDigitsPerByte) {
  EXPECT_EQ(to_hex(std::vector<std::uint8_t>{}), "");
  EXPECT_EQ(to_hex(std::vector<std::uint8_t>{0x83, 0x92, 0x06, 0xE3}), "839206e3");
  EXPECT_EQ(to_hex(std::vector<std::uint8_t>{0x00, 0xFF}), "00ff");
  EXPECT_EQ(to_hex(std::uint8_t{0x1F}), "1f");
  EXPECT_EQ(to_hex(std::uint8_t{0}), "00");
}

struct Parse32Case {
  const char* text;
  std::optional<std::uint32_t> value;
};

class ParseHex32Test : public testing::TestWithParam<Parse32Case> {};

TEST_P(ParseHex32Test, Parses) {
  const auto& c = GetParam();
  EXPECT_EQ(parse_hex32(c.text), c.value) << c.text;
}

INSTANTIATE_TEST_SUITE_P(
    Cases, ParseHex32Test,
    testing::Values(Parse32Case{"0", 0}, Parse32Case{"16", 0x16},
                    Parse32Case{"B374D848", 0xB374D848}, Parse32Case{"b374d848", 0xB374D848},
                    Parse32Case{"00000001", 1}, Parse32Case{"FFFFFFFF", 0xFFFFFFFF},
                    Parse32Case{"", std::nullopt}, Parse32Case{"123456789", std::nullopt},
                    Parse32Case{"0x1", std::nullopt}, Parse32Case{"-1", std::nullopt},
                    Parse32Case{"+1", std::nullopt}, Parse32Case{" 1", std::nullopt},
                    Parse32Case{"1 ", std::nullopt}, Parse32Case{"G", std::nullopt},
                    Parse32Case{"1/0", std::nullopt}));

TEST(IsUpperHexTest, OnlyDigitsAndUpperCaseLetters) {
  EXPECT_TRUE(is_upper_hex("0123456789ABCDEF"));
  EXPECT_TRUE(is_upper_hex("0"));
  EXPECT_FALSE(is_upper_hex(""));
  EXPECT_FALSE(is_upper_hex("0000000a"));
  EXPECT_FALSE(is_upper_hex("0000000G"));
  EXPECT_FALSE(is_upper_hex("0000 001"));
}

struct ParseBytesCase {
  const char* text;
  std::optional<std::vector<std::uint8_t>> bytes;
};

class ParseHexBytesTest : public testing::TestWithParam<ParseBytesCase> {};

TEST_P(ParseHexBytesTest, Parses) {
  const auto& c = GetParam();
  EXPECT_EQ(parse_hex_bytes(c.text), c.bytes) << c.text;
  if (c.bytes) {
    // Written back in lower case.
    std::string lower = c.text;
    for (char& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    EXPECT_EQ(to_hex(*c.bytes), lower);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Cases, ParseHexBytesTest,
    testing::Values(ParseBytesCase{"", std::vector<std::uint8_t>{}},
                    ParseBytesCase{"839206e3", std::vector<std::uint8_t>{0x83, 0x92, 0x06, 0xE3}},
                    ParseBytesCase{"839206E3", std::vector<std::uint8_t>{0x83, 0x92, 0x06, 0xE3}},
                    ParseBytesCase{"00ff", std::vector<std::uint8_t>{0x00, 0xFF}},
                    ParseBytesCase{"0", std::nullopt}, ParseBytesCase{"abc", std::nullopt},
                    ParseBytesCase{"zz", std::nullopt}, ParseBytesCase{"0x00", std::nullopt},
                    ParseBytesCase{"00 ", std::nullopt}, ParseBytesCase{" 00", std::nullopt}));

}  // namespace
