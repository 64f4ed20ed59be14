#include "walreceiver/spool_pressure.h"

#include <algorithm>

namespace walstream::walreceiver {

SpoolPressure::SpoolPressure(std::size_t limit)
    : limit_(std::max<std::size_t>(limit, 1)), resume_at_(limit_ / 2) {}

SpoolPressure::Change SpoolPressure::update(std::size_t waiting) {
  if (!full_ && waiting >= limit_) {
    full_ = true;
    return Change::kFull;
  }
  if (full_ && waiting <= resume_at_) {
    full_ = false;
    return Change::kHasRoom;
  }
  return Change::kNone;
}

}  // namespace walstream::walreceiver
