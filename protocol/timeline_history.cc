#include "protocol/timeline_history.h"

#include <charconv>
#include <system_error>

#include "protocol/error.h"
#include "protocol/quote_untrusted.h"

namespace walstream::protocol {
namespace {

// White space as isspace() knows it, minus '\n', which ends lines: a file
// written on Windows (CRLF) or with spaces instead of tabs still parses, as
// it does for PostgreSQL.
bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; }

std::string_view trim_leading(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size() && is_blank(text[i])) ++i;
  return text.substr(i);
}

std::string_view trim_trailing(std::string_view text) {
  std::size_t n = text.size();
  while (n > 0 && is_blank(text[n - 1])) --n;
  return text.substr(0, n);
}

// Splits off the leading run of non-blank characters.
std::string_view take_field(std::string_view& text) {
  std::size_t n = 0;
  while (n < text.size() && !is_blank(text[n])) ++n;
  const std::string_view field = text.substr(0, n);
  text.remove_prefix(n);
  return field;
}

std::optional<TimelineId> parse_timeline(std::string_view text) {
  // Digits only: from_chars alone would accept nothing else, but say so.
  if (text.empty() || text.find_first_not_of("0123456789") != std::string_view::npos) {
    return std::nullopt;
  }
  TimelineId value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size()) return std::nullopt;
  return value;
}

class HistoryParser {
 public:
  explicit HistoryParser(TimelineId timeline) { history_.timeline = timeline; }

  void line(std::string_view text) {
    ++number_;
    const std::string_view content = trim_leading(text);
    if (content.empty() || content.front() == '#') return;

    std::string_view rest = content;
    const auto timeline = parse_timeline(take_field(rest));
    const bool separated = !rest.empty();
    rest = trim_leading(rest);
    // The switch point ends at white space (the reason follows) or at the
    // end of the line, so "0/3000000junk" is not a switch point.
    const auto switch_point = parse_lsn(take_field(rest));
    if (!timeline || !separated || !switch_point) {
      fail("is not \"timeline<TAB>switch point<TAB>reason\": " +
           quote_untrusted(trim_trailing(text)));
    }
    if (*timeline == 0) fail("names timeline 0, which does not exist");
    if (*timeline >= history_.timeline) {
      fail("names timeline " + std::to_string(*timeline) + ", which is not below " +
           std::to_string(history_.timeline));
    }
    if (!history_.switches.empty()) {
      const TimelineSwitch& previous = history_.switches.back();
      if (*timeline <= previous.ended_timeline) {
        fail("names timeline " + std::to_string(*timeline) + " after timeline " +
             std::to_string(previous.ended_timeline) + "; timelines must increase");
      }
      if (*switch_point < previous.next_timeline_start) {
        fail("has switch point " + to_string(*switch_point) + ", before " +
             to_string(previous.next_timeline_start) + " of the line before");
      }
    }
    history_.switches.push_back(TimelineSwitch{*timeline, 0, *switch_point,
                                               std::string(trim_trailing(trim_leading(rest)))});
  }

  TimelineHistory finish() && {
    if (history_.switches.empty()) {
      throw ProtocolError("invalid timeline history of timeline " +
                          std::to_string(history_.timeline) +
                          ": no switch is listed (the file is empty or only comments)");
    }
    // Each switch leads to the timeline of the next line, the last one to
    // the file's own timeline.
    for (std::size_t i = 0; i + 1 < history_.switches.size(); ++i) {
      history_.switches[i].next_timeline = history_.switches[i + 1].ended_timeline;
    }
    history_.switches.back().next_timeline = history_.timeline;
    return std::move(history_);
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw ProtocolError("invalid timeline history of timeline " +
                        std::to_string(history_.timeline) + ": line " + std::to_string(number_) +
                        " " + what);
  }

  TimelineHistory history_;
  int number_ = 0;
};

}  // namespace

TimelineId TimelineHistory::timeline_at(Lsn lsn) const {
  // Switch points never decrease, so the first switch after `lsn` ended the
  // timeline that holds it.
  for (const TimelineSwitch& entry : switches) {
    if (lsn < entry.next_timeline_start) return entry.ended_timeline;
  }
  return timeline;
}

std::optional<TimelineSwitch> TimelineHistory::switch_ending(TimelineId ended) const {
  for (const TimelineSwitch& entry : switches) {
    if (entry.ended_timeline == ended) return entry;
  }
  return std::nullopt;
}

TimelineHistory parse_timeline_history_content(std::string_view content, TimelineId timeline) {
  if (timeline < 2) {
    throw ProtocolError("there is no timeline history of timeline " + std::to_string(timeline) +
                        "; history files begin with timeline 2");
  }
  HistoryParser parser(timeline);
  while (!content.empty()) {
    const std::size_t end = content.find('\n');
    parser.line(content.substr(0, end));
    content.remove_prefix(end == std::string_view::npos ? content.size() : end + 1);
  }
  return std::move(parser).finish();
}

std::string serialize_timeline_history(const TimelineHistory& history) {
  std::string out;
  for (const TimelineSwitch& entry : history.switches) {
    out += std::to_string(entry.ended_timeline) + "\t" + to_string(entry.next_timeline_start) +
           "\t" + entry.reason + "\n";
  }
  return out;
}

}  // namespace walstream::protocol
