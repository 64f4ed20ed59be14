#include "walreceiver/pg_connection.h"

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <exception>

#include "protocol/error.h"

namespace walstream::walreceiver {

using StreamDescriptor = asio::posix::stream_descriptor;

PgConnection::PgConnection(PGconn* conn, std::string password, AbortSignal& abort)
    : conn_(conn), password_(std::move(password)), abort_(abort) {
  waker_id_ = abort_.add_waker([this] { wake(); });
}

PgConnection::~PgConnection() {
  abort_.remove_waker(waker_id_);
  // libpq owns the socket: unregister it from Asio without closing it.
  if (socket_) socket_->release();
  PQfinish(conn_);
}

asio::awaitable<std::unique_ptr<PgConnection>> PgConnection::connect(
    const ConnectionOptions& options, AbortSignal& abort) {
  std::string password;
  if (options.force_prompt && options.password_prompt) {
    if (auto typed = options.password_prompt()) password.assign(*typed);
  }
  for (;;) {
    Keywords keywords = replication_keywords(options, password);
    const KeywordArrays arrays(keywords);
    PGconn* raw =
        PQconnectStartParams(arrays.keys.data(), arrays.values.data(), /*expand_dbname=*/0);
    if (raw == nullptr) throw Error(ErrorKind::kInternal, "out of memory while connecting");
    std::unique_ptr<PgConnection> conn(new PgConnection(raw, password, abort));

    bool connected = PQstatus(raw) != CONNECTION_BAD;
    while (connected) {
      PostgresPollingStatusType state = PQconnectPoll(raw);
      if (state == PGRES_POLLING_OK) break;
      if (state == PGRES_POLLING_FAILED) {
        connected = false;
        break;
      }
      co_await conn->wait(state == PGRES_POLLING_READING ? StreamDescriptor::wait_read
                                                         : StreamDescriptor::wait_write,
                          std::nullopt);
    }
    if (!connected) {
      bool may_ask = PQconnectionNeedsPassword(raw) && password.empty() && !options.never_prompt &&
                     options.password_prompt;
      if (may_ask) {
        if (auto typed = options.password_prompt()) {
          password.assign(*typed);
          continue;
        }
      }
      conn->throw_connection_error("could not connect");
    }
    if (PQsetnonblocking(raw, 1) != 0)
      conn->throw_connection_error("could not set nonblocking mode");
    co_return conn;
  }
}

protocol::ServerVersion PgConnection::server_version() const {
  return protocol::ServerVersion{PQserverVersion(conn_)};
}

void PgConnection::throw_connection_error(const std::string& what) const {
  const char* user = PQuser(conn_);
  Diagnosis d = diagnose_server_message(PQerrorMessage(conn_), user ? user : "", password_);
  throw Error(ErrorKind::kConnection, what + ": " + d.message, d.hint);
}

asio::awaitable<void> PgConnection::wait(
    StreamDescriptor::wait_type type,
    std::optional<std::chrono::steady_clock::time_point> deadline) {
  abort_.throw_if_aborted();
  int fd = PQsocket(conn_);
  if (fd < 0) throw_connection_error("connection to the server was lost");
  auto executor = co_await asio::this_coro::executor;
  // libpq may switch sockets while connecting (several hosts, SSL retries).
  if (!socket_ || socket_->native_handle() != fd) {
    if (socket_) socket_->release();
    socket_.reset();  // none released left behind if the next line throws
    socket_ = std::make_unique<StreamDescriptor>(executor, fd);
  }
  for (;;) {
    if (deadline) {
      if (std::chrono::steady_clock::now() >= *deadline) co_return;
      // The timer is re-armed only for an earlier deadline: moving it for
      // every wait cost two system calls per message batch. One armed for a
      // later deadline than the caller's fires first and is looped over here.
      if (!deadline_->armed || *deadline < *deadline_->armed) arm_timer(executor, *deadline);
    }
    deadline_->fired = false;
    deadline_->waiting = true;
    boost::system::error_code ec;
    co_await socket_->async_wait(type, asio::redirect_error(asio::use_awaitable, ec));
    deadline_->waiting = false;
    disarm_when_idle(executor);
    abort_.throw_if_aborted();
    if (ec && ec != asio::error::operation_aborted) {
      throw Error(ErrorKind::kConnection, "waiting for the server failed: " + ec.message());
    }
    if (!deadline_->fired) co_return;  // readable, or woken by another coroutine
    if (!deadline || std::chrono::steady_clock::now() >= *deadline) co_return;
  }
}

void PgConnection::arm_timer(const asio::any_io_executor& executor,
                             std::chrono::steady_clock::time_point deadline) {
  if (!deadline_->timer) deadline_->timer = std::make_unique<asio::steady_timer>(executor);
  deadline_->armed = deadline;
  deadline_->timer->expires_at(deadline);  // a pending wait ends with operation_aborted
  // The handler may already be queued (the timer expired in the same poll
  // as the socket became ready) when the waiter resumes and destroys this
  // connection: destroying the timer cancels nothing then, and the handler
  // runs with success. The state it owns tells it whether `this` still is.
  deadline_->timer->async_wait(
      [this, state = std::weak_ptr<DeadlineTimer>(deadline_)](boost::system::error_code ec) {
        if (ec || state.expired()) return;  // re-armed, or the connection is gone
        deadline_->armed.reset();
        deadline_->fired = true;
        wake();
      });
}

void PgConnection::disarm_when_idle(const asio::any_io_executor& executor) {
  if (!deadline_->armed) return;
  // Runs when this coroutine next yields: normally in its next wait, which
  // keeps the timer. If no wait follows, the armed timer would keep the
  // io_context running until it fires; cancel it then.
  asio::post(executor, [state = std::weak_ptr<DeadlineTimer>(deadline_)] {
    auto alive = state.lock();
    if (!alive || alive->waiting || !alive->armed) return;
    alive->armed.reset();
    alive->timer->cancel();
  });
}

void PgConnection::wake() {
  boost::system::error_code ignored;  // nothing waits on a descriptor not open
  if (socket_) socket_->cancel(ignored);
}

void PgConnection::consume_input() {
  if (PQconsumeInput(conn_) == 0) throw_connection_error("lost the connection to the server");
}

asio::awaitable<void> PgConnection::wait_readable(std::chrono::steady_clock::time_point deadline) {
  co_await wait(StreamDescriptor::wait_read, deadline);
  consume_input();
}

asio::awaitable<void> PgConnection::flush_output() {
  for (;;) {
    int pending = PQflush(conn_);
    if (pending == 0) co_return;
    if (pending < 0) throw_connection_error("could not send data to the server");
    co_await wait(StreamDescriptor::wait_write, std::nullopt);
  }
}

asio::awaitable<void> PgConnection::send(const std::string& command) {
  if (PQsendQuery(conn_, command.c_str()) == 0) {
    throw_connection_error("could not send replication command");
  }
  co_await flush_output();
}

asio::awaitable<PgResult> PgConnection::next_result() {
  while (PQisBusy(conn_) != 0) {
    co_await wait(StreamDescriptor::wait_read, std::nullopt);
    consume_input();
  }
  co_return PgResult(PQgetResult(conn_));
}

protocol::ResultSet PgConnection::to_result_set(const PgResult& result,
                                                const std::string& what) const {
  protocol::ResultSet set;
  ExecStatusType status = PQresultStatus(result.get());
  if (status == PGRES_COMMAND_OK) return set;
  if (status != PGRES_TUPLES_OK) {
    const char* primary = PQresultErrorField(result.get(), PG_DIAG_MESSAGE_PRIMARY);
    std::string text = primary != nullptr ? primary : PQresultErrorMessage(result.get());
    if (text.empty()) text = PQerrorMessage(conn_);
    const char* user = PQuser(conn_);
    Diagnosis d = diagnose_server_message(text, user ? user : "", password_);
    const char* sqlstate = PQresultErrorField(result.get(), PG_DIAG_SQLSTATE);
    throw Error(ErrorKind::kServer, what + " failed: " + d.message, d.hint)
        .with_sqlstate(sqlstate != nullptr ? sqlstate : "");
  }
  return tuples_of(result.get());
}

protocol::ResultSet tuples_of(const PGresult* result) {
  protocol::ResultSet set;
  int fields = PQnfields(result);
  int rows = PQntuples(result);
  for (int f = 0; f < fields; ++f) set.columns.emplace_back(PQfname(result, f));
  set.rows.resize(static_cast<std::size_t>(rows));
  for (int r = 0; r < rows; ++r) {
    auto& row = set.rows[static_cast<std::size_t>(r)];
    for (int f = 0; f < fields; ++f) {
      if (PQgetisnull(result, r, f) != 0) {
        row.emplace_back(std::nullopt);
      } else {
        row.emplace_back(std::string(PQgetvalue(result, r, f),
                                     static_cast<std::size_t>(PQgetlength(result, r, f))));
      }
    }
  }
  return set;
}

asio::awaitable<protocol::ResultSet> PgConnection::exec(const std::string& command,
                                                        const std::string& what) {
  co_await send(command);
  co_return co_await read_results(co_await next_result(), what);
}

asio::awaitable<protocol::ResultSet> PgConnection::read_results(PgResult first,
                                                                const std::string& what) {
  protocol::ResultSet last;
  // A server error is thrown only after the last result: until libpq has
  // returned NULL the connection refuses the next command ("another command
  // is already in progress"), and callers may go on after an expected error.
  std::exception_ptr failure;
  for (PgResult result = std::move(first); result; result = co_await next_result()) {
    ExecStatusType status = PQresultStatus(result.get());
    if (status == PGRES_COPY_OUT || status == PGRES_COPY_IN || status == PGRES_COPY_BOTH) {
      throw ProtocolError(what + ": unexpected COPY response");
    }
    if (failure) continue;
    try {
      protocol::ResultSet set = to_result_set(result, what);
      if (status == PGRES_TUPLES_OK) last = std::move(set);
    } catch (const Error&) {
      failure = std::current_exception();
    }
  }
  if (failure) std::rethrow_exception(failure);
  co_return last;
}

asio::awaitable<bool> PgConnection::start_replication(const std::string& command,
                                                      protocol::ResultSet* next_timeline) {
  co_await send(command);
  PgResult first = co_await next_result();
  if (!first) throw ProtocolError("START_REPLICATION: the server sent no response");
  if (PQresultStatus(first.get()) == PGRES_COPY_BOTH) co_return true;
  *next_timeline = co_await read_results(std::move(first), "START_REPLICATION");
  co_return false;
}

std::optional<CopyBuffer> PgConnection::try_read_copy(bool* copy_done) {
  char* buffer = nullptr;
  int size = PQgetCopyData(conn_, &buffer, /*async=*/1);
  if (size == 0) {
    // libpq's buffer holds no complete message: read what the socket already
    // has (without waiting) before saying so, as pg_receivewal does. Callers
    // end a batch (and a synchronous standby syncs) when this says "none", so
    // bytes left in the socket would only make smaller batches.
    consume_input();
    size = PQgetCopyData(conn_, &buffer, /*async=*/1);
  }
  if (size > 0) return CopyBuffer(buffer, size);
  if (size == -1) *copy_done = true;
  if (size < -1) throw_connection_error("could not read COPY data");
  return std::nullopt;
}

asio::awaitable<std::optional<CopyBuffer>> PgConnection::read_copy() {
  for (;;) {
    bool done = false;
    if (auto buffer = try_read_copy(&done)) co_return buffer;
    if (done) co_return std::nullopt;
    co_await wait(StreamDescriptor::wait_read, std::nullopt);
    consume_input();
  }
}

asio::awaitable<void> PgConnection::put_copy_data(ByteView data) {
  for (;;) {
    int queued = PQputCopyData(conn_, reinterpret_cast<const char*>(data.data()),
                               static_cast<int>(data.size()));
    if (queued == 1) break;
    if (queued < 0) throw_connection_error("could not send COPY data");
    co_await wait(StreamDescriptor::wait_write, std::nullopt);
  }
  co_await flush_output();
}

asio::awaitable<void> PgConnection::put_copy_end() {
  for (;;) {
    int queued = PQputCopyEnd(conn_, nullptr);
    if (queued == 1) break;
    if (queued < 0) throw_connection_error("could not end COPY");
    co_await wait(StreamDescriptor::wait_write, std::nullopt);
  }
  co_await flush_output();
}

}  // namespace walstream::walreceiver
