#include "walreceiver/receive_status_text.h"

#include <cstdio>

#include "walreceiver/progress_text.h"

namespace walstream::walreceiver {

namespace {

std::string seconds_text(double seconds) {
  char text[32];
  std::snprintf(text, sizeof text, seconds < 10 ? "%.1f s" : "%.0f s", seconds);
  return text;
}

}  // namespace

ReceiveStatus receive_status(const ReceiveStats& stats, std::chrono::system_clock::time_point now,
                             std::optional<double> rate) {
  ReceiveStatus status;
  status.streaming = stats.streaming();
  status.timeline = stats.timeline();
  status.received = stats.received_lsn();
  if (stats.flushed()) status.flushed = stats.flushed()->lsn;
  status.lag_bytes = stats.lag_bytes();
  status.lag_seconds = stats.lag_seconds(now);
  status.rate = rate;
  return status;
}

std::string receive_status_text(const ReceiveStatus& status) {
  if (status.timeline == 0) return "connecting";
  std::string text = "timeline " + std::to_string(status.timeline) + ": ";
  if (!status.received && !status.flushed) {
    return text + (status.streaming ? "waiting for WAL" : "reconnecting");
  }
  text += "received " + (status.received ? protocol::to_string(*status.received) : "-");
  text += ", flushed " + (status.flushed ? protocol::to_string(*status.flushed) : "-");
  if (!status.streaming) return text + ", reconnecting";
  if (status.lag_bytes == 0) {
    text += ", up to date";
  } else {
    text +=
        ", " + pretty_size(status.lag_bytes) + " (" + seconds_text(status.lag_seconds) + ") behind";
  }
  if (status.rate) text += ", " + pretty_size(static_cast<std::uint64_t>(*status.rate)) + "/s";
  return text;
}

void RateWindow::add(std::chrono::steady_clock::time_point now, std::uint64_t total) {
  if (count_ == kMaxSamples) {
    first_ = (first_ + 1) % kMaxSamples;
    --count_;
  }
  samples_[(first_ + count_) % kMaxSamples] = Sample{now, total};
  ++count_;
  // Keep one sample at or before the window's start, so the rate spans the
  // whole window once there is one.
  while (count_ >= 2 && samples_[(first_ + 1) % kMaxSamples].when <= now - window_) {
    first_ = (first_ + 1) % kMaxSamples;
    --count_;
  }
}

std::optional<double> RateWindow::rate() const {
  if (count_ < 2) return std::nullopt;
  const Sample& oldest = samples_[first_];
  const Sample& newest = samples_[(first_ + count_ - 1) % kMaxSamples];
  const double seconds = std::chrono::duration<double>(newest.when - oldest.when).count();
  if (seconds <= 0) return std::nullopt;
  const std::uint64_t grown = newest.total > oldest.total ? newest.total - oldest.total : 0;
  return static_cast<double>(grown) / seconds;
}

}  // namespace walstream::walreceiver
