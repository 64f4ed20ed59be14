// A TCP proxy on loopback in front of a real server that breaks the first
// connections in planned ways (answers 503 itself, or cuts the server's
// answer after some bytes) and forwards the later ones untouched: the
// network failures a client must survive, with the real server behind.
#pragma once

#include <atomic>
#include <cstddef>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace walstream::it {

class TcpFaultProxy {
 public:
  enum class Fault {
    // Reads the request head, answers 503 SlowDown (an S3 error body) and
    // closes; the server never sees the request.
    kAnswer503,
    // Forwards both ways until `bytes` of the server's answer (after any
    // interim 100 Continue) have reached the client, then closes both sides.
    // 0: the server handles the request and its answer is lost.
    kCutAnswerAfter,
  };
  struct Plan {
    Fault fault;
    std::size_t bytes = 0;
  };

  // Listens on a free loopback port; forwards to 127.0.0.1:upstream_port.
  explicit TcpFaultProxy(int upstream_port);
  ~TcpFaultProxy();
  TcpFaultProxy(const TcpFaultProxy&) = delete;
  TcpFaultProxy& operator=(const TcpFaultProxy&) = delete;

  // The faults of the next connections, one each, in order.
  void plan(std::vector<Plan> faults);
  int port() const { return port_; }
  // The first bytes the client sent on each connection so far (its first
  // request's head), in order of arrival.
  std::vector<std::string> request_heads();

 private:
  void accept_loop();
  void handle(int client, std::optional<Plan> plan, std::size_t index);

  int upstream_port_;
  int listener_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread acceptor_;
  std::mutex mutex_;
  std::deque<Plan> planned_;
  std::vector<std::string> heads_;
  std::vector<std::thread> handlers_;
};

}  // namespace walstream::it
