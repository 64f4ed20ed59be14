// Timeline switches and the content of timeline history files. A history
// file of timeline T has one line per switch on the way to T, oldest first:
//   parentTLI<TAB>switchpoint<TAB>reason
// ("1\t0/3000158\tno recovery target specified"); lines that are empty,
// blank or start with '#' (after leading white space) are skipped, as
// PostgreSQL's readTimeLineHistory skips them. Parsing also checks that the
// file is a history of T at all: see parse_timeline_history_content.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/lsn.h"

namespace walstream::protocol {

// Timeline `ended_timeline` ended at `next_timeline_start` (the switch
// point), where `next_timeline` begins. The same type serves a history
// file's line and the result set the server sends when a streamed timeline
// ends; that result set carries only the next timeline and its start.
struct TimelineSwitch {
  TimelineId ended_timeline = 0;  // 0 when not known
  TimelineId next_timeline = 0;
  Lsn next_timeline_start;
  std::string reason;  // history files only: why the server switched

  bool operator==(const TimelineSwitch&) const = default;
};

// The history of `timeline`: the switches that led to it, oldest first, each
// one's next_timeline the ended_timeline of the one after it and the last
// one's next_timeline `timeline` itself. Timeline 1 has no switches.
struct TimelineHistory {
  TimelineId timeline = 1;
  std::vector<TimelineSwitch> switches;

  // The timeline that holds `lsn`: the one begun at or before it and not
  // ended by then (PostgreSQL's tliOfPointInHistory); `timeline` after the
  // last switch.
  TimelineId timeline_at(Lsn lsn) const;
  // The switch that ended `ended`; nullopt if `ended` is `timeline` (it has
  // not ended) or not in this history at all.
  std::optional<TimelineSwitch> switch_ending(TimelineId ended) const;
};

// Parses the content of timeline `timeline`'s history file. Throws
// walstream::Error (kProtocol) with a one-line message naming the line when
// it is not such a file: a line that is not "TLI<space>X/X[<space>reason]"
// (<space>: any run of blanks, tabs included), a timeline of 0 or not below
// `timeline`, timelines that do not increase, a switch point before the
// previous one, no line at all (every timeline from 2 on begins with a
// switch, which the server writes into the file), or `timeline` below 2
// (timeline 1 has no history file). Lines may end in "\r\n". Stricter than
// PostgreSQL, which ignores what follows a switch point: "0/3000000junk" is
// refused.
TimelineHistory parse_timeline_history_content(std::string_view content, TimelineId timeline);

// The content PostgreSQL would write for `history`: one
// "parentTLI\tX/X\treason\n" line per switch. A history that parsing
// returned parses back to itself; reasons are written as they are (parsing
// returns them on one line, without surrounding white space).
std::string serialize_timeline_history(const TimelineHistory& history);

}  // namespace walstream::protocol
