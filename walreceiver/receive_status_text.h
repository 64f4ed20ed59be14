// What `walstream receive`'s live status line says, and the receive rate it
// shows. Pure: the caller brings the clock.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "protocol/lsn.h"
#include "walreceiver/receive_stats.h"

namespace walstream::walreceiver {

// The facts of one status line.
struct ReceiveStatus {
  bool streaming = false;
  protocol::TimelineId timeline = 0;
  std::optional<protocol::Lsn> received;
  std::optional<protocol::Lsn> flushed;
  std::uint64_t lag_bytes = 0;
  double lag_seconds = 0;
  // Bytes per second received, over the rate window; nullopt until known.
  std::optional<double> rate;
};

ReceiveStatus receive_status(const ReceiveStats& stats, std::chrono::system_clock::time_point now,
                             std::optional<double> rate);

// "timeline 1: received 0/3A000000, flushed 0/39FF8000, 512.0 kB (0.3 s)
// behind, 45.3 MB/s", "... up to date, ..." when nothing is missing,
// "... reconnecting" between connections, "connecting" before any WAL.
std::string receive_status_text(const ReceiveStatus& status);

// A rate over a sliding window: fed a running total now and then, it divides
// what the total grew by over the last `window` by the time that took.
class RateWindow {
 public:
  explicit RateWindow(std::chrono::steady_clock::duration window = std::chrono::seconds(10))
      : window_(window) {}
  void add(std::chrono::steady_clock::time_point now, std::uint64_t total);
  // Per second; nullopt with fewer than two samples.
  std::optional<double> rate() const;

  static constexpr std::size_t kMaxSamples = 64;

 private:
  struct Sample {
    std::chrono::steady_clock::time_point when;
    std::uint64_t total = 0;
  };
  std::chrono::steady_clock::duration window_;
  // Ring of the newest samples: samples_[(first_ + i) % kMaxSamples], i < count_.
  std::array<Sample, kMaxSamples> samples_{};
  std::size_t first_ = 0;
  std::size_t count_ = 0;
};

}  // namespace walstream::walreceiver
