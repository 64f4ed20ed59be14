// Fuzz target for the timeline history parser. The first byte is the
// timeline whose history the rest is said to be. Parsing must either throw
// walstream::Error (kProtocol) with a printable one-line message, or return a history
// that keeps every promise of the header: timelines increasing and below the
// file's own, switch points non-decreasing, each switch leading to the next
// one's timeline; serializing it parses back to the same history; and the
// lookups agree with the switches.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "protocol/error.h"
#include "protocol/timeline_history.h"
#include "tests/fuzz/fuzz_support.h"

namespace {

using walstream::protocol::Lsn;
using walstream::protocol::TimelineHistory;
using walstream::protocol::TimelineId;

void check(bool condition) {
  if (!condition) std::abort();
}

void check_history(const TimelineHistory& history, TimelineId timeline) {
  check(history.timeline == timeline);
  check(!history.switches.empty());
  for (std::size_t i = 0; i < history.switches.size(); ++i) {
    const auto& entry = history.switches[i];
    check(entry.ended_timeline != 0 && entry.ended_timeline < timeline);
    check(entry.reason.find('\n') == std::string::npos);
    if (i + 1 < history.switches.size()) {
      const auto& next = history.switches[i + 1];
      check(entry.next_timeline == next.ended_timeline);
      check(entry.ended_timeline < next.ended_timeline);
      check(entry.next_timeline_start <= next.next_timeline_start);
    } else {
      check(entry.next_timeline == timeline);
    }
    check(history.switch_ending(entry.ended_timeline) == entry);
    // The switch point belongs to a later timeline than the one it ended.
    check(history.timeline_at(entry.next_timeline_start) > entry.ended_timeline);
    if (entry.next_timeline_start.value > 0) {
      check(history.timeline_at(Lsn{entry.next_timeline_start.value - 1}) <= entry.ended_timeline);
    }
  }
  check(!history.switch_ending(timeline));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const TimelineId timeline = data[0];
  const std::string_view content(reinterpret_cast<const char*>(data + 1), size - 1);
  TimelineHistory history;
  try {
    history = walstream::protocol::parse_timeline_history_content(content, timeline);
  } catch (const walstream::Error& e) {
    walstream::fuzz::check_error(e, walstream::ErrorKind::kProtocol);
    return 0;
  }
  check_history(history, timeline);
  const std::string written = walstream::protocol::serialize_timeline_history(history);
  const TimelineHistory again =
      walstream::protocol::parse_timeline_history_content(written, timeline);
  check(again.switches == history.switches);
  return 0;
}
