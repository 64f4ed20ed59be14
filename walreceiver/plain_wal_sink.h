// The clone's WAL sink: segments go into the new data directory's pg_wal and
// become durable with the final syncfs of the whole clone, so no flush
// position is ever reported.
#pragma once

#include "storage/wal_segment_writer.h"
#include "walreceiver/wal_sink.h"

namespace walstream::walreceiver {

class PlainWalSink : public WalSink {
 public:
  explicit PlainWalSink(storage::WalSegmentWriter& writer) : writer_(writer) {}

  void write(protocol::TimelineId timeline, protocol::Lsn start,
             std::span<const ByteView> pieces) override {
    writer_.write_batch(timeline, start, pieces);
  }
  protocol::Lsn written() const override { return writer_.position(); }
  protocol::Lsn reportable_flush() const override { return {}; }

 private:
  storage::WalSegmentWriter& writer_;
};

}  // namespace walstream::walreceiver
