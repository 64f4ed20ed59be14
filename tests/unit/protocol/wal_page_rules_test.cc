// Every page-header rule run through each of its users: `walstream receive`
// (check_segment_pages, headers only, before the rename), `walstream verify`
// (WalReader, which also reads the records) and the archive scan
// (check_segment_first_page, first pages only, no server version). Where two
// users refuse a page they must say the same words, so a rule cannot drift
// apart between them; where they differ on purpose the row says why.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "protocol/wal_page.h"
#include "protocol/wal_reader.h"
#include "tests/support/wal_builder.h"

using namespace walstream;
using namespace walstream::protocol;
using namespace walstream::test;
using testing::HasSubstr;

namespace {

using Segment = std::vector<std::byte>;

constexpr SegmentNo kSegno = 1;
const Lsn kSegmentStart{kSegno * kSegmentSize};

// Segment 1 full of records. Pages 1 to 3 continue the first record (page
// 3's remaining length is 112); page 4 starts with a fresh record.
Segment records_segment() {
  WalBuilder builder(kSegmentStart);
  builder.add_record(3 * kPage);  // 40 + 24 + 24576 bytes: ends 112 bytes into page 3
  builder.add_record(kPage - kWalShortPageHeaderSize - 112 - kXLogRecordHeaderSize);
  std::size_t size = 100;
  while (builder.end().value < kSegmentStart.value + kSegmentSize + kPage) {
    builder.add_record(size);
    size = (size * 37 + 11) % 5000;
  }
  Segment bytes = builder.bytes();
  bytes.resize(kSegmentSize);
  return bytes;
}

// Segment 1 with an XLOG_SWITCH on page 5: the rest of the segment has page
// headers and no records, as servers before 14 leave it.
Segment switch_segment() {
  WalBuilder builder(kSegmentStart);
  while (builder.end().value < kSegmentStart.value + 5 * kPage + 100) builder.add_record(700);
  builder.add_switch();
  builder.add_record(100);
  Segment bytes = builder.bytes();
  bytes.resize(kSegmentSize);
  return bytes;
}

template <typename T>
void put(Segment& segment, std::size_t page, std::size_t offset, T value) {
  store_host<T>(segment.data() + page * kPage + offset, value);
}

template <typename T>
T get(const Segment& segment, std::size_t page, std::size_t offset) {
  return load_host<T>(segment.data() + page * kPage + offset);
}

void set_info(Segment& segment, std::size_t page, std::uint16_t set, std::uint16_t clear = 0) {
  const auto info = get<std::uint16_t>(segment, page, 2);
  put<std::uint16_t>(segment, page, 2, static_cast<std::uint16_t>((info | set) & ~clear));
}

void zero_from(Segment& segment, std::size_t page) {
  std::fill(segment.begin() + static_cast<std::ptrdiff_t>(page * kPage), segment.end(),
            std::byte{0});
}

Lsn page_lsn(std::size_t page) { return Lsn{kSegmentStart.value + page * kPage}; }

// The three users, configured alike: PG 15 magic, the system identifier
// known, timelines 1 and 2 allowed.
std::string receive(const Segment& segment) {
  return check_segment_pages(segment, kSegno, PageCheck{kMagic, kSegmentSize, kSystemId, 2});
}

std::optional<WalProblem> verify(const Segment& segment) {
  WalReaderOptions options;
  options.page_magic = kMagic;
  options.segment_size = kSegmentSize;
  options.start = kSegmentStart;
  options.system_id = kSystemId;
  options.allowed_timelines = {1, 2};
  WalReader reader(options);
  reader.feed(segment);
  return reader.problem();
}

std::string scan(const Segment& segment) {
  const ByteView first_page = ByteView(segment).first(std::min<std::size_t>(kPage, segment.size()));
  return check_segment_first_page(first_page, kSegno, kSegmentSize, kSystemId);
}

enum class Base { kRecords, kSwitch };

struct Rule {
  const char* name;
  Base base;
  std::function<void(Segment&)> damage;
  std::size_t page;  // the page the problem is found on
  // The words each user's problem contains; nullptr: the user accepts it.
  const char* receive;
  const char* verify;
  const char* scan;
  // Whether the users that refuse the page must say the very same words;
  // not where their options differ on purpose.
  bool same_words;
};

constexpr bool kSame = true;
constexpr bool kOwnWords = false;

void PrintTo(const Rule& rule, std::ostream* out) { *out << rule.name; }

const Rule kRules[] = {
    {"valid", Base::kRecords, [](Segment&) {}, 0, nullptr, nullptr, nullptr, kSame},

    // Magic for the server version. The archive scan does not know the
    // version, so it cannot check the magic.
    {"magic", Base::kRecords, [](Segment& s) { put<std::uint16_t>(s, 5, 0, 0xD10D); }, 5,
     "invalid magic number D10D in page header, expected D110",
     "invalid magic number D10D in page header, expected D110", nullptr, kSame},
    {"magic on the first page", Base::kRecords,
     [](Segment& s) { put<std::uint16_t>(s, 0, 0, 0xD113); }, 0, "invalid magic number D113",
     "invalid magic number D113", nullptr, kSame},

    // Known info flag bits.
    {"unknown flag bit", Base::kRecords, [](Segment& s) { set_info(s, 5, 0x0010); }, 5,
     "unknown flag bits 0010", "unknown flag bits 0010", nullptr, kSame},
    {"unknown flag bit on the first page", Base::kRecords,
     [](Segment& s) { set_info(s, 0, 0x0100); }, 0, "unknown flag bits 0100",
     "unknown flag bits 0100", "unknown flag bits 0100", kSame},

    // The long header of a segment's first page.
    {"no long header at the segment start", Base::kRecords,
     [](Segment& s) { set_info(s, 0, 0, kXlpLongHeader); }, 0,
     "no long page header at the start of a segment",
     "no long page header at the start of a segment",
     "no long page header at the start of a segment", kSame},
    {"system identifier", Base::kRecords,
     [](Segment& s) { put<std::uint64_t>(s, 0, 24, kSystemId + 1); }, 0,
     "system identifier 7301234567890123457 in page header, expected 7301234567890123456",
     "system identifier", "system identifier", kSame},
    {"segment size", Base::kRecords,
     [](Segment& s) { put<std::uint32_t>(s, 0, 32, 16 * 1024 * 1024); }, 0,
     "segment size 16777216 in page header, expected 1048576", "segment size", "segment size",
     kSame},
    {"page size", Base::kRecords, [](Segment& s) { put<std::uint32_t>(s, 0, 36, 4096); }, 0,
     "page size 4096 in page header, expected 8192", "page size", "page size", kSame},
    // A long header elsewhere is checked as well (its fields are record
    // bytes here, so it names another system).
    {"long header in mid-segment", Base::kRecords,
     [](Segment& s) { set_info(s, 5, kXlpLongHeader); }, 5, "system identifier",
     "system identifier", nullptr, kSame},

    // The page's own address.
    {"page address", Base::kRecords,
     [](Segment& s) { put<std::uint64_t>(s, 5, 8, page_lsn(77).value); }, 5,
     "page address 0/19A000 in page header, expected 0/10A000", "page address", nullptr, kSame},
    {"first page of another segment", Base::kRecords,
     [](Segment& s) { put<std::uint64_t>(s, 0, 8, 3 * kSegmentSize); }, 0,
     "first page is for 0/300000, not 0/100000", "first page is for", "first page is for", kSame},

    // Timelines: never 0, never decreasing, never beyond what is allowed
    // (receive: the segment's own timeline and older; verify: the timelines
    // of the history, so the words differ).
    {"timeline rises within the segment", Base::kRecords,
     [](Segment& s) {
       for (std::size_t page = 64; page < kSegmentSize / kPage; ++page) {
         put<std::uint32_t>(s, page, 4, 2);
       }
     },
     0, nullptr, nullptr, nullptr, kSame},
    {"timeline falls", Base::kRecords, [](Segment& s) { put<std::uint32_t>(s, 5, 4, 2); }, 6,
     "out-of-sequence timeline 1 in page header (after 2)", "out-of-sequence timeline 1", nullptr,
     kSame},
    {"timeline not allowed", Base::kRecords, [](Segment& s) { put<std::uint32_t>(s, 5, 4, 3); }, 5,
     "timeline 3 in page header is newer than timeline 2",
     "timeline 3 in page header is not in the timeline history", nullptr, kOwnWords},
    {"timeline 0", Base::kRecords, [](Segment& s) { put<std::uint32_t>(s, 5, 4, 0); }, 5,
     "invalid timeline 0 in page header", "invalid timeline 0 in page header", nullptr, kSame},
    {"timeline 0 on the first page", Base::kRecords,
     [](Segment& s) { put<std::uint32_t>(s, 0, 4, 0); }, 0, "invalid timeline 0",
     "invalid timeline 0", "invalid timeline 0", kSame},

    // The continuation flag agrees with the remaining length.
    {"continuation flag cleared", Base::kRecords,
     [](Segment& s) { set_info(s, 3, 0, kXlpFirstIsContRecord); }, 3,
     "remaining length 112 disagrees with the continuation flag (not set)", "remaining length 112",
     nullptr, kSame},
    {"remaining length without the flag", Base::kRecords,
     [](Segment& s) { put<std::uint32_t>(s, 4, 16, 100); }, 4,
     "remaining length 100 disagrees with the continuation flag (not set)", "remaining length 100",
     nullptr, kSame},
    {"flag without a remaining length", Base::kRecords,
     [](Segment& s) { set_info(s, 4, kXlpFirstIsContRecord); }, 4,
     "remaining length 0 disagrees with the continuation flag (set)", "remaining length 0", nullptr,
     kSame},

    // All-zero pages. Receive sees headers only: zero pages may end a
    // segment (the tail after an XLOG_SWITCH), and then nothing else may
    // follow. Verify follows the records: a zero page is where valid WAL
    // ends, and after a switch record it reads nothing up to the next
    // segment, whatever is there, as PostgreSQL does.
    {"zero tail", Base::kRecords, [](Segment& s) { zero_from(s, 10); }, 0, nullptr, nullptr,
     nullptr, kSame},
    {"data after a zero tail", Base::kRecords,
     [](Segment& s) {
       zero_from(s, 10);
       put<std::uint16_t>(s, 20, 100, 1);
     },
     20, "data after the zero-filled end of the segment", nullptr, nullptr, kSame},
    {"zero first page", Base::kRecords,
     [](Segment& s) { std::fill(s.begin(), s.begin() + kPage, std::byte{0}); }, 0,
     "invalid magic number 0000", nullptr, "no long page header at the start of a segment", kSame},
    {"headers after XLOG_SWITCH (before 14)", Base::kSwitch, [](Segment&) {}, 0, nullptr, nullptr,
     nullptr, kSame},
    {"zeros after XLOG_SWITCH (14 and later)", Base::kSwitch, [](Segment& s) { zero_from(s, 6); },
     0, nullptr, nullptr, nullptr, kSame},
    {"data after the zeros after XLOG_SWITCH", Base::kSwitch,
     [](Segment& s) {
       zero_from(s, 6);
       put<std::uint16_t>(s, 30, 0, kMagic);
     },
     30, "data after the zero-filled end of the segment", nullptr, nullptr, kSame},
};

class WalPageRulesTest : public testing::TestWithParam<Rule> {};

TEST_P(WalPageRulesTest, EachUserAppliesTheRule) {
  const Rule& rule = GetParam();
  static const Segment kRecordsSegment = records_segment();
  static const Segment kSwitchSegment = switch_segment();
  Segment segment = rule.base == Base::kRecords ? kRecordsSegment : kSwitchSegment;
  rule.damage(segment);
  const std::string at = "page at " + to_string(page_lsn(rule.page)) + ": ";

  const std::string received = receive(segment);
  if (rule.receive) {
    EXPECT_THAT(received, HasSubstr(rule.receive));
    EXPECT_EQ(received.rfind(at, 0), 0U) << received;
  } else {
    EXPECT_EQ(received, "");
  }

  const std::optional<WalProblem> verified = verify(segment);
  if (rule.verify) {
    ASSERT_TRUE(verified.has_value());
    EXPECT_EQ(verified->lsn, page_lsn(rule.page)) << verified->reason;
    EXPECT_THAT(verified->reason, HasSubstr(rule.verify));
  } else {
    EXPECT_FALSE(verified.has_value()) << verified->reason;
  }

  const std::string scanned = scan(segment);
  if (rule.scan) {
    EXPECT_THAT(scanned, HasSubstr(rule.scan));
  } else {
    EXPECT_EQ(scanned, "");
  }

  // One rule, one wording.
  if (rule.same_words && rule.receive && rule.verify) {
    EXPECT_EQ(received, at + verified->reason);
  }
  if (rule.same_words && rule.scan && rule.verify) {
    EXPECT_EQ(scanned, verified->reason);
  }
}

INSTANTIATE_TEST_SUITE_P(Rules, WalPageRulesTest, testing::ValuesIn(kRules));

TEST(WalPageRulesTest, BaseSegmentsHaveTheShapeTheRowsAssume) {
  const Segment segment = records_segment();
  EXPECT_NE(get<std::uint16_t>(segment, 3, 2) & kXlpFirstIsContRecord, 0);
  EXPECT_EQ(get<std::uint32_t>(segment, 3, 16), 112U);
  EXPECT_EQ(get<std::uint16_t>(segment, 4, 2) & kXlpFirstIsContRecord, 0);
  EXPECT_EQ(get<std::uint32_t>(segment, 4, 16), 0U);
  const auto last = kSegmentSize / kPage - 1;
  EXPECT_EQ(get<std::uint64_t>(segment, last, 8), page_lsn(last).value);

  // The switch record ends on page 5; pages 6 on have headers and no records.
  const Segment switched = switch_segment();
  EXPECT_EQ(get<std::uint64_t>(switched, 6, 8), page_lsn(6).value);
  EXPECT_EQ(get<std::uint64_t>(switched, last, 8), page_lsn(last).value);
  EXPECT_TRUE(std::all_of(switched.begin() + 6 * kPage + kWalShortPageHeaderSize,
                          switched.begin() + 7 * kPage,
                          [](std::byte b) { return b == std::byte{0}; }));
}

// A verify reader that starts mid-segment learns the system identifier from
// the next long header, as one that starts at a segment does.
TEST(WalPageRulesTest, UnknownSystemIdentifierIsLearnedFromTheFirstLongHeader) {
  PageHeaderRules rules;
  rules.magic = kMagic;
  rules.segment_size = kSegmentSize;
  PageHeaderChecker checker(rules);
  const Segment segment = records_segment();
  EXPECT_EQ(checker.check(kSegmentStart, ByteView(segment).first(kPage)).kind,
            PageHeaderCheck::Kind::kValid);
  EXPECT_EQ(checker.system_id(), kSystemId);
}

TEST(WalPageRulesTest, ShortInputIsNamed) {
  const Segment segment = records_segment();
  EXPECT_EQ(scan(Segment(segment.begin(), segment.begin() + 30)), "shorter than a WAL page header");
  EXPECT_EQ(scan(Segment()), "shorter than a WAL page header");
}

}  // namespace
