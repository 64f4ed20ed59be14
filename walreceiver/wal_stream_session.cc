#include "walreceiver/wal_stream_session.h"

#include <spdlog/spdlog.h>

#include <variant>

#include "protocol/error.h"
#include "protocol/replication_commands.h"
#include "protocol/replication_messages.h"

namespace walstream::walreceiver {

using Clock = std::chrono::steady_clock;

WalStreamSession::WalStreamSession(PgConnection& connection, storage::WalSegmentWriter& writer,
                                   WalStreamOptions options)
    : connection_(connection), writer_(writer), options_(std::move(options)) {}

void WalStreamSession::stop_at(protocol::Lsn end) {
  stop_lsn_ = end;
  connection_.wake();
}

asio::awaitable<void> WalStreamSession::send_status() {
  protocol::StandbyStatusUpdate update;
  update.write = writer_.position();
  // Flush stays invalid: nothing is fsynced until the clone's final sync, and
  // reporting a flush position that is not on disk would be a lie.
  update.send_time = protocol::to_pg_timestamp(std::chrono::system_clock::now());
  std::array<std::byte, protocol::kStandbyStatusUpdateSize> message{};
  protocol::encode_standby_status_update(update, message);
  co_await connection_.put_copy_data(message);
}

asio::awaitable<void> WalStreamSession::run() {
  std::optional<std::string_view> slot;
  if (options_.slot) slot = *options_.slot;
  co_await connection_.start_copy(
      protocol::start_replication_command(slot, options_.start, options_.timeline),
      "START_REPLICATION");
  spdlog::info("streaming WAL from {} on timeline {}", protocol::to_string(options_.start),
               options_.timeline);

  bool still_sending = true;
  auto next_status = Clock::now() + options_.status_interval;
  for (;;) {
    bool copy_done = false;
    bool reply_requested = false;
    // Drain everything libpq already holds before waiting on the socket.
    while (auto buffer = connection_.try_read_copy(&copy_done)) {
      auto message = protocol::decode_server_copy_message(buffer->bytes());
      if (auto* data = std::get_if<protocol::XLogData>(&message)) {
        // After our CopyDone the server may still send WAL; it is not needed.
        if (still_sending) writer_.write(options_.timeline, data->data_start, data->payload);
      } else if (std::get<protocol::PrimaryKeepalive>(message).reply_requested) {
        reply_requested = true;
      }
    }
    if (copy_done) break;
    if (still_sending) {
      bool reached_stop = stop_lsn_ && writer_.position() >= *stop_lsn_;
      if (reply_requested || reached_stop || Clock::now() >= next_status) {
        co_await send_status();
        next_status = Clock::now() + options_.status_interval;
      }
      if (reached_stop) {
        spdlog::info("WAL streamed past the stop position {} (received up to {})",
                     protocol::to_string(*stop_lsn_), protocol::to_string(writer_.position()));
        co_await connection_.put_copy_end();
        still_sending = false;
      }
    }
    co_await connection_.wait_readable(still_sending ? next_status
                                                     : Clock::now() + std::chrono::seconds(60));
  }

  // The server ended its side; collect what follows (a timeline switch result
  // set if the timeline ended, then CommandComplete).
  while (PgResult result = co_await connection_.next_result()) {
    connection_.to_result_set(result, "START_REPLICATION");
  }
  if (still_sending) {
    throw Error(ErrorKind::kConnection,
                "the server stopped streaming WAL at " + protocol::to_string(writer_.position()) +
                    " before the backup's end position",
                "the primary may have been shut down or promoted; run the command again");
  }
}

}  // namespace walstream::walreceiver
