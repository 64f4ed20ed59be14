// A scraper of `walstream receive --metrics-listen`: plain HTTP over a socket,
// as Prometheus would ask, and a strict parse of the text format.
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>

#include "tests/integration/test_env.h"

namespace walstream::it {

// A TCP connection to 127.0.0.1:port (closed when destroyed); throws
// std::runtime_error when it cannot connect.
class LoopbackConnection {
 public:
  explicit LoopbackConnection(int port);
  ~LoopbackConnection();
  LoopbackConnection(const LoopbackConnection&) = delete;
  LoopbackConnection& operator=(const LoopbackConnection&) = delete;

  void send(const std::string& bytes);
  // Everything until the server closes the connection (nullopt if it has
  // not within `timeout`).
  std::optional<std::string> read_to_end(std::chrono::milliseconds timeout);

 private:
  int fd_ = -1;
};

struct HttpResponse {
  int status = 0;
  std::string head;
  std::string body;
};

// One request to 127.0.0.1:port with Connection: close; a failed or
// malformed answer is a test failure (and an empty response).
HttpResponse http_request(int port, const std::string& method, const std::string& target);

// Every sample of a /metrics text, by `name{labels}`. Every line must be a
// HELP or TYPE comment or a `name{labels} value` sample with a number.
std::map<std::string, double> parse_metrics(const std::string& text);

class Scraper {
 public:
  explicit Scraper(int port) : port_(port) {}
  // The samples of one GET /metrics (empty when it failed).
  std::map<std::string, double> scrape();
  // One sample's value; -1 (and a test failure) when it is missing.
  double value(const std::string& name);
  const std::string& last() const { return last_; }

 private:
  int port_;
  std::string last_;
};

// The port of "serving metrics on 127.0.0.1:PORT" in the receiver's log; 0
// when it never said so within 30 s.
int metrics_port(Process& receiver);

}  // namespace walstream::it
