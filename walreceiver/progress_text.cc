#include "walreceiver/progress_text.h"

#include <algorithm>
#include <array>
#include <cstdio>

namespace walstream::walreceiver {

std::string pretty_size(std::uint64_t bytes) {
  constexpr std::array<const char*, 5> kUnits = {"bytes", "kB", "MB", "GB", "TB"};
  double value = static_cast<double>(bytes);
  std::size_t unit = 0;
  while (value >= 1024 && unit + 1 < kUnits.size()) {
    value /= 1024;
    ++unit;
  }
  char text[32];
  std::snprintf(text, sizeof text, unit == 0 ? "%.0f %s" : "%.1f %s", value, kUnits[unit]);
  return text;
}

std::string clone_progress_text(std::uint64_t done, std::optional<std::uint64_t> total,
                                std::chrono::steady_clock::duration elapsed, bool finished) {
  const double seconds = std::chrono::duration<double>(elapsed).count();
  const double rate = seconds > 0 ? static_cast<double>(done) / seconds : 0;
  std::string text = pretty_size(done);
  if (total && *total > 0) {
    // The estimate leaves out tar headers: never show more than 100 %.
    const std::uint64_t shown_total = std::max(*total, done);
    text +=
        " of " + pretty_size(shown_total) + " (" + std::to_string(done * 100 / shown_total) + "%)";
  }
  if (seconds > 0) text += ", " + pretty_size(static_cast<std::uint64_t>(rate)) + "/s";
  char when[48];
  if (finished) {
    std::snprintf(when, sizeof when, ", done in %.1f s", seconds);
    text += when;
  } else if (total && *total > done && rate > 0) {
    std::snprintf(when, sizeof when, ", %.0f s left", static_cast<double>(*total - done) / rate);
    text += when;
  }
  return text;
}

}  // namespace walstream::walreceiver
