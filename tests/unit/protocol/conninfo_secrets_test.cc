#include "protocol/conninfo_secrets.h"

#include <gtest/gtest.h>

#include <string>

using namespace walstream::protocol;

namespace {

struct MaskCase {
  const char* conninfo;
  const char* masked;
};

class MaskSecretsTest : public testing::TestWithParam<MaskCase> {};

TEST_P(MaskSecretsTest, MasksEverySecretAndNothingElse) {
  const MaskCase& c = GetParam();
  const std::string masked = mask_secrets(c.conninfo);
  EXPECT_EQ(masked, c.masked);
  EXPECT_EQ(masked.size(), std::string(c.conninfo).size());
}

INSTANTIATE_TEST_SUITE_P(
    KeywordValue, MaskSecretsTest,
    testing::Values(MaskCase{"", ""}, MaskCase{"host=db port=5432", "host=db port=5432"},
                    MaskCase{"password=secret", "password=******"},
                    MaskCase{"host=db password=secret user=r", "host=db password=****** user=r"},
                    MaskCase{"password = secret", "password = ******"},
                    MaskCase{"  password=\tsecret  ", "  password=\t******  "},
                    MaskCase{"password='a b'", "password='***'"},
                    MaskCase{R"(password='it\'s' user=r)", R"(password='*****' user=r)"},
                    MaskCase{R"(password=back\ slash user=r)", R"(password=*********** user=r)"},
                    MaskCase{"password=''", "password=''"}, MaskCase{"password=", "password="},
                    MaskCase{"sslpassword=keypass sslkey=/k", "sslpassword=******* sslkey=/k"},
                    MaskCase{"password=one password=two", "password=*** password=***"},
                    // Not keywords named password: values of other options stay.
                    MaskCase{"user=password application_name='password=x'",
                             "user=password application_name='password=x'"},
                    MaskCase{"passwords=x", "passwords=x"},
                    // Unterminated quote: the rest is the value.
                    MaskCase{"password='open", "password='****"},
                    // libpq refuses a keyword without '=': the rest is still scanned.
                    MaskCase{"password=a junk password=b", "password=* junk password=*"}));

INSTANTIATE_TEST_SUITE_P(
    Uri, MaskSecretsTest,
    testing::Values(MaskCase{"postgresql://r@db/postgres", "postgresql://r@db/postgres"},
                    MaskCase{"postgresql://r:secret@db:5432/postgres",
                             "postgresql://r:******@db:5432/postgres"},
                    MaskCase{"postgres://r:s%40cret@db", "postgres://r:********@db"},
                    MaskCase{"postgresql://r:@db", "postgresql://r:@db"},
                    MaskCase{"postgresql://r:pw@h1,h2/db?sslmode=require",
                             "postgresql://r:**@h1,h2/db?sslmode=require"},
                    MaskCase{"postgresql://db/?user=r&password=secret&sslmode=verify-full",
                             "postgresql://db/?user=r&password=******&sslmode=verify-full"},
                    MaskCase{"postgresql://db?pass%77ord=secret",
                             "postgresql://db?pass%77ord=******"},
                    MaskCase{"postgresql://db?sslpassword=kp", "postgresql://db?sslpassword=**"},
                    // '@' after the first '/' is not a user designator.
                    MaskCase{"postgresql://db/x:y@z", "postgresql://db/x:y@z"},
                    // '?' inside the password is not the query.
                    MaskCase{"postgresql://r:p?w=1@db", "postgresql://r:*****@db"},
                    // Unterminated IPv6 host: libpq quotes this URI in its error.
                    MaskCase{"postgresql://r:secret@[::1", "postgresql://r:******@[::1"}));

TEST(ScrubSecretsTest, ReplacesEveryOccurrenceOfEachSecret) {
  EXPECT_EQ(scrub_secrets("bad URI \"postgresql://r:hunter2@[::1\" (hunter2)",
                          "postgresql://r:hunter2@[::1"),
            "bad URI \"postgresql://r:********@[::1\" (********)");
  EXPECT_EQ(scrub_secrets("no secret here", "host=db"), "no secret here");
  EXPECT_EQ(scrub_secrets("a b c", "password=b sslpassword=c"), "a ******** ********");
}

TEST(SecretSpansTest, OffsetsPointIntoTheText) {
  const std::string text = "host=db password='x y' sslpassword=z";
  const auto spans = secret_spans(text);
  ASSERT_EQ(spans.size(), 2U);
  EXPECT_EQ(text.substr(spans[0].offset, spans[0].length), "x y");
  EXPECT_EQ(text.substr(spans[1].offset, spans[1].length), "z");
}

}  // namespace
