// Executes a WalStreamMachine over libpq and the storage: the only code of a
// WAL stream that does I/O. It turns the machine's actions into replication
// commands, COPY messages, writes and syncs, and what happens (messages from
// the server, a finished fdatasync, a deadline, a signal) into the machine's
// events. It decides nothing itself.
//
// Zero copy: XLogData payloads stay in libpq's CopyData buffers (CopyBuffer),
// which are held until the WriteWal actions that point into them have been
// written; consecutive WriteWal actions are coalesced into one pwritev of up
// to kMaxBatchMessages buffers.
//
// Threads: everything runs on the io_context thread of run(); the storage's
// threads report durability and failures by posting to it.
#pragma once

#include <utility>  // before Asio: Boost 1.74 awaitable.hpp needs std::exchange

#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "protocol/stream_position.h"
#include "storage/wal_archive_writer.h"
#include "walreceiver/abort_signal.h"
#include "walreceiver/copy_buffer.h"
#include "walreceiver/pg_connection.h"
#include "walreceiver/receive_stats.h"
#include "walreceiver/wal_stream_machine.h"

namespace walstream::walreceiver {

struct WalStreamDriverOptions {
  std::optional<std::string> slot;  // START_REPLICATION SLOT
  // Called on run()'s thread with each timeline history file's name once it
  // is stored (receive: to upload it); may be empty.
  std::function<void(const std::string& file_name)> on_history_stored;
};

class WalStreamDriver {
 public:
  // Opens a connection (or hands over one that is already open) and runs
  // IDENTIFY_SYSTEM; returns the Connected event. Throws walstream::Error.
  // May attach the storage (the first time, once the server's facts are
  // known). Must outlive run().
  using ConnectFunction =
      std::function<asio::awaitable<stream_event::Connected>(std::unique_ptr<PgConnection>&)>;

  // `executor` is the io_context run() will run on.
  WalStreamDriver(WalStreamConfig config, WalStreamDriverOptions options, ConnectFunction connect,
                  AbortSignal& abort, asio::any_io_executor executor);
  ~WalStreamDriver();
  WalStreamDriver(const WalStreamDriver&) = delete;
  WalStreamDriver& operator=(const WalStreamDriver&) = delete;

  // The storage must be attached before the first WAL byte arrives and
  // outlive run().
  void attach_storage(storage::WalArchiveWriter& storage) { storage_ = &storage; }
  // Statistics to keep up to date (receive); must outlive run(). Updated on
  // run()'s thread, without allocating.
  void attach_stats(ReceiveStats& stats) { stats_ = &stats; }
  // For the storage's options: thread-safe callbacks that hand their report
  // to run()'s executor, at once when called on its thread (an inline sync)
  // and posted otherwise. They may outlive the driver (then they do nothing),
  // not the io_context.
  std::function<void(const protocol::StreamPosition&)> durable_callback();
  std::function<void(std::exception_ptr)> failure_callback();

  // Runs until the machine finishes (returns why) or fails (throws).
  asio::awaitable<StreamEndReason> run();

  // From run()'s thread: StopRequested or StopAt, taken at the next chance.
  // A stop interrupts a command in progress (connecting, for one).
  void post(StreamEvent event);

  const WalStreamMachine& machine() const { return machine_; }

 private:
  // Shared with callbacks posted from other threads, which may run after the
  // driver is gone.
  struct Inbox {
    asio::any_io_executor executor;
    std::deque<StreamEvent> events;
    std::exception_ptr storage_failure;
    std::function<void()> wake;
  };

  asio::awaitable<std::optional<StreamEndReason>> execute(StreamAction action);
  asio::awaitable<void> connect();
  asio::awaitable<void> fetch_history(protocol::TimelineId timeline);
  asio::awaitable<void> start_streaming(const protocol::StreamPosition& from);
  asio::awaitable<void> send_status(const stream_action::SendStatus& status);
  asio::awaitable<void> read_stream_end();
  // The results after (or instead of) a COPY: the next timeline, or none.
  void stream_ended(const protocol::ResultSet& next);
  // Reads what the connection holds and waits for more (COPY states).
  asio::awaitable<void> receive();
  // The spool is full: no reading; the next deadline (a status) or an event.
  asio::awaitable<void> wait_while_paused();
  asio::awaitable<void> wait_to_reconnect();
  // Runs the queued actions; returns a finish reason if one was among them.
  asio::awaitable<std::optional<StreamEndReason>> run_actions();
  void feed(const StreamEvent& event);
  void feed_inbox();
  // A command or the COPY failed: tell the machine (unless a stop cut it).
  void connection_failed(const Error& error);
  void write_batch();
  void wake();

  WalStreamMachine machine_;
  WalStreamDriverOptions options_;
  ConnectFunction connect_;
  AbortSignal& abort_;
  storage::WalArchiveWriter* storage_ = nullptr;
  ReceiveStats* stats_ = nullptr;
  std::unique_ptr<PgConnection> connection_;
  std::shared_ptr<Inbox> inbox_;
  asio::steady_timer timer_;
  std::optional<StreamClock::time_point> reconnect_at_;
  bool in_command_ = false;
  bool stop_posted_ = false;
  bool server_ended_copy_ = false;
  // A full batch was taken without waiting for the socket: let the
  // io_context run its other handlers before the next.
  bool yield_due_ = false;
  // When run() last let the io_context run its other handlers (see run()).
  StreamClock::time_point last_yield_ = StreamClock::now();
  std::optional<StreamEndReason> finished_;

  // Received CopyData buffers the pending WriteWal actions point into.
  std::vector<CopyBuffer> held_;
  // Consecutive WriteWal actions, written together.
  protocol::StreamPosition batch_start_;
  protocol::Lsn batch_end_;
  std::vector<ByteView> batch_;
};

}  // namespace walstream::walreceiver
