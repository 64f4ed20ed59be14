#include "protocol/quote_untrusted.h"

#include "protocol/hex.h"

namespace walstream::protocol {
namespace {

constexpr std::size_t kMaxQuotedLength = 200;

}  // namespace

std::string quote_untrusted(std::string_view text) {
  std::string out = "\"";
  for (std::size_t i = 0; i < text.size() && i < kMaxQuotedLength; ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      out += "\\x" + to_hex(c);
    }
  }
  if (text.size() > kMaxQuotedLength) out += "...";
  out += '"';
  return out;
}

}  // namespace walstream::protocol
