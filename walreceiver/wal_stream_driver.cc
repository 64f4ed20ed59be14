#include "walreceiver/wal_stream_driver.h"

#include <spdlog/spdlog.h>

#include <array>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <variant>

#include "protocol/error.h"
#include "protocol/replication_commands.h"
#include "protocol/replication_messages.h"

namespace walstream::walreceiver {

namespace {

// At most this many CopyData buffers are held for one pwritev: bounds memory
// (the server sends at most 128 kB per message) and stays below IOV_MAX.
constexpr std::size_t kMaxBatchMessages = 64;

// Marks a replication command in progress for its scope: a stop request then
// cuts it short instead of waiting for it.
class CommandInProgress {
 public:
  explicit CommandInProgress(bool& flag) : flag_(flag) { flag_ = true; }
  ~CommandInProgress() { flag_ = false; }
  CommandInProgress(const CommandInProgress&) = delete;
  CommandInProgress& operator=(const CommandInProgress&) = delete;

 private:
  bool& flag_;
};

// At most this long between two turns of the io_context for its other
// handlers, while the socket always has more to read.
constexpr std::chrono::milliseconds kMaxRunWithoutYield{10};

// How long a COPY state waits when nothing is timed (the server answers, or
// keepalives arrive, well before).
constexpr std::chrono::seconds kIdleWait{60};

}  // namespace

WalStreamDriver::WalStreamDriver(WalStreamConfig config, WalStreamDriverOptions options,
                                 ConnectFunction connect, AbortSignal& abort,
                                 asio::any_io_executor executor)
    : machine_(std::move(config)),
      options_(std::move(options)),
      connect_(std::move(connect)),
      abort_(abort),
      inbox_(std::make_shared<Inbox>()),
      timer_(executor) {
  inbox_->executor = std::move(executor);
  inbox_->wake = [this] { wake(); };
}

WalStreamDriver::~WalStreamDriver() { inbox_->wake = nullptr; }

// Reports from the storage are dispatched, not posted: a sync that ran on the
// io thread itself (a synchronous standby's) is in the inbox before the driver
// reads on. Posted, it waited until the socket was found empty, and while WAL
// kept arriving during each sync the flush position was not reported at all:
// commits waiting for this standby piled up (docs/PERFORMANCE.md).
std::function<void(const protocol::StreamPosition&)> WalStreamDriver::durable_callback() {
  return [inbox = inbox_](const protocol::StreamPosition& durable) {
    asio::dispatch(inbox->executor, [inbox, durable] {
      inbox->events.emplace_back(stream_event::SyncCompleted{durable});
      if (inbox->wake) inbox->wake();
    });
  };
}

std::function<void(std::exception_ptr)> WalStreamDriver::failure_callback() {
  return [inbox = inbox_](std::exception_ptr error) {
    asio::dispatch(inbox->executor, [inbox, error] {
      if (!inbox->storage_failure) inbox->storage_failure = error;
      if (inbox->wake) inbox->wake();
    });
  };
}

void WalStreamDriver::post(StreamEvent event) {
  const bool stop = std::holds_alternative<stream_event::StopRequested>(event);
  inbox_->events.push_back(std::move(event));
  if (stop) {
    stop_posted_ = true;
    // A command has nothing received at stake: cut it short (an unreachable
    // host would otherwise hold the stop for the connect timeout).
    if (in_command_) {
      abort_.abort(std::make_exception_ptr(Error(ErrorKind::kCancelled, "interrupted")));
    }
  }
  wake();
}

void WalStreamDriver::wake() {
  if (connection_) connection_->wake();
  timer_.cancel();
}

void WalStreamDriver::feed(const StreamEvent& event) {
  if (spdlog::should_log(spdlog::level::trace)) spdlog::trace("stream event: {}", describe(event));
  machine_.on(event);
}

void WalStreamDriver::feed_inbox() {
  if (inbox_->storage_failure) std::rethrow_exception(inbox_->storage_failure);
  while (!inbox_->events.empty()) {
    StreamEvent event = std::move(inbox_->events.front());
    inbox_->events.pop_front();
    if (stats_ != nullptr) {
      if (const auto* synced = std::get_if<stream_event::SyncCompleted>(&event)) {
        stats_->on_durable(synced->durable);
      }
    }
    feed(event);
  }
}

void WalStreamDriver::connection_failed(const Error& error) {
  // Cut short by a stop: the StopRequested waiting in the inbox decides.
  if (error.kind() == ErrorKind::kCancelled && stop_posted_) return;
  feed(stream_event::ConnectionLost{error});
}

asio::awaitable<StreamEndReason> WalStreamDriver::run() {
  machine_.start();
  for (;;) {
    feed_inbox();
    if (auto reason = co_await run_actions()) co_return *reason;
    if (yield_due_ || StreamClock::now() - last_yield_ >= kMaxRunWithoutYield) {
      // Catching up, or syncing while WAL keeps arriving (a synchronous
      // standby under load reads more after every sync), the socket always
      // has more: without this, a signal, timers and other work on the
      // io_context (the storage's reports, a metrics scrape) would wait until
      // the server pauses.
      yield_due_ = false;
      co_await asio::post(timer_.get_executor(), asio::use_awaitable);
      last_yield_ = StreamClock::now();
    }
    feed_inbox();
    if (machine_.has_action()) continue;
    switch (machine_.state()) {
      case WalStreamMachine::State::kStreaming:
      case WalStreamMachine::State::kDraining:
      case WalStreamMachine::State::kEndingCopy:
        co_await receive();
        break;
      case WalStreamMachine::State::kWaitingToReconnect:
        co_await wait_to_reconnect();
        break;
      default:
        // Every other state is left by the answer to an action.
        throw Error(ErrorKind::kInternal,
                    std::string("WAL stream stalled while ") + to_string(machine_.state()));
    }
  }
}

asio::awaitable<std::optional<StreamEndReason>> WalStreamDriver::run_actions() {
  while (machine_.has_action()) {
    StreamAction action = machine_.next_action();
    if (!std::holds_alternative<stream_action::WriteWal>(action)) write_batch();
    if (auto reason = co_await execute(std::move(action))) co_return reason;
  }
  write_batch();
  held_.clear();  // every write pointing into them is done: back to libpq
  co_return std::nullopt;
}

void WalStreamDriver::write_batch() {
  if (batch_.empty()) return;
  if (stats_ != nullptr) {
    std::uint64_t bytes = 0;
    for (const ByteView& piece : batch_) bytes += piece.size();
    stats_->on_write_batch(bytes);
  }
  storage_->write(batch_start_, batch_);
  batch_.clear();
}

asio::awaitable<std::optional<StreamEndReason>> WalStreamDriver::execute(StreamAction action) {
  if (spdlog::should_log(spdlog::level::trace))
    spdlog::trace("stream action: {}", describe(action));
  if (auto* write = std::get_if<stream_action::WriteWal>(&action)) {
    const bool continues = !batch_.empty() && batch_start_.timeline == write->start.timeline &&
                           batch_end_ == write->start.lsn && batch_.size() < kMaxBatchMessages;
    if (!continues) {
      write_batch();
      batch_start_ = write->start;
    }
    batch_.push_back(write->bytes);
    batch_end_ = protocol::Lsn{write->start.lsn.value + write->bytes.size()};
  } else if (std::holds_alternative<stream_action::Connect>(action)) {
    co_await connect();
  } else if (auto* fetch = std::get_if<stream_action::FetchTimelineHistory>(&action)) {
    co_await fetch_history(fetch->timeline);
  } else if (auto* start = std::get_if<stream_action::StartStreaming>(&action)) {
    co_await start_streaming(start->from);
  } else if (auto* sync = std::get_if<stream_action::RequestSync>(&action)) {
    storage_->request_sync(sync->upto);
  } else if (std::holds_alternative<stream_action::CloseSegment>(action)) {
    storage_->close_segment();
  } else if (auto* status = std::get_if<stream_action::SendStatus>(&action)) {
    co_await send_status(*status);
  } else if (std::holds_alternative<stream_action::SendCopyDone>(action)) {
    // When the server ended first, libpq may hold its error instead of a
    // CopyDone; read_stream_end answers a CopyDone when libpq asks for one
    // and surfaces the error otherwise.
    if (!server_ended_copy_) {
      try {
        co_await connection_->put_copy_end();
      } catch (const Error& error) {
        connection_failed(error);
      }
    }
  } else if (std::holds_alternative<stream_action::ReadStreamEnd>(action)) {
    co_await read_stream_end();
  } else if (auto* reconnect = std::get_if<stream_action::ReconnectAfter>(&action)) {
    spdlog::warn("disconnected ({}); reconnecting in {} ms", reconnect->cause,
                 reconnect->delay.count());
    connection_.reset();
    reconnect_at_ = StreamClock::now() + reconnect->delay;
    if (stats_ != nullptr) stats_->on_reconnect(std::chrono::system_clock::now());
  } else if (auto* finish = std::get_if<stream_action::Finish>(&action)) {
    if (storage_ != nullptr) storage_->finish();
    const auto position = machine_.position();
    if (finish->reason == StreamEndReason::kStopRequested && position) {
      spdlog::info("stopped at {}: the received WAL is durable", protocol::to_string(*position));
    } else if (finish->reason == StreamEndReason::kEndpos && position) {
      spdlog::info("reached end position {}", protocol::to_string(position->lsn));
    }
    if (stats_ != nullptr) stats_->on_stopped();
    co_return finish->reason;
  } else if (auto* fail = std::get_if<stream_action::Fail>(&action)) {
    if (stats_ != nullptr) stats_->on_error(std::chrono::system_clock::now());
    // Keep what was received: make it durable, leave the segment .partial.
    if (storage_ != nullptr) {
      try {
        storage_->finish();
      } catch (const std::exception& also) {
        spdlog::warn("while stopping after an error: {}", also.what());
      }
    }
    throw fail->error;
  }
  co_return std::nullopt;
}

asio::awaitable<void> WalStreamDriver::connect() {
  const CommandInProgress command(in_command_);
  try {
    stream_event::Connected connected = co_await connect_(connection_);
    feed(connected);
  } catch (const Error& error) {
    connection_.reset();
    connection_failed(error);
  }
}

asio::awaitable<void> WalStreamDriver::fetch_history(protocol::TimelineId timeline) {
  const CommandInProgress command(in_command_);
  try {
    protocol::TimelineHistoryFile history = protocol::parse_timeline_history(
        co_await connection_->exec(protocol::timeline_history_command(timeline),
                                   "TIMELINE_HISTORY"),
        timeline);
    storage_->store_history(history);
    spdlog::info("stored the history of timeline {} as \"{}\"", timeline, history.file_name);
    if (options_.on_history_stored) options_.on_history_stored(history.file_name);
    feed(stream_event::HistoryStored{timeline});
  } catch (const Error& error) {
    connection_failed(error);
  }
}

asio::awaitable<void> WalStreamDriver::start_streaming(const protocol::StreamPosition& from) {
  const CommandInProgress command(in_command_);
  try {
    std::optional<std::string_view> slot;
    if (options_.slot) slot = *options_.slot;
    server_ended_copy_ = false;
    protocol::ResultSet next;
    const bool copy = co_await connection_->start_replication(
        protocol::start_replication_command(slot, from.lsn, from.timeline), &next);
    if (copy) {
      spdlog::info("streaming WAL from {}", protocol::to_string(from));
      if (stats_ != nullptr) stats_->on_streaming(from);
      feed(stream_event::CopyStarted{StreamClock::now()});
    } else {
      stream_ended(next);  // at the very end of a historic timeline: no COPY
    }
  } catch (const Error& error) {
    connection_failed(error);
  }
}

void WalStreamDriver::stream_ended(const protocol::ResultSet& next) {
  if (next.rows.empty()) return feed(stream_event::StreamingEnded{});
  const protocol::TimelineSwitch next_timeline = protocol::parse_timeline_switch(next);
  spdlog::info("timeline {} ended; timeline {} starts at {}",
               machine_.position() ? machine_.position()->timeline : 0, next_timeline.next_timeline,
               protocol::to_string(next_timeline.next_timeline_start));
  feed(stream_event::TimelineEnded{next_timeline.next_timeline, next_timeline.next_timeline_start});
}

asio::awaitable<void> WalStreamDriver::send_status(const stream_action::SendStatus& status) {
  protocol::StandbyStatusUpdate update;
  update.write = status.write;
  update.flush = status.flush;
  update.send_time = protocol::to_pg_timestamp(std::chrono::system_clock::now());
  std::array<std::byte, protocol::kStandbyStatusUpdateSize> message{};
  protocol::encode_standby_status_update(update, message);
  try {
    co_await connection_->put_copy_data(message);
  } catch (const Error& error) {
    connection_failed(error);
  }
}

asio::awaitable<void> WalStreamDriver::read_stream_end() {
  const CommandInProgress command(in_command_);
  try {
    // The server ended its side with CopyDone; ours went out already, or
    // goes now if libpq still waits for it. A result set follows when the
    // timeline ended.
    PgResult result = co_await connection_->next_result();
    while (result && PQresultStatus(result.get()) == PGRES_COPY_IN) {
      co_await connection_->put_copy_end();
      result = co_await connection_->next_result();
    }
    stream_ended(co_await connection_->read_results(std::move(result), "START_REPLICATION"));
  } catch (const Error& error) {
    connection_failed(error);
  }
}

asio::awaitable<void> WalStreamDriver::receive() {
  if (machine_.reading_paused()) {
    co_await wait_while_paused();
    co_return;
  }
  try {
    for (;;) {
      // Hand over what libpq holds, at most a batch's worth at a time, so the
      // buffers held for one pwritev stay bounded.
      bool copy_done = false;
      std::size_t taken = 0;
      while (taken < kMaxBatchMessages) {
        std::optional<CopyBuffer> buffer = connection_->try_read_copy(&copy_done);
        if (!buffer) break;
        ++taken;
        const protocol::ServerCopyMessage message =
            protocol::decode_server_copy_message(buffer->bytes());
        if (const auto* data = std::get_if<protocol::XLogData>(&message)) {
          if (stats_ != nullptr) {
            stats_->on_wal_data(data->data_start, data->payload.size(), data->wal_end,
                                data->send_time);
          }
          feed(stream_event::WalData{data->data_start, data->payload});
          held_.push_back(std::move(*buffer));
        } else {
          const auto& keepalive = std::get<protocol::PrimaryKeepalive>(message);
          if (stats_ != nullptr) stats_->on_keepalive(keepalive.wal_end, keepalive.send_time);
          feed(stream_event::Keepalive{keepalive.reply_requested});
        }
      }
      if (taken == kMaxBatchMessages) {  // write these, then read on
        yield_due_ = true;
        co_return;
      }
      if (copy_done) {
        server_ended_copy_ = true;
        feed(stream_event::ServerEndedCopy{});
        co_return;
      }
      feed(stream_event::Drained{StreamClock::now()});
      if (machine_.has_action() || !inbox_->events.empty() || inbox_->storage_failure) co_return;

      const auto deadline = machine_.next_deadline().value_or(StreamClock::now() + kIdleWait);
      co_await connection_->wait_readable(deadline);
      last_yield_ = StreamClock::now();  // waiting let the other handlers run
      if (last_yield_ >= deadline) {
        feed(stream_event::TimerFired{StreamClock::now()});
        co_return;
      }
      if (!inbox_->events.empty() || inbox_->storage_failure) co_return;
    }
  } catch (const Error& error) {
    // A protocol error in the server's bytes ends the run like any other
    // failure: the machine decides whether to retry.
    connection_failed(error);
  }
}

asio::awaitable<void> WalStreamDriver::wait_while_paused() {
  // What the server sends meanwhile waits in the socket's buffers and then in
  // the server's: TCP's flow control is the back-pressure.
  const auto deadline = machine_.next_deadline().value_or(StreamClock::now() + kIdleWait);
  timer_.expires_at(deadline);
  boost::system::error_code ec;
  co_await timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  if (StreamClock::now() >= deadline) feed(stream_event::TimerFired{StreamClock::now()});
}

asio::awaitable<void> WalStreamDriver::wait_to_reconnect() {
  const auto at = reconnect_at_.value_or(StreamClock::now());
  if (StreamClock::now() < at) {
    timer_.expires_at(at);
    boost::system::error_code ec;
    co_await timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (!inbox_->events.empty() || inbox_->storage_failure) co_return;  // woken: a stop
    if (StreamClock::now() < at) co_return;                             // spurious: wait again
  }
  reconnect_at_.reset();
  feed(stream_event::TimerFired{StreamClock::now()});
}

}  // namespace walstream::walreceiver
