// What `walstream receive` has done so far, for its live status line and its
// Prometheus metrics: bytes and positions received and made durable, how far
// the server is ahead, fdatasync latencies and write sizes, reconnects,
// segments. Updated and read on the io thread only (the storage threads'
// reports are posted there), so nothing here is locked or atomic. Updating
// allocates nothing: the WAL path calls it for every message.
//
// Lag, defined:
//   bytes    the server's WAL end (as its newest message said) minus the
//            flushed (durable) LSN; 0 when that is not ahead.
//   seconds  0 when everything the server had is durable here; otherwise how
//            long ago the server sent its newest message whose WAL end we
//            have made durable: now minus that message's send time. Before
//            anything was caught up with, the first message's send time (a
//            lower bound). Compares our clock with the server's, as
//            pg_stat_replication's lag columns do.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "protocol/lsn.h"
#include "protocol/replication_messages.h"
#include "protocol/stream_position.h"

namespace walstream::walreceiver {

// Observations counted in fixed buckets (Prometheus histogram semantics).
class Histogram {
 public:
  // `upper_bounds` increasing.
  explicit Histogram(std::vector<double> upper_bounds);
  void observe(double value);
  const std::vector<double>& upper_bounds() const { return upper_bounds_; }
  // counts()[i]: observations in (bound[i-1], bound[i]]; the last element
  // counts those above every bound.
  const std::vector<std::uint64_t>& counts() const { return counts_; }
  std::uint64_t count() const { return count_; }
  double sum() const { return sum_; }

 private:
  std::vector<double> upper_bounds_;
  std::vector<std::uint64_t> counts_;
  std::uint64_t count_ = 0;
  double sum_ = 0;
};

class ReceiveStats {
 public:
  ReceiveStats();

  // --- updates (io thread) ---
  // START_REPLICATION entered COPY at `from`.
  void on_streaming(const protocol::StreamPosition& from);
  // An XLogData message: `size` payload bytes at `start`.
  void on_wal_data(protocol::Lsn start, std::uint64_t size, protocol::Lsn server_wal_end,
                   protocol::PgTimestamp send_time);
  void on_keepalive(protocol::Lsn server_wal_end, protocol::PgTimestamp send_time);
  // The storage made everything up to `durable` durable.
  void on_durable(const protocol::StreamPosition& durable);
  // One write handed to the storage (the driver's coalesced batch).
  void on_write_batch(std::uint64_t bytes) {
    write_batch_bytes_.observe(static_cast<double>(bytes));
  }
  void on_fdatasync(std::chrono::nanoseconds took);
  void on_segment_completed() { ++segments_completed_; }
  void on_segment_compressed() { ++segments_compressed_; }
  // A spool file is confirmed in the bucket (--archive s3://).
  void on_file_uploaded() { ++files_uploaded_; }
  // Completed spool files waiting for their upload.
  void on_spool_waiting(std::size_t files) { spool_waiting_ = files; }
  // The spool filled up (reading from the server paused) or has room again.
  void on_spool_full(bool full) {
    if (full && !spool_full_) ++spool_full_times_;
    spool_full_ = full;
  }
  // An upload failed on an unreachable bucket; it is tried again.
  void on_upload_retry() { ++upload_retries_; }
  // The connection was lost and a reconnect follows.
  void on_reconnect(std::chrono::system_clock::time_point now);
  // The stream failed (or a connection was lost).
  void on_error(std::chrono::system_clock::time_point now);
  void on_stopped() { streaming_ = false; }

  // --- reads ---
  std::uint64_t received_bytes() const { return received_bytes_; }
  // New WAL made durable: each byte once, counted when its sync completes (a
  // segment fetched again after a reconnect is not counted twice).
  std::uint64_t flushed_bytes() const { return flushed_bytes_; }
  // The end of the last WAL received, and of the last durable, on the
  // timeline of streaming()/flushed_timeline().
  std::optional<protocol::Lsn> received_lsn() const { return received_; }
  std::optional<protocol::StreamPosition> flushed() const { return durable_; }
  std::optional<protocol::Lsn> server_wal_end() const { return server_wal_end_; }
  std::optional<protocol::PgTimestamp> server_send_time() const { return server_send_time_; }
  // The timeline being (or last) streamed; 0 before the first COPY.
  protocol::TimelineId timeline() const { return timeline_; }
  bool streaming() const { return streaming_; }
  std::uint64_t reconnects() const { return reconnects_; }
  std::uint64_t segments_completed() const { return segments_completed_; }
  std::uint64_t segments_compressed() const { return segments_compressed_; }
  std::uint64_t files_uploaded() const { return files_uploaded_; }
  std::size_t spool_waiting() const { return spool_waiting_; }
  bool spool_full() const { return spool_full_; }
  std::uint64_t spool_full_times() const { return spool_full_times_; }
  std::uint64_t upload_retries() const { return upload_retries_; }
  std::optional<std::chrono::system_clock::time_point> last_error() const { return last_error_; }
  const Histogram& fdatasync_seconds() const { return fdatasync_seconds_; }
  const Histogram& write_batch_bytes() const { return write_batch_bytes_; }

  std::uint64_t lag_bytes() const;
  double lag_seconds(std::chrono::system_clock::time_point now) const;

  // Samples kept for lag_seconds (bounded; see thin_samples()).
  static constexpr std::size_t kMaxSamples = 512;

 private:
  // The server's WAL end at the moment it sent a message.
  struct Sample {
    protocol::Lsn wal_end;
    protocol::PgTimestamp send_time = 0;
  };
  void on_server_position(protocol::Lsn wal_end, protocol::PgTimestamp send_time);
  // Full: every other sample goes (the oldest and newest stay). With the
  // spacing that grows with the span, the samples cover any lag with a
  // resolution of about 1/256 of it.
  void thin_samples();

  std::uint64_t received_bytes_ = 0;
  std::uint64_t flushed_bytes_ = 0;
  std::optional<protocol::Lsn> received_;
  std::optional<protocol::StreamPosition> durable_;
  // Where the stream first started on the current timeline ([0]) and on the
  // one before ([1]): what is made durable on a timeline counts from there
  // until a durable position on it is known (a sync of the old timeline may
  // complete after the new one started).
  std::array<std::optional<protocol::StreamPosition>, 2> timeline_starts_;
  std::optional<protocol::Lsn> server_wal_end_;
  std::optional<protocol::PgTimestamp> server_send_time_;
  protocol::TimelineId timeline_ = 0;
  bool streaming_ = false;
  std::uint64_t reconnects_ = 0;
  std::uint64_t segments_completed_ = 0;
  std::uint64_t segments_compressed_ = 0;
  std::uint64_t files_uploaded_ = 0;
  std::size_t spool_waiting_ = 0;
  bool spool_full_ = false;
  std::uint64_t spool_full_times_ = 0;
  std::uint64_t upload_retries_ = 0;
  std::optional<std::chrono::system_clock::time_point> last_error_;
  Histogram fdatasync_seconds_;
  Histogram write_batch_bytes_;

  // Server positions not yet durable here, oldest first: samples_[first_,
  // count_).
  std::array<Sample, kMaxSamples> samples_{};
  std::size_t first_ = 0;
  std::size_t count_ = 0;
  // The send time of the newest sample made durable (or the first one seen).
  std::optional<protocol::PgTimestamp> caught_up_send_time_;
};

}  // namespace walstream::walreceiver
