// Fuzz target for S3 locations and archive keys (protocol/s3_location.h).
// Input: a length byte and that many bytes of location text (as given on a
// command line; "s3://" is put in front when the first of them is odd, so
// that most inputs get past the scheme), then a file or key name (the rest).
// A location that parses must keep the header's promises (bucket and prefix
// rules) and read back the same from its canonical text, which differs from
// the input by at most a trailing '/'; one that does not must be refused as a
// usage error of one printable line. Archive keys must map back to their
// names, keys of other files to nothing, and the percent-encoding of any
// bytes must decode back to them using only unreserved characters.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "protocol/error.h"
#include "protocol/s3_location.h"
#include "tests/fuzz/fuzz_support.h"

namespace {

using walstream::fuzz::check;
using walstream::fuzz::FuzzInput;
using namespace walstream::protocol;

bool is_unreserved(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_' || c == '.' || c == '~';
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

void check_location(const S3Location& location, std::string_view url) {
  check(is_s3_url(url));
  const std::string& bucket = location.bucket;
  check(bucket.size() >= 3 && bucket.size() <= 63);
  for (char c : bucket)
    check((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-');
  check(bucket.find("..") == std::string::npos);
  const std::string& prefix = location.prefix;
  if (!prefix.empty()) {
    check(prefix.back() == '/' && prefix.front() != '/');
    check(prefix.find("//") == std::string::npos);
    check(("/" + prefix).find("/../") == std::string::npos);
    check(("/" + prefix).find("/./") == std::string::npos);
    check(prefix.size() <= kMaxS3PrefixLength + 1);
  }
  const std::string canonical = to_string(location);
  check(canonical == url || canonical + "/" == url);
  check(parse_s3_location(canonical) == location);
}

void check_keys(const S3Location& location, std::string_view name) {
  const std::optional<std::string> key = s3_archive_key(location, name);
  if (key) {
    check(*key == location.prefix + std::string(name));
    check(s3_archive_file_name(location, *key) == std::string(name));
  }
  // Read as a listed key: a file name comes back only for prefix + name.
  const std::optional<std::string> file = s3_archive_file_name(location, name);
  if (file) check(s3_archive_key(location, *file) == std::string(name));
}

void check_encoding(std::string_view text, bool keep_slash) {
  const std::string encoded = s3_uri_encode(text, keep_slash);
  std::string decoded;
  for (std::size_t i = 0; i < encoded.size(); ++i) {
    const char c = encoded[i];
    if (c == '%') {
      check(i + 2 < encoded.size());
      const int high = hex_digit(encoded[i + 1]);
      const int low = hex_digit(encoded[i + 2]);
      check(high >= 0 && low >= 0);
      decoded += static_cast<char>(high * 16 + low);
      i += 2;
    } else {
      check(is_unreserved(c) || (keep_slash && c == '/'));
      decoded += c;
    }
  }
  check(decoded == text);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzInput input(data, size);
  std::string url = input.text();
  if (!url.empty() && (static_cast<unsigned char>(url.front()) & 1) != 0) {
    url = std::string(kS3Scheme) + url.substr(1);
  }
  const std::string_view name = input.rest_text();

  std::optional<S3Location> location;
  try {
    location = parse_s3_location(url);
  } catch (const walstream::Error& error) {
    walstream::fuzz::check_error(error, walstream::ErrorKind::kUsage);
    check(!error.hint().empty());
  }
  if (location) {
    check_location(*location, url);
  } else {
    location = S3Location{"wal", "db1/"};
  }
  check_keys(*location, name);
  check_encoding(url, false);
  check_encoding(name, true);
  return 0;
}
