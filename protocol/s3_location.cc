#include "protocol/s3_location.h"

#include <algorithm>
#include <cstdint>
#include <vector>

#include "protocol/error.h"
#include "protocol/hex.h"
#include "protocol/quote_untrusted.h"

namespace walstream::protocol {
namespace {

constexpr std::size_t kMinBucketLength = 3;
constexpr std::size_t kMaxBucketLength = 63;
constexpr std::string_view kLocationHint =
    "give the archive as s3://BUCKET/PREFIX, e.g. s3://wal/db1";
// Reserved by S3 for access points, object lambdas and directory buckets.
constexpr std::string_view kReservedBucketPrefixes[] = {"xn--", "sthree-", "amzn-s3-demo-"};
constexpr std::string_view kReservedBucketSuffixes[] = {"-s3alias", "--ol-s3", "--x-s3",
                                                        "--table-s3"};

[[noreturn]] void invalid(std::string_view url, const std::string& why,
                          std::string_view hint = kLocationHint) {
  throw Error(ErrorKind::kUsage, "invalid S3 location " + quote_untrusted(url) + ": " + why,
              std::string(hint));
}

bool is_lower_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

bool is_alnum(char c) { return is_lower_alnum(c) || (c >= 'A' && c <= 'Z'); }

// Four dot-separated groups of 1-3 digits: S3 refuses such names.
bool looks_like_ipv4(std::string_view name) {
  int groups = 0;
  std::size_t start = 0;
  for (;;) {
    const std::size_t dot = name.find('.', start);
    const std::string_view group = name.substr(start, dot - start);
    if (group.empty() || group.size() > 3 ||
        !std::all_of(group.begin(), group.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      return false;
    }
    ++groups;
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return groups == 4;
}

void check_bucket(std::string_view url, std::string_view bucket) {
  constexpr std::string_view kBucketHint =
      "bucket names have 3 to 63 lower-case letters, digits, '.' or '-', and begin and end "
      "with a letter or digit";
  if (bucket.empty()) invalid(url, "no bucket name", kLocationHint);
  if (bucket.size() < kMinBucketLength || bucket.size() > kMaxBucketLength) {
    invalid(url, "the bucket name is not 3 to 63 characters long", kBucketHint);
  }
  for (char c : bucket) {
    if (!is_lower_alnum(c) && c != '.' && c != '-') {
      invalid(url, "the bucket name has the character " + quote_untrusted(std::string_view(&c, 1)),
              kBucketHint);
    }
  }
  if (!is_lower_alnum(bucket.front()) || !is_lower_alnum(bucket.back())) {
    invalid(url, "the bucket name must begin and end with a letter or digit", kBucketHint);
  }
  if (bucket.find("..") != std::string_view::npos) {
    invalid(url, "the bucket name has two adjacent periods", kBucketHint);
  }
  if (looks_like_ipv4(bucket)) {
    invalid(url, "the bucket name is formatted as an IP address", kBucketHint);
  }
  for (std::string_view reserved : kReservedBucketPrefixes) {
    if (bucket.starts_with(reserved)) {
      invalid(url, "bucket names starting with " + quote_untrusted(reserved) + " are reserved",
              kBucketHint);
    }
  }
  for (std::string_view reserved : kReservedBucketSuffixes) {
    if (bucket.ends_with(reserved)) {
      invalid(url, "bucket names ending with " + quote_untrusted(reserved) + " are reserved",
              kBucketHint);
    }
  }
}

bool is_prefix_character(char c) {
  return is_alnum(c) || std::string_view("-_.!*'()=").find(c) != std::string_view::npos;
}

// Checks the path after the bucket and returns it with exactly one trailing
// '/' (or empty).
std::string normalize_prefix(std::string_view url, std::string_view path) {
  constexpr std::string_view kPrefixHint =
      "a prefix is made of letters, digits and - _ . ! * ' ( ) = separated by single '/'";
  if (path.starts_with('/')) invalid(url, "the prefix has an empty segment (\"//\")", kPrefixHint);
  if (path.ends_with('/')) path.remove_suffix(1);
  if (path.empty()) return {};
  if (path.size() > kMaxS3PrefixLength) {
    invalid(url, "the prefix is longer than " + std::to_string(kMaxS3PrefixLength) + " bytes",
            kPrefixHint);
  }
  std::size_t start = 0;
  for (;;) {
    const std::size_t slash = path.find('/', start);
    const std::string_view segment = path.substr(start, slash - start);
    if (segment.empty()) invalid(url, "the prefix has an empty segment (\"//\")", kPrefixHint);
    if (segment == "." || segment == "..") {
      invalid(url, "the prefix has a " + quote_untrusted(segment) + " segment", kPrefixHint);
    }
    for (char c : segment) {
      if (!is_prefix_character(c)) {
        invalid(url, "the prefix has the character " + quote_untrusted(std::string_view(&c, 1)),
                kPrefixHint);
      }
    }
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  return std::string(path) + "/";
}

bool is_uploaded(WalFileKind kind) {
  return kind == WalFileKind::kSegment || kind == WalFileKind::kCompressedSegment ||
         kind == WalFileKind::kHistory;
}

}  // namespace

bool is_s3_url(std::string_view text) { return text.starts_with(kS3Scheme); }

S3Location parse_s3_location(std::string_view url) {
  if (!is_s3_url(url)) invalid(url, "it does not start with \"s3://\"");
  const std::string_view rest = url.substr(kS3Scheme.size());
  const std::size_t slash = rest.find('/');
  S3Location location;
  const std::string_view bucket = rest.substr(0, slash);
  check_bucket(url, bucket);
  location.bucket = std::string(bucket);
  if (slash != std::string_view::npos)
    location.prefix = normalize_prefix(url, rest.substr(slash + 1));
  return location;
}

std::string to_string(const S3Location& location) {
  std::string out = std::string(kS3Scheme) + location.bucket;
  if (!location.prefix.empty()) {
    out += '/';
    out += std::string_view(location.prefix).substr(0, location.prefix.size() - 1);
  }
  return out;
}

std::optional<std::string> s3_archive_key(const S3Location& location, std::string_view name) {
  const auto file = parse_wal_file_name(name, kAnySegmentSize);
  if (!file || !is_uploaded(file->kind)) return std::nullopt;
  return location.prefix + std::string(name);
}

std::optional<std::string> s3_archive_file_name(const S3Location& location, std::string_view key) {
  if (!key.starts_with(location.prefix)) return std::nullopt;
  const std::string_view name = key.substr(location.prefix.size());
  const auto file = parse_wal_file_name(name, kAnySegmentSize);
  if (!file || !is_uploaded(file->kind)) return std::nullopt;
  return std::string(name);
}

std::string s3_uri_encode(std::string_view text, bool keep_slash) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    if (is_alnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || (keep_slash && c == '/')) {
      out += c;
    } else {
      out += '%';
      out += format_hex(static_cast<unsigned char>(c), 2);
    }
  }
  return out;
}

}  // namespace walstream::protocol
