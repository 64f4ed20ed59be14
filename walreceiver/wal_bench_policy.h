// The decisions of `walstream bench`'s WAL stage, sans-I/O: where the stream
// starts, whether a received message continues it, when a status update is
// owed to the server, and when to stop (a duration or a byte count). Time
// comes in as arguments, so every rule is tested without a server; the loop in
// walreceiver/bench.cc only executes what this says.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>

#include "protocol/lsn.h"
#include "protocol/replication_messages.h"
#include "protocol/stream_position.h"
#include "walreceiver/bench_report.h"

namespace walstream::walreceiver {

struct WalBenchStart {
  protocol::StreamPosition position;
  WalStartFrom from = WalStartFrom::kCurrent;
};

// `wanted` kRetained starts at the segment holding the new temporary slot's
// restart position (the last checkpoint's redo point: the oldest WAL the slot
// guarantees the server keeps), when the server reported one on its current
// timeline; otherwise (before 15, which has no READ_REPLICATION_SLOT, or a
// restart position on an older timeline) at the segment holding the server's
// current position. kGiven starts at the segment holding `given`, which must
// not lie beyond the server's position (a usage error: the server would only
// say it is "ahead of the WAL flush position"). Always a segment start, as
// pg_receivewal starts.
WalBenchStart choose_wal_start(WalStartFrom wanted, protocol::TimelineId server_timeline,
                               protocol::Lsn server_position,
                               const std::optional<protocol::StreamPosition>& slot_restart,
                               std::uint64_t segment_size, protocol::Lsn given = {});

struct WalBenchLimits {
  std::chrono::steady_clock::duration duration = std::chrono::seconds(10);
  std::optional<std::uint64_t> max_bytes;  // stop once this much WAL arrived
  std::chrono::steady_clock::duration status_interval = std::chrono::seconds(10);
  // Report the received position as written (the WAL went to files);
  // otherwise it is discarded and no position is reported.
  bool report_write = false;
};

class WalBenchPolicy {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;

  // `started`: when the COPY began.
  WalBenchPolicy(WalBenchLimits limits, protocol::StreamPosition start, TimePoint started);

  // An XLogData message. Throws walstream::Error (kProtocol) when it does not
  // start where the stream stands.
  void on_wal(protocol::Lsn data_start, std::size_t payload_bytes);
  void on_keepalive(bool reply_requested);

  // Why to stop now, if a limit is reached.
  std::optional<WalStopReason> stop_reason(TimePoint now) const;
  // A status update is owed: the server asked for one, or the interval passed.
  bool status_due(TimePoint now) const;
  // The update to send now (send_time left to the caller); records it as
  // sent. It never claims a flush, nor a write of discarded WAL: a server
  // that counts this connection as a synchronous standby must not take the
  // benchmark for a durable copy. The temporary slot holds back only the WAL
  // of this one run.
  protocol::StandbyStatusUpdate take_status(TimePoint now);
  // When to look again without a message: the stop or the next status.
  TimePoint next_deadline() const;

  protocol::StreamPosition position() const { return position_; }
  std::uint64_t bytes() const { return bytes_; }
  std::uint64_t messages() const { return messages_; }
  std::uint64_t keepalives() const { return keepalives_; }

 private:
  WalBenchLimits limits_;
  protocol::StreamPosition position_;
  TimePoint stop_at_;
  TimePoint last_status_;
  bool reply_requested_ = false;
  std::uint64_t bytes_ = 0;
  std::uint64_t messages_ = 0;
  std::uint64_t keepalives_ = 0;
};

}  // namespace walstream::walreceiver
