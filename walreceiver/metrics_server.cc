#include "walreceiver/metrics_server.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <set>
#include <string_view>

#include "protocol/error.h"
#include "protocol/prometheus_text.h"

namespace walstream::walreceiver {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

struct MetricsServerState {
  explicit MetricsServerState(asio::any_io_executor executor) : acceptor(executor) {}
  tcp::acceptor acceptor;
  MetricsServer::Render render;
  MetricsServerLimits limits;
  bool stopped = false;
  // Open connections, closed by stop().
  std::set<beast::tcp_stream*> connections;
};

namespace {

// Registers a connection for its lifetime.
class Registered {
 public:
  Registered(MetricsServerState& state, beast::tcp_stream& stream)
      : state_(state), stream_(stream) {
    state_.connections.insert(&stream_);
  }
  ~Registered() { state_.connections.erase(&stream_); }
  Registered(const Registered&) = delete;
  Registered& operator=(const Registered&) = delete;

 private:
  MetricsServerState& state_;
  beast::tcp_stream& stream_;
};

tcp::endpoint resolve(const asio::any_io_executor& executor, const ListenAddress& address) {
  tcp::resolver resolver(executor);
  boost::system::error_code ec;
  const auto results =
      resolver.resolve(address.host, std::to_string(address.port),
                       tcp::resolver::passive | tcp::resolver::numeric_service, ec);
  if (ec || results.empty()) {
    throw Error(ErrorKind::kIo,
                "could not resolve the metrics address \"" + to_string(address) +
                    "\": " + (ec ? ec.message() : std::string("no address")),
                "give --metrics-listen a local address, such as 127.0.0.1:9187");
  }
  return results.begin()->endpoint();
}

std::string to_string(const tcp::endpoint& endpoint) {
  const std::string host = endpoint.address().to_string();
  return (endpoint.address().is_v6() ? "[" + host + "]" : host) + ":" +
         std::to_string(endpoint.port());
}

http::response<http::string_body> answer(const http::request<http::empty_body>& request,
                                         const MetricsServer::Render& render) {
  std::string_view target(request.target().data(), request.target().size());
  target = target.substr(0, target.find('?'));
  const bool head = request.method() == http::verb::head;

  http::response<http::string_body> response;
  response.version(request.version());
  response.set(http::field::server, "walstream");
  if (target != "/metrics") {
    response.result(http::status::not_found);
    response.set(http::field::content_type, "text/plain; charset=utf-8");
    response.body() = "not found: the metrics are at /metrics\n";
  } else if (request.method() != http::verb::get && !head) {
    response.result(http::status::method_not_allowed);
    response.set(http::field::allow, "GET, HEAD");
    response.set(http::field::content_type, "text/plain; charset=utf-8");
    response.body() = "use GET\n";
  } else {
    response.result(http::status::ok);
    const std::string_view type = protocol::kPrometheusTextContentType;
    response.set(http::field::content_type, beast::string_view(type.data(), type.size()));
    response.body() = render();
  }
  response.content_length(response.body().size());
  if (head) response.body().clear();  // the length of what GET would send, no body
  return response;
}

asio::awaitable<void> serve(std::shared_ptr<MetricsServerState> state, tcp::socket socket) {
  beast::tcp_stream stream(std::move(socket));
  const Registered registered(*state, stream);
  const MetricsServerLimits& limits = state->limits;
  try {
    // Holds what a client sent beyond one request (the next, with keep-alive).
    beast::flat_buffer buffer(limits.max_request_bytes);
    for (int served = 0; served < limits.max_requests_per_connection; ++served) {
      http::request_parser<http::empty_body> parser;
      parser.header_limit(static_cast<std::uint32_t>(limits.max_request_bytes));
      stream.expires_after(limits.io_timeout);
      co_await http::async_read(stream, buffer, parser, asio::use_awaitable);
      if (state->stopped) co_return;
      const http::request<http::empty_body>& request = parser.get();
      http::response<http::string_body> response = answer(request, state->render);
      const bool keep_alive =
          request.keep_alive() && served + 1 < limits.max_requests_per_connection;
      response.keep_alive(keep_alive);
      stream.expires_after(limits.io_timeout);
      co_await http::async_write(stream, response, asio::use_awaitable);
      if (!keep_alive) break;
    }
    boost::system::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
  } catch (const std::exception&) {
    // The client went away, was too slow, or sent what is not a small HTTP
    // request: drop the connection, nothing else is affected.
  }
}

asio::awaitable<void> accept(std::shared_ptr<MetricsServerState> state) {
  asio::steady_timer pause(state->acceptor.get_executor());
  for (;;) {
    boost::system::error_code ec;
    tcp::socket socket =
        co_await state->acceptor.async_accept(asio::redirect_error(asio::use_awaitable, ec));
    if (state->stopped || ec == asio::error::operation_aborted) co_return;
    if (ec) {
      // Out of descriptors, say: try again a little later rather than spin.
      pause.expires_after(std::chrono::milliseconds(100));
      co_await pause.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      continue;
    }
    if (state->connections.size() >= state->limits.max_connections) {
      socket.close(ec);
      continue;
    }
    asio::co_spawn(state->acceptor.get_executor(), serve(state, std::move(socket)), asio::detached);
  }
}

}  // namespace

MetricsServer::MetricsServer(asio::any_io_executor executor, const ListenAddress& address,
                             Render render, MetricsServerLimits limits)
    : state_(std::make_shared<MetricsServerState>(executor)) {
  state_->render = std::move(render);
  state_->limits = limits;
  const tcp::endpoint endpoint = resolve(executor, address);
  boost::system::error_code ec;
  tcp::acceptor& acceptor = state_->acceptor;
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    throw Error(
        ErrorKind::kIo,
        "could not listen for metrics on " + walreceiver::to_string(address) + ": " + ec.message(),
        "choose a free port with --metrics-listen (port 0 lets the system pick one)");
  }
}

MetricsServer::~MetricsServer() { stop(); }

std::string MetricsServer::local_address() const {
  boost::system::error_code ec;
  const tcp::endpoint endpoint = state_->acceptor.local_endpoint(ec);
  return ec ? std::string("?") : to_string(endpoint);
}

void MetricsServer::start() {
  asio::co_spawn(state_->acceptor.get_executor(), accept(state_), asio::detached);
}

void MetricsServer::stop() {
  if (state_->stopped) return;
  state_->stopped = true;
  boost::system::error_code ignored;
  state_->acceptor.close(ignored);
  for (beast::tcp_stream* stream : state_->connections) stream->close();
}

}  // namespace walstream::walreceiver
