// `walstream receive`'s statistics as Prometheus metrics (GET /metrics of
// --metrics-listen), every name prefixed walstream_receive_. Pure: the caller
// brings the clock (for the lag in seconds).
#pragma once

#include <chrono>
#include <string>

#include "walreceiver/receive_stats.h"

namespace walstream::walreceiver {

// Facts that label walstream_receive_info.
struct ReceiveMetricsInfo {
  std::string directory;
  std::string slot;  // "" without -S
};

std::string render_receive_metrics(const ReceiveStats& stats, const ReceiveMetricsInfo& info,
                                   std::chrono::system_clock::time_point now);

}  // namespace walstream::walreceiver
