// A small HTTP server for Prometheus: GET /metrics answers with the text a
// render function returns; any other path is 404. It runs on the io_context
// of the WAL stream it describes, so it reads the statistics without locks,
// and never makes that stream wait: every socket operation is asynchronous
// and time-limited (a scraper that stops reading or sends half a request is
// dropped after a few seconds), requests are small and bounded, and so is
// the number of connections.
//
// Boost.Beast is used only in metrics_server.cc (it is heavy to compile).
#pragma once

#include <utility>  // before Asio: Boost 1.74 awaitable.hpp needs std::exchange

#include <boost/asio/any_io_executor.hpp>
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include "walreceiver/listen_address.h"

namespace walstream::walreceiver {

namespace asio = boost::asio;

struct MetricsServerLimits {
  // A request (line and headers) larger than this is refused.
  std::size_t max_request_bytes = 8192;
  // How long a connection may take to send a whole request (also the idle
  // time allowed between keep-alive requests) and to take the response.
  std::chrono::milliseconds io_timeout{5000};
  // Connections beyond this are closed at once.
  std::size_t max_connections = 16;
  // Requests served on one keep-alive connection before it is closed.
  int max_requests_per_connection = 100;
};

struct MetricsServerState;

class MetricsServer {
 public:
  // The text of GET /metrics (called on the io_context's thread).
  using Render = std::function<std::string()>;

  // Resolves `address` and listens on it now. Throws walstream::Error (kIo)
  // naming the address when it cannot (in use, not local, not resolvable).
  MetricsServer(asio::any_io_executor executor, const ListenAddress& address, Render render,
                MetricsServerLimits limits = {});
  // Stops (as stop()).
  ~MetricsServer();
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  // The address it listens on, with the port the system chose for port 0:
  // "127.0.0.1:9187", "[::1]:9187".
  std::string local_address() const;

  // Starts accepting (on the executor).
  void start();
  // Closes the listening socket and every connection; the io_context then
  // has no more work from this server.
  void stop();

 private:
  std::shared_ptr<MetricsServerState> state_;
};

}  // namespace walstream::walreceiver
