#include "walreceiver/receive_stats.h"

#include <algorithm>
#include <utility>

namespace walstream::walreceiver {

namespace {

// fdatasync of a WAL segment: from a fast NVMe flush to a saturated disk.
std::vector<double> fdatasync_bounds() {
  return {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}

// A write batch holds at most 64 messages of at most 128 kB (8 MiB).
std::vector<double> write_batch_bounds() {
  return {8192, 32768, 131072, 524288, 1048576, 2097152, 4194304, 8388608};
}

// A sample closer to the one before than this adds little: that one stands
// for it, overstating the lag by less than the gap. The gap grows with the
// time the samples span (1/256 of it), so that they cover any lag evenly.
constexpr protocol::PgTimestamp kMinSampleSpacingMicros = 1000;
constexpr protocol::PgTimestamp kSamplesPerSpan = 256;

}  // namespace

Histogram::Histogram(std::vector<double> upper_bounds)
    : upper_bounds_(std::move(upper_bounds)), counts_(upper_bounds_.size() + 1, 0) {}

void Histogram::observe(double value) {
  const auto bucket = std::lower_bound(upper_bounds_.begin(), upper_bounds_.end(), value);
  ++counts_[static_cast<std::size_t>(bucket - upper_bounds_.begin())];
  ++count_;
  sum_ += value;
}

ReceiveStats::ReceiveStats()
    : fdatasync_seconds_(fdatasync_bounds()), write_batch_bytes_(write_batch_bounds()) {}

void ReceiveStats::on_streaming(const protocol::StreamPosition& from) {
  if (!timeline_starts_[0] || timeline_starts_[0]->timeline != from.timeline) {
    timeline_starts_[1] = timeline_starts_[0];
    timeline_starts_[0] = from;
  }
  timeline_ = from.timeline;
  streaming_ = true;
}

void ReceiveStats::on_wal_data(protocol::Lsn start, std::uint64_t size,
                               protocol::Lsn server_wal_end, protocol::PgTimestamp send_time) {
  received_bytes_ += size;
  received_ = protocol::Lsn{start.value + size};
  on_server_position(server_wal_end, send_time);
}

void ReceiveStats::on_keepalive(protocol::Lsn server_wal_end, protocol::PgTimestamp send_time) {
  on_server_position(server_wal_end, send_time);
}

void ReceiveStats::on_server_position(protocol::Lsn wal_end, protocol::PgTimestamp send_time) {
  server_wal_end_ = wal_end;
  server_send_time_ = send_time;
  if (!caught_up_send_time_) caught_up_send_time_ = send_time;
  if (count_ > first_) {
    const Sample& newest = samples_[count_ - 1];
    const protocol::PgTimestamp spacing = std::max(
        kMinSampleSpacingMicros, (newest.send_time - samples_[first_].send_time) / kSamplesPerSpan);
    if (wal_end <= newest.wal_end || send_time < newest.send_time + spacing) return;
  }
  if (count_ == samples_.size()) thin_samples();
  samples_[count_++] = Sample{wal_end, send_time};
}

void ReceiveStats::thin_samples() {
  if (first_ > 0) {
    // Room at the front: move the live samples down.
    std::move(samples_.begin() + static_cast<std::ptrdiff_t>(first_), samples_.end(),
              samples_.begin());
    count_ -= first_;
    first_ = 0;
    return;
  }
  // Keep samples 0, 2, 4, ... and the newest.
  std::size_t kept = 0;
  for (std::size_t i = 0; i + 1 < count_; i += 2) samples_[kept++] = samples_[i];
  samples_[kept++] = samples_[count_ - 1];
  count_ = kept;
}

void ReceiveStats::on_durable(const protocol::StreamPosition& durable) {
  // Bytes from the last durable position on this timeline, or from where the
  // stream started on it.
  std::optional<protocol::Lsn> base;
  if (durable_ && durable_->timeline == durable.timeline) {
    base = durable_->lsn;
  } else {
    for (const auto& start : timeline_starts_) {
      if (start && start->timeline == durable.timeline) base = start->lsn;
    }
  }
  if (base && durable.lsn > *base) flushed_bytes_ += durable.lsn.value - base->value;
  if (!durable_ || durable_->timeline != durable.timeline || durable.lsn > durable_->lsn) {
    durable_ = durable;
  }
  while (first_ < count_ && samples_[first_].wal_end <= durable.lsn) {
    caught_up_send_time_ = samples_[first_].send_time;
    ++first_;
  }
  if (first_ == count_) first_ = count_ = 0;
}

void ReceiveStats::on_fdatasync(std::chrono::nanoseconds took) {
  fdatasync_seconds_.observe(std::chrono::duration<double>(took).count());
}

void ReceiveStats::on_reconnect(std::chrono::system_clock::time_point now) {
  ++reconnects_;
  on_error(now);
}

void ReceiveStats::on_error(std::chrono::system_clock::time_point now) {
  last_error_ = now;
  streaming_ = false;
}

std::uint64_t ReceiveStats::lag_bytes() const {
  if (!server_wal_end_) return 0;
  protocol::Lsn have;
  if (durable_) {
    have = durable_->lsn;
  } else if (timeline_starts_[0]) {
    have = timeline_starts_[0]->lsn;
  }
  return *server_wal_end_ > have ? server_wal_end_->value - have.value : 0;
}

double ReceiveStats::lag_seconds(std::chrono::system_clock::time_point now) const {
  if (lag_bytes() == 0 || !caught_up_send_time_) return 0;
  const double micros = static_cast<double>(protocol::to_pg_timestamp(now) - *caught_up_send_time_);
  return std::max(0.0, micros / 1e6);
}

}  // namespace walstream::walreceiver
