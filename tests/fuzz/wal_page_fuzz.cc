// Fuzz target for the WAL page header rules (protocol/wal_page.h). The input
// starts with the rules, then the pages:
//   byte  segment size: 1 MiB << (b % 11)
//   byte  magic: 0 unchecked, else the magic of major 10 + (b % 9)
//   byte  flags: 1 system identifier follows, 2 zero pages end the WAL (else
//         they are a segment tail), 4 a timeline list follows
//   byte  newest timeline allowed (0: any)
//   [8    system identifier, little-endian]
//   [byte count (b % 4), then that many timeline bytes]
//   4     segment number, little-endian
//   2     where the first page sits: n % pages-per-segment pages before the
//         end of its segment (0: at the segment start), little-endian, so
//         that a few pages reach the next segment's first page
//   ...   the pages, 8192 bytes each (the last one may be short)
// Every page the checker accepts must satisfy each rule on its own (checked
// here from the raw bytes), every page it calls zero must be zero, every
// problem must be a printable line; the first page of a segment accepted by
// check_segment_first_page must be that segment's; and SegmentPageChecker must
// find the same first problem whether fed all pages at once or one by one.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "protocol/bytes.h"
#include "protocol/lsn.h"
#include "protocol/wal_page.h"
#include "tests/fuzz/fuzz_support.h"

namespace {

using walstream::ByteView;
using walstream::load_host;
using walstream::fuzz::check;
using walstream::fuzz::FuzzInput;
using namespace walstream::protocol;

void check_problem(const std::string& problem) {
  check(!problem.empty() && problem.size() <= walstream::fuzz::kMaxErrorMessageLength);
  for (char c : problem) check(c >= 0x20 && c < 0x7f);
}

bool all_zero(ByteView bytes) {
  return std::all_of(bytes.begin(), bytes.end(), [](std::byte b) { return b == std::byte{0}; });
}

void check_long_header_parse(ByteView bytes) {
  const auto header = parse_long_page_header(bytes);
  check(header.has_value() == (bytes.size() >= kWalLongPageHeaderSize));
  if (!header) return;
  const std::byte* p = bytes.data();
  check(header->magic == load_host<std::uint16_t>(p));
  check(header->info == load_host<std::uint16_t>(p + 2));
  check(header->timeline == load_host<std::uint32_t>(p + 4));
  check(header->page_address.value == load_host<std::uint64_t>(p + 8));
  check(header->remaining_length == load_host<std::uint32_t>(p + 16));
  check(header->system_id == load_host<std::uint64_t>(p + 24));
  check(header->segment_size == load_host<std::uint32_t>(p + 32));
  check(header->block_size == load_host<std::uint32_t>(p + 36));
}

// Runs PageHeaderChecker over the pages from `first_page` on, checking each
// verdict against the rules read straight off the bytes.
void check_pages(const PageHeaderRules& rules, Lsn first_page, ByteView pages) {
  PageHeaderChecker checker(rules);
  std::optional<std::uint64_t> system_id = rules.system_id;
  TimelineId latest = 0;
  bool zero_tail = false;
  Lsn lsn = first_page;
  for (std::size_t offset = 0; offset < pages.size(); offset += kWalPageSize) {
    const ByteView page = pages.subspan(offset, std::min(kWalPageSize, pages.size() - offset));
    const bool segment_start = lsn.value % rules.segment_size == 0;
    if (segment_start) zero_tail = false;
    const PageHeaderCheck result = checker.check(lsn, page);
    switch (result.kind) {
      case PageHeaderCheck::Kind::kZero:
        check(all_zero(page) && result.problem.empty());
        check(rules.zero_pages == ZeroPages::kEndOfWal || !segment_start);
        zero_tail = rules.zero_pages == ZeroPages::kSegmentTail;
        break;
      case PageHeaderCheck::Kind::kInvalid:
        check_problem(result.problem);
        break;
      case PageHeaderCheck::Kind::kValid: {
        check(result.problem.empty() && !zero_tail);
        const WalLongPageHeader& header = result.header;
        const bool long_header = (header.info & kXlpLongHeader) != 0;
        check(page.size() >= (long_header ? kWalLongPageHeaderSize : kWalShortPageHeaderSize));
        check(result.header_size ==
              (long_header ? kWalLongPageHeaderSize : kWalShortPageHeaderSize));
        check(header.magic == load_host<std::uint16_t>(page.data()));
        check(!rules.magic || header.magic == *rules.magic);
        check((header.info & ~kXlpAllFlags) == 0);
        check(header.page_address == lsn);
        check(header.page_address.value == load_host<std::uint64_t>(page.data() + 8));
        check(header.timeline != 0 && header.timeline >= latest);
        check(rules.newest_timeline == 0 || header.timeline <= rules.newest_timeline);
        check(rules.timelines.empty() || std::find(rules.timelines.begin(), rules.timelines.end(),
                                                   header.timeline) != rules.timelines.end());
        check(((header.info & kXlpFirstIsContRecord) != 0) == (header.remaining_length != 0));
        check(long_header || !segment_start);
        if (long_header) {
          check(header.segment_size == rules.segment_size);
          check(header.block_size == kWalPageSize);
          check(!system_id || header.system_id == *system_id);
          system_id = header.system_id;
        }
        latest = header.timeline;
        break;
      }
    }
    // Learned from the first accepted long header, never changed after.
    check(checker.system_id() == system_id);
    lsn.value += kWalPageSize;
  }
}

void check_first_page(ByteView page, SegmentNo segno, const PageHeaderRules& rules) {
  const std::string problem =
      check_segment_first_page(page, segno, rules.segment_size, rules.system_id);
  if (!problem.empty()) {
    check_problem(problem);
    return;
  }
  const auto header = parse_long_page_header(page);
  check(header && (header->info & kXlpLongHeader) != 0);
  check(header->page_address == segment_start_lsn(segno, rules.segment_size));
  check(header->segment_size == rules.segment_size && header->block_size == kWalPageSize);
  check(!rules.system_id || header->system_id == *rules.system_id);
  check(header->timeline != 0);
}

void check_segment_checker(ByteView pages, SegmentNo segno, const PageCheck& rules) {
  const std::size_t whole = pages.size() / kWalPageSize * kWalPageSize;
  const ByteView whole_pages = pages.first(whole);
  const std::string at_once = SegmentPageChecker(segno, rules).feed(whole_pages);
  SegmentPageChecker one_by_one(segno, rules);
  std::string first_problem;
  for (std::size_t offset = 0; offset < whole && first_problem.empty(); offset += kWalPageSize) {
    first_problem = one_by_one.feed(whole_pages.subspan(offset, kWalPageSize));
  }
  check(at_once == first_problem);
  if (!at_once.empty()) check_problem(at_once);
  if (whole != pages.size()) {
    check(SegmentPageChecker(segno, rules).feed(pages) == "not a whole number of pages");
  }
  check(!check_segment_pages(whole_pages, segno, rules).empty() || whole == rules.segment_size);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzInput input(data, size);
  PageHeaderRules rules;
  rules.segment_size = std::uint64_t{1} << (20 + input.pick(11));
  if (const std::size_t major = input.pick(9); major != 0) {
    rules.magic = xlog_page_magic_for_major(static_cast<int>(10 + major));
    check(rules.magic.has_value());
  }
  const std::uint8_t flags = input.byte();
  rules.newest_timeline = input.byte();
  if ((flags & 1) != 0) rules.system_id = input.number<std::uint64_t>();
  rules.zero_pages = (flags & 2) != 0 ? ZeroPages::kEndOfWal : ZeroPages::kSegmentTail;
  if ((flags & 4) != 0) {
    for (std::size_t n = input.pick(4); n > 0; --n) rules.timelines.push_back(input.byte());
  }
  const SegmentNo segno = input.number<std::uint32_t>();
  const std::uint64_t pages_per_segment = rules.segment_size / kWalPageSize;
  const std::uint64_t before_end = input.number<std::uint16_t>() % pages_per_segment;
  const Lsn segment = segment_start_lsn(segno, rules.segment_size);
  const Lsn first_page{before_end == 0
                           ? segment.value
                           : segment.value + (pages_per_segment - before_end) * kWalPageSize};
  const ByteView pages = input.rest();

  check_long_header_parse(pages);
  check_pages(rules, first_page, pages);
  check_first_page(pages.first(std::min(kWalPageSize, pages.size())), segno, rules);
  const PageCheck segment_rules{.magic = rules.magic.value_or(0xD110),
                                .segment_size = rules.segment_size,
                                .system_id = rules.system_id,
                                .max_timeline = rules.newest_timeline};
  check_segment_checker(pages, segno, segment_rules);
  return 0;
}
