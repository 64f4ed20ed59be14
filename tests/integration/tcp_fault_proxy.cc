#include "tests/integration/tcp_fault_proxy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <optional>
#include <stdexcept>
#include <string_view>

namespace walstream::it {

namespace {

constexpr int kPollMs = 100;
constexpr std::size_t kMaxHead = 8192;

sockaddr_in loopback(int port) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  return address;
}

bool send_all(int fd, const char* data, std::size_t size) {
  while (size > 0) {
    const ssize_t n = ::send(fd, data, size, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data += n;
    size -= static_cast<std::size_t>(n);
  }
  return true;
}

}  // namespace

TcpFaultProxy::TcpFaultProxy(int upstream_port) : upstream_port_(upstream_port) {
  listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address = loopback(0);
  socklen_t length = sizeof address;
  if (listener_ < 0 ||
      ::bind(listener_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
      ::listen(listener_, 16) != 0 ||
      ::getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    if (listener_ >= 0) ::close(listener_);
    throw std::runtime_error("TcpFaultProxy: cannot listen on loopback");
  }
  port_ = ntohs(address.sin_port);
  acceptor_ = std::thread([this] { accept_loop(); });
}

TcpFaultProxy::~TcpFaultProxy() {
  stopping_ = true;
  if (acceptor_.joinable()) acceptor_.join();
  std::vector<std::thread> handlers;
  {
    std::lock_guard lock(mutex_);
    handlers.swap(handlers_);
  }
  for (auto& handler : handlers) handler.join();
  ::close(listener_);
}

void TcpFaultProxy::plan(std::vector<Plan> faults) {
  std::lock_guard lock(mutex_);
  planned_.assign(faults.begin(), faults.end());
}

std::vector<std::string> TcpFaultProxy::request_heads() {
  std::lock_guard lock(mutex_);
  return heads_;
}

void TcpFaultProxy::accept_loop() {
  while (!stopping_) {
    pollfd fd{listener_, POLLIN, 0};
    if (::poll(&fd, 1, kPollMs) <= 0) continue;
    const int client = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) continue;
    std::lock_guard lock(mutex_);
    std::optional<Plan> plan;
    if (!planned_.empty()) {
      plan = planned_.front();
      planned_.pop_front();
    }
    const std::size_t index = heads_.size();
    heads_.emplace_back();
    handlers_.emplace_back([this, client, plan, index] { handle(client, plan, index); });
  }
}

void TcpFaultProxy::handle(int client, std::optional<Plan> plan, std::size_t index) {
  const auto record = [&](const char* data, std::size_t size) {
    std::lock_guard lock(mutex_);
    std::string& head = heads_[index];
    head.append(data, std::min(size, kMaxHead - std::min(head.size(), kMaxHead)));
  };
  std::array<char, 65536> buffer{};

  if (plan && plan->fault == Fault::kAnswer503) {
    std::string head;
    while (!stopping_ && head.find("\r\n\r\n") == std::string::npos && head.size() < kMaxHead) {
      pollfd fd{client, POLLIN, 0};
      if (::poll(&fd, 1, kPollMs) <= 0) continue;
      const ssize_t n = ::recv(client, buffer.data(), buffer.size(), 0);
      if (n <= 0) break;
      head.append(buffer.data(), static_cast<std::size_t>(n));
      record(buffer.data(), static_cast<std::size_t>(n));
    }
    const std::string body =
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>SlowDown</Code>"
        "<Message>Please reduce your request rate.</Message></Error>";
    const std::string answer =
        "HTTP/1.1 503 Slow Down\r\nContent-Type: application/xml\r\n"
        "Content-Length: " +
        std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
    send_all(client, answer.data(), answer.size());
    ::shutdown(client, SHUT_RDWR);
    ::close(client);
    return;
  }

  const int upstream = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const sockaddr_in address = loopback(upstream_port_);
  if (upstream < 0 ||
      ::connect(upstream, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
    if (upstream >= 0) ::close(upstream);
    ::close(client);
    return;
  }
  const bool cutting = plan && plan->fault == Fault::kCutAnswerAfter;
  std::size_t answer_left = cutting ? plan->bytes : 0;
  bool open = true;
  while (open && !stopping_) {
    std::array<pollfd, 2> fds{pollfd{client, POLLIN, 0}, pollfd{upstream, POLLIN, 0}};
    if (::poll(fds.data(), fds.size(), kPollMs) <= 0) continue;
    for (int side = 0; side < 2 && open; ++side) {
      if ((fds[side].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
      const int from = side == 0 ? client : upstream;
      const int to = side == 0 ? upstream : client;
      const ssize_t n = ::recv(from, buffer.data(), buffer.size(), 0);
      if (n <= 0) {
        open = false;
        break;
      }
      std::size_t size = static_cast<std::size_t>(n);
      if (side == 0) record(buffer.data(), size);
      if (side == 1 && cutting) {
        // An interim "100 Continue" passes uncounted: the cut is in the
        // final answer, after the server has handled the request.
        const char* data = buffer.data();
        const std::string_view received(data, size);
        if (received.starts_with("HTTP/1.1 100 ")) {
          const auto end = received.find("\r\n\r\n");
          const std::size_t interim = end == std::string_view::npos ? size : end + 4;
          send_all(to, data, interim);
          data += interim;
          size -= interim;
          if (size == 0) continue;
        }
        size = std::min(size, answer_left);
        answer_left -= size;
        if (size > 0) send_all(to, data, size);
        if (answer_left == 0) open = false;
        continue;
      }
      if (!send_all(to, buffer.data(), size)) open = false;
    }
  }
  ::shutdown(client, SHUT_RDWR);
  ::close(client);
  ::close(upstream);
}

}  // namespace walstream::it
