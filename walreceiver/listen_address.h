// Where a server listens, as the command line gives it: HOST:PORT.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace walstream::walreceiver {

struct ListenAddress {
  std::string host;  // a name, an IPv4 address or an IPv6 address (no brackets)
  std::uint16_t port = 0;
};

// "127.0.0.1:9187", "localhost:9187", "[::1]:9187", ":9187" (every IPv4
// interface: host 0.0.0.0); port 0 lets the system pick one. nullopt for
// anything else (no port, a port above 65535, an IPv6 address without
// brackets, spaces).
std::optional<ListenAddress> parse_listen_address(std::string_view text);

// "127.0.0.1:9187", "[::1]:9187".
std::string to_string(const ListenAddress& address);

}  // namespace walstream::walreceiver
