#include "storage/s3_xml.h"

#include <gtest/gtest.h>

#include <string>

#include "protocol/error.h"

using namespace walstream::storage;
using walstream::Error;
using walstream::ErrorKind;

namespace {

// As RADOS Gateway 16 sends a page (the AWS form differs only in order and
// optional elements).
constexpr const char* kTruncatedPage =
    R"(<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>wal</Name><Prefix>db1/</Prefix><MaxKeys>2</MaxKeys><IsTruncated>true</IsTruncated><Contents><Key>db1/000000010000000000000001.zst</Key><LastModified>2026-12-02T12:32:16.143Z</LastModified><ETag>&quot;9e107d9d372bb6826bd81d3542a419d6&quot;</ETag><Size>1234</Size><StorageClass>STANDARD</StorageClass></Contents><Contents><Key>db1/00000002.history</Key><ETag>"e4d909c290d0fb1ca068ffaddf22cbd0"</ETag><Size>42</Size></Contents><KeyCount>2</KeyCount><NextContinuationToken>db1/00000002.history</NextContinuationToken></ListBucketResult>)";

TEST(S3ListPageTest, ReadsKeysSizesETagsAndTheToken) {
  const S3ListPage page = parse_s3_list_page(kTruncatedPage);
  ASSERT_EQ(page.objects.size(), 2u);
  EXPECT_EQ(page.objects[0], (S3ListedObject{"db1/000000010000000000000001.zst", 1234,
                                             "\"9e107d9d372bb6826bd81d3542a419d6\""}));
  EXPECT_EQ(page.objects[1],
            (S3ListedObject{"db1/00000002.history", 42, "\"e4d909c290d0fb1ca068ffaddf22cbd0\""}));
  EXPECT_TRUE(page.is_truncated);
  EXPECT_EQ(page.next_continuation_token, "db1/00000002.history");
}

TEST(S3ListPageTest, ReadsAnEmptyLastPage) {
  const S3ListPage page = parse_s3_list_page(
      R"(<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>bkt</Name><Prefix></Prefix><MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated><KeyCount>0</KeyCount></ListBucketResult>)");
  EXPECT_TRUE(page.objects.empty());
  EXPECT_FALSE(page.is_truncated);
}

TEST(S3ListPageTest, KeepsKeysWithEscapedCharacters) {
  const S3ListPage page = parse_s3_list_page(
      "<ListBucketResult><Contents><Key>a&amp;b&lt;c&#x20;d</Key><Size>0</Size></Contents>"
      "<IsTruncated>false</IsTruncated></ListBucketResult>");
  ASSERT_EQ(page.objects.size(), 1u);
  EXPECT_EQ(page.objects[0].key, "a&b<c d");
}

class BadListPageTest : public testing::TestWithParam<std::pair<const char*, const char*>> {};

TEST_P(BadListPageTest, IsAProtocolErrorSayingWhy) {
  const auto& [xml, why] = GetParam();
  try {
    parse_s3_list_page(xml);
    FAIL() << "accepted " << xml;
  } catch (const Error& error) {
    EXPECT_EQ(error.kind(), ErrorKind::kProtocol);
    EXPECT_NE(std::string(error.what()).find(why), std::string::npos) << error.what();
  }
}

INSTANTIATE_TEST_SUITE_P(
    Pages, BadListPageTest,
    testing::Values(
        std::pair{"", "no element found"}, std::pair{"<ListBucketResult>", "no element found"},
        std::pair{"<Error><Code>x</Code></Error>", "root element is \"Error\""},
        std::pair{"<ListBucketResult><Contents><Size>1</Size></Contents></ListBucketResult>",
                  "an object without a key"},
        std::pair{"<ListBucketResult><Contents><Key>k</Key><Size>-1</Size></Contents>"
                  "</ListBucketResult>",
                  "size \"-1\" is not a number"},
        std::pair{"<ListBucketResult><Contents><Key>k</Key><Size>99999999999999999999</Size>"
                  "</Contents></ListBucketResult>",
                  "is not a number"},
        std::pair{"<ListBucketResult><IsTruncated>yes</IsTruncated></ListBucketResult>",
                  "IsTruncated is \"yes\""},
        std::pair{"<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>",
                  "without a NextContinuationToken"},
        std::pair{"<!DOCTYPE l [<!ENTITY a \"aaaa\">]><ListBucketResult>&a;</ListBucketResult>",
                  "document type declaration"},
        std::pair{"<ListBucketResult><a><a><a><a><a><a><a><a><a><a><a><a><a><a><a><a><a>"
                  "</a></a></a></a></a></a></a></a></a></a></a></a></a></a></a></a></a>"
                  "</ListBucketResult>",
                  "nested too deeply"}));

TEST(S3ListPageTest, RefusesAnOverlongText) {
  const std::string xml = "<ListBucketResult><Contents><Key>" + std::string(70000, 'k') +
                          "</Key></Contents></ListBucketResult>";
  EXPECT_THROW(parse_s3_list_page(xml), Error);
}

TEST(S3ErrorBodyTest, ReadsCodeAndMessage) {
  const auto body = parse_s3_error_body(
      R"(<?xml version="1.0" encoding="UTF-8"?><Error><Code>SignatureDoesNotMatch</Code><Message>The request signature we calculated does not match</Message><RequestId>tx0000</RequestId><HostId>x</HostId></Error>)");
  ASSERT_TRUE(body);
  EXPECT_EQ(body->code, "SignatureDoesNotMatch");
  EXPECT_EQ(body->message, "The request signature we calculated does not match");
}

TEST(S3ErrorBodyTest, ACodeWithoutAMessageIsEnough) {
  const auto body = parse_s3_error_body("<Error><Code>NoSuchKey</Code></Error>");
  ASSERT_TRUE(body);
  EXPECT_EQ(body->code, "NoSuchKey");
  EXPECT_EQ(body->message, "");
}

TEST(S3ErrorBodyTest, AnythingElseIsNoErrorBody) {
  for (const char* text : {"", "<html><body>Bad Gateway</body></html>", "<Error></Error>",
                           "<Error><Code>x</Code>", "not xml", "<Other><Code>x</Code></Other>"}) {
    EXPECT_EQ(parse_s3_error_body(text), std::nullopt) << text;
  }
}

}  // namespace
