// The archiver's WAL sink: segments are written on the io thread (pwritev
// from libpq's buffers) and made durable by a WalSyncer thread in batches; a
// batch ends when the socket has been drained and either the receiver is a
// synchronous standby, the server asked for a reply, or the batch reached its
// byte or time bound. Completed segments are validated and renamed by the
// syncer and optionally compressed by a ZstdArchiver thread. The flush
// position it reports is the syncer's durable watermark, never more.
#pragma once

#include <sys/types.h>

#include <boost/asio/any_io_executor.hpp>
#include <chrono>
#include <cstdint>
#include <exception>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>

#include "storage/wal_segment_writer.h"
#include "storage/wal_syncer.h"
#include "storage/zstd_archiver.h"
#include "walreceiver/wal_sink.h"

namespace walstream::walreceiver {

struct DurableWalSinkOptions {
  std::filesystem::path directory;
  std::uint64_t segment_size = 0;
  std::uint64_t system_id = 0;
  int server_major = 0;
  bool synchronous = false;   // sync after every drain
  bool report_flush = false;  // with a slot or --synchronous
  std::uint64_t batch_bytes = 8 * 1024 * 1024;
  std::chrono::milliseconds batch_window{200};
  std::optional<int> zstd_level;
  mode_t file_mode = 0600;
};

class DurableWalSink : public WalSink {
 public:
  // `on_flush_advanced` and `on_failure` run on `io` (posted from the syncer
  // and archiver threads).
  DurableWalSink(DurableWalSinkOptions options, boost::asio::any_io_executor io,
                 std::function<void()> on_flush_advanced,
                 std::function<void(std::exception_ptr)> on_failure);
  ~DurableWalSink() override;

  void write(protocol::TimelineId timeline, protocol::Lsn start,
             std::span<const ByteView> pieces) override;
  protocol::Lsn written() const override { return writer_->position(); }
  protocol::Lsn reportable_flush() const override;
  void batch_point(TimePoint now, bool urgent) override;
  std::optional<TimePoint> next_batch_deadline() const override;
  void make_durable() override;

  // Queues an already complete segment for compression (one a crash left
  // uncompressed); no-op without --compress.
  void compress_existing(const std::string& segment_name);
  // The timeline ended: make its last segment durable and leave it .partial.
  void end_timeline();
  // Waits for the background threads and rethrows their failure, if any.
  void finish();

 private:
  void request_sync();
  std::string validate(const storage::SegmentFile& file) const;

  DurableWalSinkOptions options_;
  boost::asio::any_io_executor io_;
  std::function<void()> on_flush_advanced_;
  std::function<void(std::exception_ptr)> on_failure_;
  std::unique_ptr<storage::ZstdArchiver> archiver_;
  std::unique_ptr<storage::WalSyncer> syncer_;
  std::unique_ptr<storage::WalSegmentWriter> writer_;
  protocol::Lsn sync_requested_;
  std::optional<TimePoint> unsynced_since_;
};

}  // namespace walstream::walreceiver
