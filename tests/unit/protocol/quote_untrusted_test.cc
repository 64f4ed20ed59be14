#include "protocol/quote_untrusted.h"

#include <gtest/gtest.h>

#include <string>

namespace walstream::protocol {
namespace {

using namespace std::string_literals;

TEST(QuoteUntrustedTest, PrintableTextIsQuotedAsIs) {
  EXPECT_EQ(quote_untrusted(""), "\"\"");
  EXPECT_EQ(quote_untrusted("base/1/1259"), "\"base/1/1259\"");
}

TEST(QuoteUntrustedTest, QuotesBackslashesAndUnprintablesAreEscaped) {
  EXPECT_EQ(quote_untrusted("a\"b\\c"), R"("a\"b\\c")");
  EXPECT_EQ(quote_untrusted("x\ny\0z\x7f\xff"s), R"("x\x0ay\x00z\x7f\xff")");
}

TEST(QuoteUntrustedTest, LongTextIsCut) {
  EXPECT_EQ(quote_untrusted(std::string(200, 'a')), "\"" + std::string(200, 'a') + "\"");
  EXPECT_EQ(quote_untrusted(std::string(201, 'a')), "\"" + std::string(200, 'a') + "...\"");
  // Escapes do not count towards the cap: it limits the untrusted input.
  EXPECT_EQ(quote_untrusted(std::string(300, '\x01')).size(), 2 + 200 * 4 + 3);
}

}  // namespace
}  // namespace walstream::protocol
