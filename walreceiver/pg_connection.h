// A libpq connection driven by Boost.Asio: libpq stays in nonblocking mode and
// every wait is an async_wait on PQsocket readiness, so several connections
// share one io_context thread with no busy polling. All methods are
// coroutines meant to be co_awaited on that io_context; a connection is used
// by one coroutine at a time.
#pragma once

#include <libpq-fe.h>

#include <utility>  // before Asio: Boost 1.74 awaitable.hpp needs std::exchange

#include <boost/asio/awaitable.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "protocol/bytes.h"
#include "protocol/replication_commands.h"
#include "protocol/result_set.h"
#include "walreceiver/abort_signal.h"
#include "walreceiver/connection_options.h"
#include "walreceiver/copy_buffer.h"

namespace walstream::walreceiver {

namespace asio = boost::asio;

struct PgResultDeleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
using PgResult = std::unique_ptr<PGresult, PgResultDeleter>;

class PgConnection {
 public:
  // Connects (asking for a password if the server wants one and the options
  // allow it). Throws walstream::Error (kConnection) with the server's reason
  // and a hint. `abort` wakes this connection's waits when a command aborts.
  static asio::awaitable<std::unique_ptr<PgConnection>> connect(const ConnectionOptions& options,
                                                                AbortSignal& abort);
  ~PgConnection();
  PgConnection(const PgConnection&) = delete;
  PgConnection& operator=(const PgConnection&) = delete;

  PGconn* native() const { return conn_; }
  protocol::ServerVersion server_version() const;
  // The password the connection used, so errors can be scrubbed of it.
  const std::string& password() const { return password_; }

  // Runs a replication command and returns its last tuples result (empty for
  // commands that return none). Throws walstream::Error (kServer) with the
  // server's message, prefixed by `what` (e.g. "BASE_BACKUP").
  asio::awaitable<protocol::ResultSet> exec(const std::string& command, const std::string& what);

  // Sends START_REPLICATION. Returns true when the server entered COPY; false
  // when it answered without one (START_REPLICATION at the very end of a
  // historic timeline): `next_timeline` then holds the tuples it returned
  // (no rows when it returned none). Throws (kServer) for an error.
  asio::awaitable<bool> start_replication(const std::string& command,
                                          protocol::ResultSet* next_timeline);
  // Sends a command and waits for its first result only (for BASE_BACKUP,
  // whose result sets and COPY streams follow one another).
  asio::awaitable<void> send(const std::string& command);
  // The next result of the running command; nullptr when the command is done.
  asio::awaitable<PgResult> next_result();
  // Reads the results of a command from `first` on and returns its last
  // tuples (no rows when it returned none). A server error is thrown only
  // after the last result, so the connection takes the next command.
  asio::awaitable<protocol::ResultSet> read_results(PgResult first, const std::string& what);
  // Converts a result to plain values; throws (kServer) for an error result.
  protocol::ResultSet to_result_set(const PgResult& result, const std::string& what) const;

  // One CopyData message if libpq has a complete one buffered or the socket
  // already holds one, without waiting. nullopt: none arrived yet. Sets *copy_done when the server
  // ended the COPY.
  std::optional<CopyBuffer> try_read_copy(bool* copy_done);
  // Waits for the next CopyData message; nullopt when the COPY has ended.
  asio::awaitable<std::optional<CopyBuffer>> read_copy();

  // Waits until the socket is readable, `deadline` passes, or wake() is
  // called; then reads what arrived into libpq's buffer.
  asio::awaitable<void> wait_readable(std::chrono::steady_clock::time_point deadline);
  // Ends the current wait early (from another coroutine on the same thread).
  void wake();

  asio::awaitable<void> put_copy_data(ByteView data);
  asio::awaitable<void> put_copy_end();

 private:
  PgConnection(PGconn* conn, std::string password, AbortSignal& abort);
  asio::awaitable<void> wait(asio::posix::stream_descriptor::wait_type type,
                             std::optional<std::chrono::steady_clock::time_point> deadline);
  void arm_timer(const asio::any_io_executor& executor,
                 std::chrono::steady_clock::time_point deadline);
  void disarm_when_idle(const asio::any_io_executor& executor);
  asio::awaitable<void> flush_output();
  void consume_input();
  [[noreturn]] void throw_connection_error(const std::string& what) const;

  PGconn* conn_;
  std::string password_;
  AbortSignal& abort_;
  int waker_id_ = 0;
  std::unique_ptr<asio::posix::stream_descriptor> socket_;
  // Wakes a wait at its deadline. It stays armed between consecutive waits
  // (re-arming it for each cost system calls) and is cancelled once no wait
  // follows, so it never keeps the io_context running.
  struct DeadlineTimer {
    std::unique_ptr<asio::steady_timer> timer;
    std::optional<std::chrono::steady_clock::time_point> armed;
    bool fired = false;
    bool waiting = false;
  };
  std::shared_ptr<DeadlineTimer> deadline_ = std::make_shared<DeadlineTimer>();
};

// The rows of a PGRES_TUPLES_OK result, values as the server sent them.
protocol::ResultSet tuples_of(const PGresult* result);

}  // namespace walstream::walreceiver
