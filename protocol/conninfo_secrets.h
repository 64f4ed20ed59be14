// Where the secrets sit in the text of a libpq connection string (password,
// sslpassword), so that they can be blanked out where others read them (the
// command line, which every user sees in ps) or scrubbed from messages that
// quote the string. Both of libpq's grammars: keyword=value pairs (values bare
// or in single quotes, with backslash escapes) and postgresql:// URIs
// (user:password@ and ?password=). Text that does not parse is scanned as far
// as it goes; what it cannot place is left alone.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace walstream::protocol {

struct TextSpan {
  std::size_t offset = 0;
  std::size_t length = 0;
  bool operator==(const TextSpan&) const = default;
};

// The raw text of every secret value in `conninfo` (inside the quotes of a
// quoted value; still percent-encoded in a URI), in order. Empty values
// are not listed.
std::vector<TextSpan> secret_spans(std::string_view conninfo);

// `conninfo` with every byte of secret_spans() replaced by '*': same length,
// so it can overwrite the original in place, and it parses the same way.
std::string mask_secrets(std::string_view conninfo);

// `text` with every occurrence of each secret of `conninfo` (as written
// there) replaced by "********".
std::string scrub_secrets(std::string text, std::string_view conninfo);

}  // namespace walstream::protocol
