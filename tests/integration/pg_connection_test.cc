// walreceiver::PgConnection against a real server, for what only the timing
// of real sockets shows.
#include "walreceiver/pg_connection.h"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <exception>
#include <memory>
#include <thread>

#include "tests/integration/test_env.h"
#include "tests/integration/wal_archive.h"
#include "walreceiver/abort_signal.h"
#include "walreceiver/connection_options.h"

namespace walstream::it {
namespace {

namespace asio = boost::asio;
using walreceiver::AbortSignal;
using walreceiver::ConnectionOptions;
using walreceiver::PgConnection;

// A wait whose deadline passes in the same poll of the reactor as the
// server's answer arrives: the socket's completion resumes the waiter first,
// which then destroys the connection while the timer's completion is still
// queued. That completion must not touch the connection (it did: a receive
// reconnecting after a lost connection died with "cancel: Bad file
// descriptor", a use after free).
TEST(PgConnectionTest, ADeadlineDueWithTheAnswerDoesNotOutliveTheConnection) {
  auto primary = start_primary("pgconn_primary");
  ConnectionOptions options;
  options.conninfo = "host=127.0.0.1 port=" + std::to_string(primary->port()) +
                     " user=r password=" + kPassword + " connect_timeout=30";
  options.never_prompt = true;

  for (int round = 0; round < 20; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    asio::io_context io(1);
    AbortSignal abort;
    std::exception_ptr failure;
    bool answered = false;
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
          std::unique_ptr<PgConnection> conn = co_await PgConnection::connect(options, abort);
          co_await conn->send("IDENTIFY_SYSTEM");
          const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(5);
          // Holds the io thread while the answer arrives and the deadline
          // passes: the next poll reports both.
          asio::post(io, [] { std::this_thread::sleep_for(std::chrono::milliseconds(100)); });
          co_await conn->wait_readable(deadline);
          answered = true;
          conn.reset();
        },
        [&](std::exception_ptr error) { failure = error; });
    try {
      io.run();
    } catch (const std::exception& error) {
      FAIL() << "a completion ran after the connection was gone: " << error.what();
    }
    if (failure) {
      try {
        std::rethrow_exception(failure);
      } catch (const std::exception& error) {
        FAIL() << error.what();
      }
    }
    ASSERT_TRUE(answered);
  }
}

}  // namespace
}  // namespace walstream::it
