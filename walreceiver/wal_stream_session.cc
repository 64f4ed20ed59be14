#include "walreceiver/wal_stream_session.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <variant>
#include <vector>

#include "protocol/error.h"
#include "protocol/replication_messages.h"

namespace walstream::walreceiver {
namespace {

using Clock = std::chrono::steady_clock;

// At most this many CopyData buffers are held for one pwritev: bounds memory
// (the server sends at most 128 kB per message) and stays below IOV_MAX.
constexpr std::size_t kMaxBatchMessages = 64;

// XLogData messages of one socket drain that continue each other, held until
// they are written together.
class WriteBatch {
 public:
  bool empty() const { return pieces_.empty(); }
  bool continues(protocol::Lsn start) const {
    return !empty() && end_ == start && pieces_.size() < kMaxBatchMessages;
  }
  void add(CopyBuffer buffer, protocol::Lsn start, ByteView payload) {
    if (empty()) start_ = start;
    pieces_.push_back(payload);
    buffers_.push_back(std::move(buffer));
    end_ = protocol::Lsn{start.value + payload.size()};
  }
  void write_to(WalSink& sink, protocol::TimelineId timeline) {
    if (empty()) return;
    sink.write(timeline, start_, pieces_);
    pieces_.clear();
    buffers_.clear();  // back to libpq
  }

 private:
  protocol::Lsn start_;
  protocol::Lsn end_;
  std::vector<ByteView> pieces_;
  std::vector<CopyBuffer> buffers_;
};

}  // namespace

WalStreamSession::WalStreamSession(PgConnection& connection, WalSink& sink,
                                   WalStreamOptions options)
    : connection_(connection), sink_(sink), options_(std::move(options)) {}

void WalStreamSession::stop_at(protocol::Lsn end) {
  stop_lsn_ = end;
  connection_.wake();
}

void WalStreamSession::request_stop() {
  stop_requested_ = true;
  connection_.wake();
}

void WalStreamSession::flush_advanced() {
  if (sink_.reportable_flush() == last_reported_flush_) return;
  flush_changed_ = true;
  connection_.wake();
}

asio::awaitable<void> WalStreamSession::send_status() {
  protocol::StandbyStatusUpdate update;
  update.write = sink_.written();
  update.flush = sink_.reportable_flush();
  update.send_time = protocol::to_pg_timestamp(std::chrono::system_clock::now());
  last_reported_flush_ = update.flush;
  flush_changed_ = false;
  std::array<std::byte, protocol::kStandbyStatusUpdateSize> message{};
  protocol::encode_standby_status_update(update, message);
  co_await connection_.put_copy_data(message);
}

asio::awaitable<StreamEnd> WalStreamSession::run() {
  std::optional<std::string_view> slot;
  if (options_.slot) slot = *options_.slot;
  co_await connection_.start_copy(
      protocol::start_replication_command(slot, options_.start, options_.timeline),
      "START_REPLICATION");
  spdlog::info("streaming WAL from {} on timeline {}", protocol::to_string(options_.start),
               options_.timeline);

  StreamEnd end;
  bool still_sending = true;
  auto next_status = Clock::now() + options_.status_interval;
  WriteBatch batch;
  for (;;) {
    bool copy_done = false;
    bool reply_requested = false;
    // Drain everything libpq already holds before waiting on the socket.
    while (auto buffer = connection_.try_read_copy(&copy_done)) {
      auto message = protocol::decode_server_copy_message(buffer->bytes());
      if (auto* keepalive = std::get_if<protocol::PrimaryKeepalive>(&message)) {
        reply_requested = reply_requested || keepalive->reply_requested;
        continue;
      }
      // After our CopyDone the server may still send WAL; it is not needed.
      if (!still_sending) continue;
      auto& data = std::get<protocol::XLogData>(message);
      ByteView payload = data.payload;
      if (options_.endpos) {
        // Stop exactly at endpos: bytes beyond it are not written.
        std::uint64_t room = options_.endpos->value > data.data_start.value
                                 ? options_.endpos->value - data.data_start.value
                                 : 0;
        payload =
            payload.first(static_cast<std::size_t>(std::min<std::uint64_t>(room, payload.size())));
      }
      if (payload.empty()) continue;
      if (!batch.empty() && !batch.continues(data.data_start))
        batch.write_to(sink_, options_.timeline);
      batch.add(std::move(*buffer), data.data_start, payload);
      if (!batch.continues(protocol::Lsn{data.data_start.value + payload.size()})) {
        batch.write_to(sink_, options_.timeline);
      }
    }
    batch.write_to(sink_, options_.timeline);
    if (copy_done) break;

    if (still_sending) {
      const auto now = Clock::now();
      sink_.batch_point(now, reply_requested);
      const bool reached_endpos = options_.endpos && sink_.written() >= *options_.endpos;
      if (stop_requested_ || reached_endpos) {
        sink_.make_durable();
        co_await send_status();
        if (stop_requested_) {
          spdlog::info("stopping at {}: received WAL is durable",
                       protocol::to_string(sink_.written()));
          co_return StreamEnd{StreamEndReason::kStopRequested, std::nullopt};
        }
        spdlog::info("reached end position {}", protocol::to_string(*options_.endpos));
        co_await connection_.put_copy_end();
        still_sending = false;
        end.reason = StreamEndReason::kEndpos;
      } else {
        const bool reached_stop = stop_lsn_ && sink_.written() >= *stop_lsn_;
        if (reply_requested || reached_stop || flush_changed_ || now >= next_status) {
          co_await send_status();
          next_status = now + options_.status_interval;
        }
        if (reached_stop) {
          spdlog::info("WAL streamed past the stop position {} (received up to {})",
                       protocol::to_string(*stop_lsn_), protocol::to_string(sink_.written()));
          co_await connection_.put_copy_end();
          still_sending = false;
          end.reason = StreamEndReason::kStopPosition;
        }
      }
    }
    auto deadline = still_sending ? next_status : Clock::now() + std::chrono::seconds(60);
    if (auto batch_deadline = sink_.next_batch_deadline()) {
      deadline = std::min(deadline, *batch_deadline);
    }
    co_await connection_.wait_readable(deadline);
  }

  // The server ended its side, with CopyDone (libpq then reports COPY_IN:
  // answer with our CopyDone, the server waits for it when a timeline ended)
  // or with an error (raised by to_result_set). A result set follows if the
  // timeline ended.
  std::optional<protocol::TimelineSwitch> next;
  while (PgResult result = co_await connection_.next_result()) {
    if (PQresultStatus(result.get()) == PGRES_COPY_IN) {
      co_await connection_.put_copy_end();
      continue;
    }
    protocol::ResultSet set = connection_.to_result_set(result, "START_REPLICATION");
    if (PQresultStatus(result.get()) == PGRES_TUPLES_OK && !set.rows.empty()) {
      next = protocol::parse_timeline_switch(set);
    }
  }
  if (!still_sending) co_return end;
  if (stop_requested_) {
    sink_.make_durable();
    co_return StreamEnd{StreamEndReason::kStopRequested, std::nullopt};
  }
  if (next) {
    if (next->next_timeline <= options_.timeline) {
      throw ProtocolError("server reported next timeline " + std::to_string(next->next_timeline) +
                          ", not after timeline " + std::to_string(options_.timeline));
    }
    spdlog::info("timeline {} ended; timeline {} starts at {}", options_.timeline,
                 next->next_timeline, protocol::to_string(next->next_timeline_start));
    co_return StreamEnd{StreamEndReason::kTimelineEnded, next};
  }
  co_return StreamEnd{StreamEndReason::kServerEnded, std::nullopt};
}

}  // namespace walstream::walreceiver
