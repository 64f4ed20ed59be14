#include "tests/integration/metrics_scraper.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <optional>
#include <regex>
#include <sstream>
#include <stdexcept>

namespace walstream::it {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

LoopbackConnection::LoopbackConnection(int port) {
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd_ < 0 || ::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    throw std::runtime_error("cannot connect to 127.0.0.1:" + std::to_string(port) + ": " +
                             std::strerror(errno));
  }
}

LoopbackConnection::~LoopbackConnection() {
  if (fd_ >= 0) ::close(fd_);
}

void LoopbackConnection::send(const std::string& bytes) {
  ASSERT_EQ(::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(bytes.size()));
}

std::optional<std::string> LoopbackConnection::read_to_end(std::chrono::milliseconds timeout) {
  std::string text;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return std::nullopt;
    pollfd poll_fd{fd_, POLLIN, 0};
    if (::poll(&poll_fd, 1, static_cast<int>(left.count())) <= 0) continue;
    char buffer[65536];
    const ssize_t n = ::recv(fd_, buffer, sizeof buffer, 0);
    if (n == 0) return text;
    if (n < 0) return errno == ECONNRESET ? std::optional<std::string>(text) : std::nullopt;
    text.append(buffer, static_cast<std::size_t>(n));
  }
}

HttpResponse http_request(int port, const std::string& method, const std::string& target) {
  LoopbackConnection connection(port);
  connection.send(method + " " + target +
                  " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
  const std::optional<std::string> text = connection.read_to_end(std::chrono::seconds(10));
  HttpResponse response;
  if (!text) {
    ADD_FAILURE() << method << " " << target << ": no complete response";
    return response;
  }
  const std::size_t end_of_head = text->find("\r\n\r\n");
  if (!text->starts_with("HTTP/1.1 ") || end_of_head == std::string::npos) {
    ADD_FAILURE() << method << " " << target << ": not an HTTP response: " << *text;
    return response;
  }
  response.status = std::stoi(text->substr(9, 3));
  response.head = text->substr(0, end_of_head);
  response.body = text->substr(end_of_head + 4);
  return response;
}

std::map<std::string, double> parse_metrics(const std::string& text) {
  static const std::regex sample(
      R"(^([a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*",?)*\})?) )"
      R"(([-+]?([0-9.]+([eE][-+]?[0-9]+)?|Inf)|NaN)$)");
  std::map<std::string, double> samples;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.starts_with("# HELP ") || line.starts_with("# TYPE ")) continue;
    std::smatch match;
    if (!std::regex_match(line, match, sample)) {
      ADD_FAILURE() << "not a sample line: \"" << line << "\"";
      continue;
    }
    samples[match[1]] = std::stod(match[5]);
  }
  if (!text.ends_with("\n")) ADD_FAILURE() << "the text does not end with a line feed";
  return samples;
}

std::map<std::string, double> Scraper::scrape() {
  const HttpResponse response = http_request(port_, "GET", "/metrics");
  EXPECT_EQ(response.status, 200) << response.head;
  EXPECT_THAT(response.head, HasSubstr("Content-Type: text/plain; version=0.0.4"));
  last_ = response.body;
  return parse_metrics(response.body);
}

double Scraper::value(const std::string& name) {
  const auto samples = scrape();
  const auto found = samples.find(name);
  if (found == samples.end()) {
    ADD_FAILURE() << "no " << name << " in\n" << last_;
    return -1;
  }
  return found->second;
}

int metrics_port(Process& receiver) {
  static const std::regex serving(R"(serving metrics on 127\.0\.0\.1:([0-9]+))");
  int port = 0;
  wait_until(
      [&] {
        std::smatch match;
        const std::string err = receiver.stderr_so_far();
        if (std::regex_search(err, match, serving)) port = std::stoi(match[1]);
        return port != 0 || !receiver.running();
      },
      30s);
  return port;
}

}  // namespace walstream::it
