#include "walreceiver/wal_bench_policy.h"

#include <algorithm>

#include "protocol/error.h"

namespace walstream::walreceiver {

WalBenchStart choose_wal_start(WalStartFrom wanted, protocol::TimelineId server_timeline,
                               protocol::Lsn server_position,
                               const std::optional<protocol::StreamPosition>& slot_restart,
                               std::uint64_t segment_size, protocol::Lsn given) {
  if (wanted == WalStartFrom::kGiven) {
    if (given > server_position) {
      throw Error(ErrorKind::kUsage,
                  "--wal-start " + protocol::to_string(given) + " lies beyond the server's WAL (" +
                      protocol::to_string(server_position) + ")",
                  "name a position the server has written, or use --wal-start=retained|current");
    }
    return {{server_timeline, protocol::segment_start(given, segment_size)}, WalStartFrom::kGiven};
  }
  // A restart position on an older timeline lies before the current
  // timeline's switch point: START_REPLICATION on the current timeline
  // refuses it.
  if (wanted == WalStartFrom::kRetained && slot_restart && slot_restart->lsn.valid() &&
      slot_restart->timeline == server_timeline) {
    return {{server_timeline, protocol::segment_start(slot_restart->lsn, segment_size)},
            WalStartFrom::kRetained};
  }
  return {{server_timeline, protocol::segment_start(server_position, segment_size)},
          WalStartFrom::kCurrent};
}

WalBenchPolicy::WalBenchPolicy(WalBenchLimits limits, protocol::StreamPosition start,
                               TimePoint started)
    : limits_(limits),
      position_(start),
      stop_at_(started + limits.duration),
      last_status_(started) {}

void WalBenchPolicy::on_wal(protocol::Lsn data_start, std::size_t payload_bytes) {
  if (data_start != position_.lsn) {
    throw ProtocolError("the server sent WAL from " + protocol::to_string(data_start) +
                        ", expected " + protocol::to_string(position_.lsn));
  }
  ++messages_;
  bytes_ += payload_bytes;
  position_.lsn.value += payload_bytes;
}

void WalBenchPolicy::on_keepalive(bool reply_requested) {
  ++messages_;
  ++keepalives_;
  reply_requested_ = reply_requested_ || reply_requested;
}

std::optional<WalStopReason> WalBenchPolicy::stop_reason(TimePoint now) const {
  if (limits_.max_bytes && bytes_ >= *limits_.max_bytes) return WalStopReason::kBytes;
  if (now >= stop_at_) return WalStopReason::kDuration;
  return std::nullopt;
}

bool WalBenchPolicy::status_due(TimePoint now) const {
  return reply_requested_ || now >= last_status_ + limits_.status_interval;
}

protocol::StandbyStatusUpdate WalBenchPolicy::take_status(TimePoint now) {
  reply_requested_ = false;
  last_status_ = now;
  protocol::StandbyStatusUpdate update;
  if (limits_.report_write) update.write = position_.lsn;
  return update;
}

WalBenchPolicy::TimePoint WalBenchPolicy::next_deadline() const {
  return std::min(stop_at_, last_status_ + limits_.status_interval);
}

}  // namespace walstream::walreceiver
