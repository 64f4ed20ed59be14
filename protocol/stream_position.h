// A position in a WAL stream: an LSN together with the timeline it belongs
// to. A bare LSN is ambiguous once timelines switch: after a switch the stream
// continues on the new timeline from the start of the segment that holds the
// switch point, at LSNs below what was already written on the old one. Every
// durable or reported position is therefore kept as (timeline, LSN).
#pragma once

#include <ostream>
#include <string>

#include "protocol/lsn.h"

namespace walstream::protocol {

struct StreamPosition {
  TimelineId timeline = 0;
  Lsn lsn;

  constexpr bool operator==(const StreamPosition&) const = default;
};

// "0/3000000 on timeline 2", for messages.
inline std::string to_string(const StreamPosition& position) {
  return to_string(position.lsn) + " on timeline " + std::to_string(position.timeline);
}

inline std::ostream& operator<<(std::ostream& out, const StreamPosition& position) {
  return out << to_string(position);
}

}  // namespace walstream::protocol
