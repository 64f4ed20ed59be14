// Streams WAL over one replication connection into a WalSegmentWriter:
// START_REPLICATION, then XLogData payloads go from libpq's buffer straight to
// the writer, keepalives are answered, and status updates report the write
// position. For a clone the session ends at a stop position handed over by
// the base backup once it knows the backup's end LSN.
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include "protocol/lsn.h"
#include "storage/wal_segment_writer.h"
#include "walreceiver/pg_connection.h"

namespace walstream::walreceiver {

struct WalStreamOptions {
  std::optional<std::string> slot;
  protocol::Lsn start;  // a segment start
  protocol::TimelineId timeline = 0;
  std::chrono::milliseconds status_interval{10'000};
};

class WalStreamSession {
 public:
  // `connection` and `writer` must outlive the session.
  WalStreamSession(PgConnection& connection, storage::WalSegmentWriter& writer,
                   WalStreamOptions options);

  // Returns once everything up to the stop position is written and the server
  // has ended the COPY. Throws if the server ends streaming before that.
  asio::awaitable<void> run();

  // Stream until `end`, then end the COPY. May be called while run() waits.
  void stop_at(protocol::Lsn end);

  protocol::Lsn written() const { return writer_.position(); }

 private:
  asio::awaitable<void> send_status();

  PgConnection& connection_;
  storage::WalSegmentWriter& writer_;
  WalStreamOptions options_;
  std::optional<protocol::Lsn> stop_lsn_;
};

}  // namespace walstream::walreceiver
