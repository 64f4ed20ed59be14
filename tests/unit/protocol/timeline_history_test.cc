#include "protocol/timeline_history.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "protocol/error.h"

using namespace walstream::protocol;
using walstream::Error;
using walstream::ErrorKind;

namespace {

struct ValidCase {
  const char* what;
  std::string content;
  TimelineId timeline;
  std::vector<TimelineSwitch> switches;
};

class ValidHistoryTest : public testing::TestWithParam<ValidCase> {};

TEST_P(ValidHistoryTest, Parses) {
  const auto& c = GetParam();
  const TimelineHistory history = parse_timeline_history_content(c.content, c.timeline);
  EXPECT_EQ(history.timeline, c.timeline) << c.what;
  EXPECT_EQ(history.switches, c.switches) << c.what;
}

TEST_P(ValidHistoryTest, SerializesToWhatParsesBack) {
  const auto& c = GetParam();
  const TimelineHistory history = parse_timeline_history_content(c.content, c.timeline);
  const std::string written = serialize_timeline_history(history);
  const TimelineHistory again = parse_timeline_history_content(written, c.timeline);
  EXPECT_EQ(again.switches, history.switches) << c.what << "\n" << written;
}

INSTANTIATE_TEST_SUITE_P(
    Cases, ValidHistoryTest,
    testing::Values(
        ValidCase{"as PostgreSQL writes it",
                  "1\t0/3000158\tno recovery target specified\n",
                  2,
                  {{1, 2, Lsn{0x3000158}, "no recovery target specified"}}},
        ValidCase{"an ancestor skipped, with the blank line PostgreSQL inserts",
                  "1\t0/3000158\tno recovery target specified\n\n3\t1/5000000\tat restore point "
                  "\"x\"\n",
                  5,
                  {{1, 3, Lsn{0x3000158}, "no recovery target specified"},
                   {3, 5, Lsn{0x105000000}, "at restore point \"x\""}}},
        ValidCase{"comments, blank lines and leading white space",
                  "# written by hand\n  \n\t# indented comment\n \t1\t0/3000000\tx\n#\n",
                  2,
                  {{1, 2, Lsn{0x3000000}, "x"}}},
        ValidCase{
            "CRLF line ends",
            "1\t0/3000000\tno recovery target specified\r\n\r\n2\t0/4000000\tr\r\n",
            3,
            {{1, 2, Lsn{0x3000000}, "no recovery target specified"}, {2, 3, Lsn{0x4000000}, "r"}}},
        ValidCase{
            "no newline at the end", "1\t0/3000000\treason", 2, {{1, 2, Lsn{0x3000000}, "reason"}}},
        ValidCase{"no reason", "1\t0/3000000\n", 2, {{1, 2, Lsn{0x3000000}, ""}}},
        ValidCase{"spaces instead of tabs",
                  "1 0/3000000   reason with  spaces  \n",
                  2,
                  {{1, 2, Lsn{0x3000000}, "reason with  spaces"}}},
        ValidCase{"zero-padded switch point (PostgreSQL 18)",
                  "1\t0/03000000\tx\n",
                  2,
                  {{1, 2, Lsn{0x3000000}, "x"}}},
        ValidCase{"two switches at the same point",
                  "1\t0/3000000\ta\n2\t0/3000000\tb\n",
                  3,
                  {{1, 2, Lsn{0x3000000}, "a"}, {2, 3, Lsn{0x3000000}, "b"}}},
        ValidCase{"largest timeline",
                  "4294967294\tFFFFFFFF/FFFFFFFF\tend\n",
                  0xFFFFFFFF,
                  {{0xFFFFFFFE, 0xFFFFFFFF, Lsn{UINT64_MAX}, "end"}}}));

struct InvalidCase {
  const char* what;
  std::string content;
  TimelineId timeline;
  const char* message_part;
};

class InvalidHistoryTest : public testing::TestWithParam<InvalidCase> {};

TEST_P(InvalidHistoryTest, IsRefusedWithAOneLineError) {
  const auto& c = GetParam();
  try {
    parse_timeline_history_content(c.content, c.timeline);
    FAIL() << c.what << ": no error";
  } catch (const Error& e) {
    const std::string message = e.what();
    EXPECT_EQ(e.kind(), ErrorKind::kProtocol) << c.what;
    EXPECT_NE(message.find(c.message_part), std::string::npos) << c.what << ": " << message;
    EXPECT_EQ(message.find('\n'), std::string::npos) << c.what << ": " << message;
    EXPECT_EQ(message.find('\r'), std::string::npos) << c.what << ": " << message;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Cases, InvalidHistoryTest,
    testing::Values(
        InvalidCase{"empty file", "", 2, "no switch is listed"},
        InvalidCase{"only comments", "# nothing\n\n  \n", 2, "no switch is listed"},
        InvalidCase{"text", "hello world\n", 2, "line 1 is not"},
        InvalidCase{"timeline only", "1\n", 2, "line 1 is not"},
        InvalidCase{"timeline and tab only", "1\t\n", 2, "line 1 is not"},
        InvalidCase{"switch point not an LSN", "1\tnot-an-lsn\treason\n", 2, "line 1 is not"},
        InvalidCase{"switch point without its high half", "1\t3000000\treason\n", 2,
                    "line 1 is not"},
        InvalidCase{"switch point with trailing junk", "1\t0/3000000junk\treason\n", 2,
                    "line 1 is not"},
        InvalidCase{"switch point with 0x", "1\t0x0/3000000\treason\n", 2, "line 1 is not"},
        InvalidCase{"no separator", "10/3000000\treason\n", 2, "line 1 is not"},
        InvalidCase{"timeline not a number", "x\t0/1\n", 2, "line 1 is not"},
        InvalidCase{"negative timeline", "-1\t0/1\n", 2, "line 1 is not"},
        InvalidCase{"timeline beyond 32 bits", "4294967296\t0/1\n", 2, "line 1 is not"},
        InvalidCase{"the bad line is named", "1\t0/1\tx\n# c\n\nbad\n", 3, "line 4 is not"},
        InvalidCase{"binary", std::string("\x00\x01\xff\n\x7f", 5), 2, "line 1 is not"},
        InvalidCase{"a backup manifest", "{ \"PostgreSQL-Backup-Manifest-Version\": 1,\n", 2,
                    "line 1 is not"},
        InvalidCase{"timeline 0", "0\t0/1\tx\n", 2, "timeline 0"},
        InvalidCase{"timelines decrease", "2\t0/5\tx\n1\t0/6\tx\n", 3, "must increase"},
        InvalidCase{"timeline repeated", "1\t0/5\tx\n1\t0/6\tx\n", 3, "must increase"},
        InvalidCase{"switch points decrease", "1\t0/6\tx\n2\t0/5\tx\n", 3,
                    "switch point 0/5, before 0/6"},
        InvalidCase{"entry timeline equal to the file's", "2\t0/5\tx\n", 2, "not below 2"},
        InvalidCase{"entry timeline above the file's", "1\t0/5\tx\n3\t0/6\tx\n", 2,
                    "line 2 names timeline 3, which is not below 2"},
        InvalidCase{"timeline 1 has no history file", "1\t0/5\tx\n", 1, "timeline 1"},
        InvalidCase{"timeline 0 has no history file", "", 0, "timeline 0"}));

TEST(TimelineHistoryTest, SerializesAsPostgreSQLWrites) {
  const TimelineHistory history{5,
                                {{1, 3, Lsn{0x3000158}, "no recovery target specified"},
                                 {3, 5, Lsn{0x105000000}, "at restore point \"x\""}}};
  EXPECT_EQ(serialize_timeline_history(history),
            "1\t0/3000158\tno recovery target specified\n"
            "3\t1/5000000\tat restore point \"x\"\n");
}

TEST(TimelineHistoryTest, TimelineAtLsn) {
  const TimelineHistory history =
      parse_timeline_history_content("1\t0/3000000\ta\n3\t0/5000000\tb\n", 5);
  struct Case {
    std::uint64_t lsn;
    TimelineId timeline;
  };
  for (const Case c : {Case{0, 1}, Case{0x2FFFFFF, 1}, Case{0x3000000, 3}, Case{0x4FFFFFF, 3},
                       Case{0x5000000, 5}, Case{UINT64_MAX, 5}}) {
    EXPECT_EQ(history.timeline_at(Lsn{c.lsn}), c.timeline) << std::hex << c.lsn;
  }
  // A timeline that ended where it began holds nothing.
  const TimelineHistory empty_span =
      parse_timeline_history_content("1\t0/3000000\ta\n2\t0/3000000\tb\n", 3);
  EXPECT_EQ(empty_span.timeline_at(Lsn{0x2FFFFFF}), 1U);
  EXPECT_EQ(empty_span.timeline_at(Lsn{0x3000000}), 3U);
  // Timeline 1 has no switches and holds everything.
  EXPECT_EQ(TimelineHistory{}.timeline_at(Lsn{0x3000000}), 1U);
}

TEST(TimelineHistoryTest, SwitchEndingATimeline) {
  const TimelineHistory history =
      parse_timeline_history_content("1\t0/3000000\ta\n3\t0/5000000\tb\n", 5);
  EXPECT_EQ(history.switch_ending(1), (TimelineSwitch{1, 3, Lsn{0x3000000}, "a"}));
  EXPECT_EQ(history.switch_ending(3), (TimelineSwitch{3, 5, Lsn{0x5000000}, "b"}));
  EXPECT_FALSE(history.switch_ending(5).has_value());  // not ended
  EXPECT_FALSE(history.switch_ending(2).has_value());  // not in this history
  EXPECT_FALSE(history.switch_ending(6).has_value());
}

}  // namespace
