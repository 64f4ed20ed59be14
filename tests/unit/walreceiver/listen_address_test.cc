#include "walreceiver/listen_address.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>

namespace walstream::walreceiver {
namespace {

struct Case {
  std::string text;
  std::optional<std::string> host;  // nullopt: refused
  std::uint16_t port = 0;
};

TEST(ListenAddressTest, Parse) {
  const Case cases[] = {
      {"127.0.0.1:9187", "127.0.0.1", 9187},
      {"127.0.0.1:0", "127.0.0.1", 0},
      {"localhost:65535", "localhost", 65535},
      {"[::1]:9187", "::1", 9187},
      {"[fe80::1%eth0]:80", "fe80::1%eth0", 80},
      {":9187", "0.0.0.0", 9187},
      {"metrics-host.example:1", "metrics-host.example", 1},
      {"127.0.0.1", std::nullopt},
      {"127.0.0.1:", std::nullopt},
      {"127.0.0.1:65536", std::nullopt},
      {"127.0.0.1:-1", std::nullopt},
      {"127.0.0.1:91x", std::nullopt},
      {"127.0.0.1: 91", std::nullopt},
      {"::1:9187", std::nullopt},
      {"[::1]", std::nullopt},
      {"[]:9187", std::nullopt},
      {"[localhost]:9187", std::nullopt},
      {"bad host:9187", std::nullopt},
      {"", std::nullopt},
  };
  for (const auto& c : cases) {
    const auto parsed = parse_listen_address(c.text);
    if (!c.host) {
      EXPECT_FALSE(parsed) << c.text;
      continue;
    }
    ASSERT_TRUE(parsed) << c.text;
    EXPECT_EQ(parsed->host, *c.host) << c.text;
    EXPECT_EQ(parsed->port, c.port) << c.text;
  }
}

TEST(ListenAddressTest, Format) {
  EXPECT_EQ(to_string(ListenAddress{"127.0.0.1", 9187}), "127.0.0.1:9187");
  EXPECT_EQ(to_string(ListenAddress{"::1", 80}), "[::1]:80");
}

}  // namespace
}  // namespace walstream::walreceiver
