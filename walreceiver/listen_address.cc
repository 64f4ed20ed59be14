#include "walreceiver/listen_address.h"

#include <charconv>

namespace walstream::walreceiver {

std::optional<ListenAddress> parse_listen_address(std::string_view text) {
  const std::size_t colon = text.rfind(':');
  if (colon == std::string_view::npos) return std::nullopt;
  std::string_view host = text.substr(0, colon);
  const std::string_view port_text = text.substr(colon + 1);

  unsigned port = 0;
  const auto [end, error] =
      std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (port_text.empty() || error != std::errc() || end != port_text.data() + port_text.size() ||
      port > 65535) {
    return std::nullopt;
  }

  if (host.starts_with('[')) {
    if (host.size() < 3 || !host.ends_with(']')) return std::nullopt;
    host = host.substr(1, host.size() - 2);
    if (host.find(':') == std::string_view::npos) return std::nullopt;  // [name] is not IPv6
  } else if (host.find(':') != std::string_view::npos) {
    return std::nullopt;  // IPv6 needs brackets: the port would be ambiguous
  }
  for (const char c : host) {
    const bool allowed = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                         (c >= '0' && c <= '9') || c == '.' || c == '-' || c == ':' || c == '%' ||
                         c == '_';
    if (!allowed) return std::nullopt;
  }
  ListenAddress address;
  address.host = host.empty() ? "0.0.0.0" : std::string(host);
  address.port = static_cast<std::uint16_t>(port);
  return address;
}

std::string to_string(const ListenAddress& address) {
  const bool v6 = address.host.find(':') != std::string::npos;
  return (v6 ? "[" + address.host + "]" : address.host) + ":" + std::to_string(address.port);
}

}  // namespace walstream::walreceiver
