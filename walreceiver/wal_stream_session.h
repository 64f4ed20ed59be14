// Streams WAL over one replication connection into a WalSink:
// START_REPLICATION, then XLogData payloads go from libpq's buffers to the
// sink (messages that arrive together are handed over as one contiguous
// batch, for one pwritev), keepalives are answered, and status updates report
// the write and (when the sink allows) flush positions.
//
// The session ends when
//   - stop_at(lsn) was called and everything up to lsn is written (clone);
//   - the endpos option is reached: WAL is written exactly up to it;
//   - request_stop() was called (SIGINT/SIGTERM): WAL made durable first;
//   - the server ends the timeline (promotion upstream): the next timeline is
//     returned;
//   - the server ends streaming for another reason (shutdown).
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include "protocol/lsn.h"
#include "protocol/replication_commands.h"
#include "walreceiver/pg_connection.h"
#include "walreceiver/wal_sink.h"

namespace walstream::walreceiver {

struct WalStreamOptions {
  std::optional<std::string> slot;
  protocol::Lsn start;  // a segment start, or where the sink's stream continues
  protocol::TimelineId timeline = 0;
  std::chrono::milliseconds status_interval{10'000};
  std::optional<protocol::Lsn> endpos;
};

enum class StreamEndReason {
  kStopPosition,   // stop_at() reached
  kEndpos,         // options.endpos reached
  kStopRequested,  // request_stop()
  kTimelineEnded,  // the server's timeline ended; see StreamEnd::next
  kServerEnded,    // the server ended streaming (shutdown, no next timeline)
};

struct StreamEnd {
  StreamEndReason reason = StreamEndReason::kServerEnded;
  std::optional<protocol::TimelineSwitch> next;
};

class WalStreamSession {
 public:
  // `connection` and `sink` must outlive the session.
  WalStreamSession(PgConnection& connection, WalSink& sink, WalStreamOptions options);

  asio::awaitable<StreamEnd> run();

  // May be called while run() waits (from the same io_context thread).
  void stop_at(protocol::Lsn end);
  void request_stop();
  // The sink's durable position moved: report it without waiting.
  void flush_advanced();

 private:
  asio::awaitable<void> send_status();

  PgConnection& connection_;
  WalSink& sink_;
  WalStreamOptions options_;
  std::optional<protocol::Lsn> stop_lsn_;
  bool stop_requested_ = false;
  bool flush_changed_ = false;
  protocol::Lsn last_reported_flush_;
};

}  // namespace walstream::walreceiver
