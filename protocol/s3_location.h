// A WAL archive in an S3 bucket: the `s3://BUCKET/PREFIX` a user gives, and
// the object keys of the archive's files under it. Keys are the archive
// directory's file names after the prefix (PREFIX/000000010000000000000003.zst,
// PREFIX/00000002.history); what only lives in a directory while being written
// (.partial, the .tmp names, archive_status) is never uploaded. Also the
// percent-encoding of keys and query values in request URLs.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "protocol/wal_file_names.h"

namespace walstream::protocol {

struct S3Location {
  std::string bucket;
  // Empty (the whole bucket) or ending in '/': "site-a/wal/". Never starts
  // with '/', never holds an empty, "." or ".." segment.
  std::string prefix;

  bool operator==(const S3Location&) const = default;
};

inline constexpr std::string_view kS3Scheme = "s3://";
// S3's limit on a key is 1024 bytes; a prefix leaves room for the names.
inline constexpr std::size_t kMaxS3PrefixLength = 960;

// True when `text` names an S3 location rather than a directory (starts with
// "s3://"); parse_s3_location then says whether it is a valid one.
bool is_s3_url(std::string_view text);

// Parses "s3://BUCKET", "s3://BUCKET/" or "s3://BUCKET/PREFIX[/]". The bucket
// follows S3's naming rules (3-63 characters: lower-case letters, digits,
// '.', '-'; a letter or digit at each end; no "..", not an IPv4 address, none
// of the reserved prefixes and suffixes); the prefix is made of letters,
// digits and - _ . ! * ' ( ) = separated by single '/'. Throws
// walstream::Error (kUsage, with a hint) for anything else.
S3Location parse_s3_location(std::string_view url);

// "s3://BUCKET/PREFIX" as parse_s3_location reads it back (no trailing '/'
// after a non-empty prefix: "s3://b/wal", "s3://b").
std::string to_string(const S3Location& location);

// The key of archive file `name` (a segment, NAME.zst, or a timeline
// history, as named in a directory archive): prefix + name. nullopt for the
// files that are never uploaded (.partial, .zst.tmp, .history.tmp,
// archive_status/) and anything that is not a WAL archive file name.
std::optional<std::string> s3_archive_key(const S3Location& location, std::string_view name);

// The other way: the archive file a listed key stands for (its name after
// the prefix, which must be one s3_archive_key would make). nullopt for keys
// outside the prefix, in "subdirectories" below it, or of other files.
// Parsed with kAnySegmentSize: only the kind and timeline are meaningful
// until the segment size is known.
std::optional<std::string> s3_archive_file_name(const S3Location& location, std::string_view key);

// RFC 3986 percent-encoding as S3 and SigV4 expect it: everything except
// A-Z a-z 0-9 - _ . ~ becomes %XX (upper-case hex), and '/' too unless
// `keep_slash` (a key in a URL path keeps its slashes; a query value does
// not).
std::string s3_uri_encode(std::string_view text, bool keep_slash);

}  // namespace walstream::protocol
