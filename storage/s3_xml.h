// The two XML documents the S3 client reads: a ListObjectsV2 page and an
// error body. Parsed with expat (no DTD, no entities beyond XML's five), and
// untrusted: sizes are checked, text quoted where it reaches a message.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace walstream::storage {

struct S3ListedObject {
  std::string key;
  std::uint64_t size = 0;
  std::string etag;  // as listed, quotes included

  bool operator==(const S3ListedObject&) const = default;
};

struct S3ListPage {
  std::vector<S3ListedObject> objects;
  bool is_truncated = false;
  std::string next_continuation_token;  // set when truncated
};

// A <ListBucketResult>. Throws walstream::Error (kProtocol) for malformed
// XML, another root element, an object without a key or with a size that is
// not a number, or a truncated page without a continuation token.
S3ListPage parse_s3_list_page(std::string_view xml);

struct S3ErrorBody {
  std::string code;     // "SignatureDoesNotMatch", "NoSuchKey", ...
  std::string message;  // may be empty
};

// The <Error><Code/><Message/></Error> of a failed request; nullopt for a
// body that is not such a document (empty, HTML from a proxy, ...).
std::optional<S3ErrorBody> parse_s3_error_body(std::string_view xml);

}  // namespace walstream::storage
