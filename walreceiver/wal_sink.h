// Where a WAL stream's bytes go and how durable they are. WalStreamSession
// decodes and batches; a sink writes and decides when to fdatasync. The clone
// writes into pg_wal and syncs once at the end; the archiver makes WAL
// durable in batches on a syncer thread and reports the flush position.
#pragma once

#include <chrono>
#include <optional>
#include <span>

#include "protocol/bytes.h"
#include "protocol/lsn.h"

namespace walstream::walreceiver {

class WalSink {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;
  virtual ~WalSink() = default;

  // `pieces` are contiguous in the WAL stream from `start`; they point into
  // CopyData buffers that stay valid only during the call.
  virtual void write(protocol::TimelineId timeline, protocol::Lsn start,
                     std::span<const ByteView> pieces) = 0;
  // End of the last byte written.
  virtual protocol::Lsn written() const = 0;
  // The flush position to report to the server: only what is durable, and
  // InvalidLsn when this sink must not claim any (see replication-protocol
  // gotcha 7: a reported flush makes us eligible as a synchronous standby).
  virtual protocol::Lsn reportable_flush() const = 0;
  // Called after each drain of the socket; `urgent` when the server asked for
  // a reply. The place to start a batched sync.
  virtual void batch_point(TimePoint /*now*/, bool /*urgent*/) {}
  // When batch_point must run again even if nothing arrives.
  virtual std::optional<TimePoint> next_batch_deadline() const { return std::nullopt; }
  // Blocks until everything written is durable (endpos, shutdown).
  virtual void make_durable() {}
};

}  // namespace walstream::walreceiver
