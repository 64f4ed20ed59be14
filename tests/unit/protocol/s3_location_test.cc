#include "protocol/s3_location.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>

#include "protocol/error.h"

using namespace walstream::protocol;
using walstream::Error;
using walstream::ErrorKind;

namespace {

struct ValidCase {
  const char* url;
  S3Location location;
  const char* canonical;  // to_string(location)
};

class ValidS3LocationTest : public testing::TestWithParam<ValidCase> {};

TEST_P(ValidS3LocationTest, ParsesAndNormalizes) {
  const auto& c = GetParam();
  EXPECT_TRUE(is_s3_url(c.url));
  const S3Location location = parse_s3_location(c.url);
  EXPECT_EQ(location, c.location) << c.url;
  EXPECT_EQ(to_string(location), c.canonical);
  // The canonical text reads back as the same location.
  EXPECT_EQ(parse_s3_location(to_string(location)), location);
}

INSTANTIATE_TEST_SUITE_P(
    Locations, ValidS3LocationTest,
    testing::Values(ValidCase{"s3://wal", {"wal", ""}, "s3://wal"},
                    ValidCase{"s3://wal/", {"wal", ""}, "s3://wal"},
                    ValidCase{"s3://wal/db1", {"wal", "db1/"}, "s3://wal/db1"},
                    ValidCase{"s3://wal/db1/", {"wal", "db1/"}, "s3://wal/db1"},
                    ValidCase{"s3://my-bucket.eu/site-a/pg_wal",
                              {"my-bucket.eu", "site-a/pg_wal/"},
                              "s3://my-bucket.eu/site-a/pg_wal"},
                    ValidCase{"s3://a1b/cluster=main/Tl.1/(x)!*'",
                              {"a1b", "cluster=main/Tl.1/(x)!*'/"},
                              "s3://a1b/cluster=main/Tl.1/(x)!*'"},
                    ValidCase{"s3://123/...a/", {"123", "...a/"}, "s3://123/...a"},
                    ValidCase{
                        "s3://abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz0",
                        {"abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz0", ""},
                        "s3://abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz0"},
                    ValidCase{"s3://1.2.3.4.5", {"1.2.3.4.5", ""}, "s3://1.2.3.4.5"}));

struct InvalidCase {
  const char* url;
  const char* message_part;  // what the error must say
};

class InvalidS3LocationTest : public testing::TestWithParam<InvalidCase> {};

TEST_P(InvalidS3LocationTest, IsAUsageErrorWithAHint) {
  const auto& c = GetParam();
  try {
    parse_s3_location(c.url);
    FAIL() << "accepted " << c.url;
  } catch (const Error& error) {
    EXPECT_EQ(error.kind(), ErrorKind::kUsage);
    EXPECT_NE(std::string(error.what()).find(c.message_part), std::string::npos) << error.what();
    EXPECT_FALSE(error.hint().empty());
    EXPECT_EQ(std::string(error.what()).find('\n'), std::string::npos);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Locations, InvalidS3LocationTest,
    testing::Values(
        InvalidCase{"", "does not start with \"s3://\""},
        InvalidCase{"/var/lib/wal", "does not start with \"s3://\""},
        InvalidCase{"S3://wal", "does not start with \"s3://\""},
        InvalidCase{"s3:/wal", "does not start with \"s3://\""},
        InvalidCase{"s3://", "no bucket name"}, InvalidCase{"s3:///prefix", "no bucket name"},
        InvalidCase{"s3://ab", "not 3 to 63 characters"},
        InvalidCase{"s3://abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz01",
                    "not 3 to 63 characters"},
        InvalidCase{"s3://Wal", "has the character \"W\""},
        InvalidCase{"s3://wal_1", "has the character \"_\""},
        InvalidCase{"s3://wal:9000", "has the character \":\""},
        InvalidCase{"s3://user@wal", "has the character \"@\""},
        InvalidCase{"s3://-wal", "begin and end with a letter or digit"},
        InvalidCase{"s3://wal./x", "begin and end with a letter or digit"},
        InvalidCase{"s3://wal..db", "two adjacent periods"},
        InvalidCase{"s3://192.168.5.4", "formatted as an IP address"},
        InvalidCase{"s3://xn--wal", "starting with \"xn--\" are reserved"},
        InvalidCase{"s3://wal-s3alias", "ending with \"-s3alias\" are reserved"},
        InvalidCase{"s3://wal//db1", "empty segment"},
        InvalidCase{"s3://wal/db1//x", "empty segment"},
        InvalidCase{"s3://wal/db1//", "empty segment"}, InvalidCase{"s3://wal//", "empty segment"},
        InvalidCase{"s3://wal/../other", "\"..\" segment"},
        InvalidCase{"s3://wal/db1/..", "\"..\" segment"},
        InvalidCase{"s3://wal/./db1", "\".\" segment"},
        InvalidCase{"s3://wal/db 1", "has the character \" \""},
        InvalidCase{"s3://wal/db1?versionId=3", "has the character \"?\""},
        InvalidCase{"s3://wal/db1#x", "has the character \"#\""},
        InvalidCase{"s3://wal/db\\1", "has the character \"\\\\\""},
        InvalidCase{"s3://wal/db\n1", "has the character \"\\x0a\""},
        InvalidCase{"s3://wal/caf\xc3\xa9", "has the character \"\\xc3\""}));

TEST(S3LocationTest, RefusesAPrefixLongerThanTheLimit) {
  const std::string fits = "s3://wal/" + std::string(kMaxS3PrefixLength, 'a');
  EXPECT_EQ(parse_s3_location(fits).prefix.size(), kMaxS3PrefixLength + 1);
  EXPECT_THROW(parse_s3_location(fits + "a"), Error);
  // A trailing '/' does not count.
  EXPECT_NO_THROW(parse_s3_location(fits + "/"));
}

struct KeyCase {
  const char* prefix;
  const char* name;
  std::optional<std::string> key;  // nullopt: never uploaded
};

class S3ArchiveKeyTest : public testing::TestWithParam<KeyCase> {};

TEST_P(S3ArchiveKeyTest, MapsArchiveFilesToKeysAndBack) {
  const auto& c = GetParam();
  const S3Location location{"wal", c.prefix};
  EXPECT_EQ(s3_archive_key(location, c.name), c.key) << c.name;
  if (c.key) {
    EXPECT_EQ(s3_archive_file_name(location, *c.key), std::optional<std::string>(c.name));
  }
}

INSTANTIATE_TEST_SUITE_P(
    Files, S3ArchiveKeyTest,
    testing::Values(
        KeyCase{"db1/", "000000010000000000000003.zst", "db1/000000010000000000000003.zst"},
        KeyCase{"db1/", "000000010000000000000003", "db1/000000010000000000000003"},
        KeyCase{"db1/", "00000002.history", "db1/00000002.history"},
        KeyCase{"", "000000010000000000000003.zst", "000000010000000000000003.zst"},
        KeyCase{"a/b/", "0000000A00000001000000FF.zst", "a/b/0000000A00000001000000FF.zst"},
        KeyCase{"db1/", "000000010000000000000003.partial", std::nullopt},
        KeyCase{"db1/", "000000010000000000000003.zst.tmp", std::nullopt},
        KeyCase{"db1/", "00000002.history.tmp", std::nullopt},
        KeyCase{"db1/", "archive_status/000000010000000000000003.done", std::nullopt},
        KeyCase{"db1/", "000000010000000000000003.gz", std::nullopt},
        KeyCase{"db1/", "../000000010000000000000003", std::nullopt},
        KeyCase{"db1/", "", std::nullopt}));

TEST(S3ArchiveFileNameTest, IgnoresKeysThatAreNotArchiveFilesOfThePrefix) {
  const S3Location location{"wal", "db1/"};
  for (const char* key : {
           "db2/000000010000000000000003.zst",      // another prefix
           "db10/000000010000000000000003.zst",     // shares the text, not the prefix
           "db1/x/000000010000000000000003.zst",    // below the prefix
           "db1/000000010000000000000003.partial",  // never uploaded
           "db1/backup_label",                      // someone else's object
           "000000010000000000000003.zst",          // the bucket's root
           "db1/",                                  // a "directory" marker
       }) {
    EXPECT_EQ(s3_archive_file_name(location, key), std::nullopt) << key;
  }
}

TEST(S3UriEncodeTest, EncodesAllButUnreservedCharacters) {
  EXPECT_EQ(s3_uri_encode("AZaz09-_.~", false), "AZaz09-_.~");
  EXPECT_EQ(s3_uri_encode("a/b", true), "a/b");
  EXPECT_EQ(s3_uri_encode("a/b", false), "a%2Fb");
  EXPECT_EQ(s3_uri_encode("x=(1)!*' +", true), "x%3D%281%29%21%2A%27%20%2B");
  EXPECT_EQ(s3_uri_encode("\xc3\xa9%", true), "%C3%A9%25");
  EXPECT_EQ(s3_uri_encode("", true), "");
}

}  // namespace
