#include "protocol/conninfo_secrets.h"

namespace walstream::protocol {
namespace {

constexpr std::string_view kUriPrefixes[] = {"postgresql://", "postgres://"};

bool is_secret_keyword(std::string_view keyword) {
  return keyword == "password" || keyword == "sslpassword";
}

// libpq skips what isspace() accepts in the C locale.
bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// %XX decoded; a malformed escape is kept as it is (the keyword then matches
// nothing, which is what libpq's refusal of it amounts to).
std::string percent_decode(std::string_view text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size()) {
      const int high = hex_value(text[i + 1]);
      const int low = hex_value(text[i + 2]);
      if (high >= 0 && low >= 0) {
        out.push_back(static_cast<char>(high * 16 + low));
        i += 2;
        continue;
      }
    }
    out.push_back(text[i]);
  }
  return out;
}

void add(std::vector<TextSpan>& spans, std::size_t begin, std::size_t end) {
  if (end > begin) spans.push_back({begin, end - begin});
}

// keyword = value pairs, as libpq's conninfo_parse reads them.
std::vector<TextSpan> keyword_value_secrets(std::string_view text) {
  std::vector<TextSpan> spans;
  std::size_t i = 0;
  const std::size_t n = text.size();
  while (i < n) {
    while (i < n && is_space(text[i])) ++i;
    if (i == n) break;
    const std::size_t keyword_start = i;
    while (i < n && text[i] != '=' && !is_space(text[i])) ++i;
    const std::string_view keyword = text.substr(keyword_start, i - keyword_start);
    while (i < n && is_space(text[i])) ++i;
    if (i == n) break;
    // libpq refuses a keyword without a value; the tokens after it are
    // still scanned, so that a secret among them is found all the same.
    if (text[i] != '=') continue;
    ++i;
    while (i < n && is_space(text[i])) ++i;
    const bool secret = is_secret_keyword(keyword);
    if (i < n && text[i] == '\'') {
      const std::size_t value_start = ++i;
      while (i < n && text[i] != '\'') i += (text[i] == '\\' && i + 1 < n) ? 2 : 1;
      if (secret) add(spans, value_start, i);
      if (i < n) ++i;  // the closing quote
    } else {
      const std::size_t value_start = i;
      while (i < n && !is_space(text[i])) i += (text[i] == '\\' && i + 1 < n) ? 2 : 1;
      if (secret) add(spans, value_start, i);
    }
  }
  return spans;
}

// postgresql://[user[:password]@][netloc][/dbname][?param=value&...], as
// libpq's conninfo_uri_parse_options reads it.
std::vector<TextSpan> uri_secrets(std::string_view text, std::size_t start) {
  std::vector<TextSpan> spans;
  std::size_t at = start;
  while (at < text.size() && text[at] != '@' && text[at] != '/') ++at;
  std::size_t netloc = start;
  if (at < text.size() && text[at] == '@') {
    const std::size_t colon = text.find(':', start);
    if (colon != std::string_view::npos && colon < at) add(spans, colon + 1, at);
    netloc = at + 1;
  }
  const std::size_t query = text.find('?', netloc);
  if (query == std::string_view::npos) return spans;
  std::size_t i = query + 1;
  while (i < text.size()) {
    std::size_t end = text.find('&', i);
    if (end == std::string_view::npos) end = text.size();
    const std::size_t equals = text.find('=', i);
    if (equals != std::string_view::npos && equals < end &&
        is_secret_keyword(percent_decode(text.substr(i, equals - i)))) {
      add(spans, equals + 1, end);
    }
    i = end + 1;
  }
  return spans;
}

}  // namespace

std::vector<TextSpan> secret_spans(std::string_view conninfo) {
  for (std::string_view prefix : kUriPrefixes) {
    if (conninfo.starts_with(prefix)) return uri_secrets(conninfo, prefix.size());
  }
  return keyword_value_secrets(conninfo);
}

std::string mask_secrets(std::string_view conninfo) {
  std::string masked(conninfo);
  for (const TextSpan& span : secret_spans(conninfo)) {
    masked.replace(span.offset, span.length, span.length, '*');
  }
  return masked;
}

std::string scrub_secrets(std::string text, std::string_view conninfo) {
  for (const TextSpan& span : secret_spans(conninfo)) {
    const std::string_view secret = conninfo.substr(span.offset, span.length);
    for (auto pos = text.find(secret); pos != std::string::npos; pos = text.find(secret, pos + 8)) {
      text.replace(pos, secret.size(), "********");
    }
  }
  return text;
}

}  // namespace walstream::protocol
