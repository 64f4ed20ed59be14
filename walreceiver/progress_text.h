// What progress looks like to a person: sizes as pg_size_pretty prints them,
// and a clone's progress line (bytes done of the total, percent, rate, time
// left). Pure: the caller brings the clock.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

namespace walstream::walreceiver {

// "512 bytes", "1.5 kB", "640.0 MB", "5.0 GB".
std::string pretty_size(std::uint64_t bytes);

// "1.2 GB of 1.5 GB (80%), 410.0 MB/s, 1 s left"; without a total
// "1.2 GB, 410.0 MB/s"; `finished`: "..., done in 3.7 s".
std::string clone_progress_text(std::uint64_t done, std::optional<std::uint64_t> total,
                                std::chrono::steady_clock::duration elapsed, bool finished);

}  // namespace walstream::walreceiver
