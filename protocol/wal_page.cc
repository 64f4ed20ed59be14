#include "protocol/wal_page.h"

#include <algorithm>
#include <utility>

#include "protocol/hex.h"

namespace walstream::protocol {
namespace {

// Four upper-case hex digits, as PostgreSQL prints magic numbers and flags.
std::string hex16(std::uint16_t value) { return format_hex(value, 4); }

bool all_zero(ByteView bytes) {
  return std::all_of(bytes.begin(), bytes.end(), [](std::byte b) { return b == std::byte{0}; });
}

// The fields of a short header (the first 24 bytes); the long-header ones
// stay 0.
WalLongPageHeader parse_short_fields(const std::byte* p) {
  WalLongPageHeader header;
  header.magic = load_host<std::uint16_t>(p);
  header.info = load_host<std::uint16_t>(p + 2);
  header.timeline = load_host<std::uint32_t>(p + 4);
  header.page_address = Lsn{load_host<std::uint64_t>(p + 8)};
  header.remaining_length = load_host<std::uint32_t>(p + 16);
  return header;
}

PageHeaderCheck invalid(std::string problem) {
  PageHeaderCheck result;
  result.kind = PageHeaderCheck::Kind::kInvalid;
  result.problem = std::move(problem);
  return result;
}

}  // namespace

std::optional<WalLongPageHeader> parse_long_page_header(ByteView bytes) {
  if (bytes.size() < kWalLongPageHeaderSize) return std::nullopt;
  WalLongPageHeader header = parse_short_fields(bytes.data());
  const std::byte* p = bytes.data();
  header.system_id = load_host<std::uint64_t>(p + 24);
  header.segment_size = load_host<std::uint32_t>(p + 32);
  header.block_size = load_host<std::uint32_t>(p + 36);
  return header;
}

std::optional<std::uint16_t> xlog_page_magic_for_major(int major) {
  // Read off the first WAL page of a fresh cluster of each release.
  switch (major) {
    case 11:
      return 0xD098;
    case 12:
      return 0xD101;
    case 13:
      return 0xD106;
    case 14:
      return 0xD10D;
    case 15:
      return 0xD110;
    case 16:
      return 0xD113;
    case 17:
      return 0xD116;
    case 18:
      return 0xD118;
    default:
      return std::nullopt;
  }
}

PageHeaderChecker::PageHeaderChecker(PageHeaderRules rules) : rules_(std::move(rules)) {}

PageHeaderCheck PageHeaderChecker::check(Lsn page_lsn, ByteView page) {
  const bool segment_start = page_lsn.value % rules_.segment_size == 0;
  if (segment_start) in_zero_tail_ = false;
  const bool zero = !page.empty() && all_zero(page);
  // A zero page at a segment start is a tail of nothing: it fails the
  // header rules below.
  if (zero && (rules_.zero_pages == ZeroPages::kEndOfWal || !segment_start)) {
    in_zero_tail_ = rules_.zero_pages == ZeroPages::kSegmentTail;
    PageHeaderCheck result;
    result.kind = PageHeaderCheck::Kind::kZero;
    return result;
  }
  if (in_zero_tail_) return invalid("data after the zero-filled end of the segment");

  if (page.size() < kWalShortPageHeaderSize) return invalid("shorter than a WAL page header");
  PageHeaderCheck result;
  result.header = parse_short_fields(page.data());
  WalLongPageHeader& header = result.header;
  const bool long_header = (header.info & kXlpLongHeader) != 0;
  result.header_size = long_header ? kWalLongPageHeaderSize : kWalShortPageHeaderSize;

  if (rules_.magic && header.magic != *rules_.magic) {
    return invalid("invalid magic number " + hex16(header.magic) + " in page header, expected " +
                   hex16(*rules_.magic));
  }
  if ((header.info & ~kXlpAllFlags) != 0) {
    return invalid("invalid info bits " + hex16(header.info) +
                   " in page header (unknown flag bits " + hex16(header.info & ~kXlpAllFlags) +
                   ")");
  }
  if (long_header) {
    const auto long_fields = parse_long_page_header(page);
    if (!long_fields) return invalid("shorter than a WAL page header");
    header = *long_fields;
    if (rules_.system_id && header.system_id != *rules_.system_id) {
      return invalid("system identifier " + std::to_string(header.system_id) +
                     " in page header, expected " + std::to_string(*rules_.system_id));
    }
    if (header.segment_size != rules_.segment_size) {
      return invalid("segment size " + std::to_string(header.segment_size) +
                     " in page header, expected " + std::to_string(rules_.segment_size));
    }
    if (header.block_size != kWalPageSize) {
      return invalid("page size " + std::to_string(header.block_size) +
                     " in page header, expected " + std::to_string(kWalPageSize));
    }
  } else if (segment_start) {
    return invalid("no long page header at the start of a segment");
  }
  if (header.page_address != page_lsn) {
    // At a segment start the usual cause is a file under the wrong name.
    return invalid(segment_start ? "first page is for " + to_string(header.page_address) +
                                       ", not " + to_string(page_lsn)
                                 : "page address " + to_string(header.page_address) +
                                       " in page header, expected " + to_string(page_lsn));
  }
  if (std::string problem = check_timeline(header.timeline); !problem.empty()) {
    return invalid(std::move(problem));
  }
  const bool continued = (header.info & kXlpFirstIsContRecord) != 0;
  if (continued != (header.remaining_length != 0)) {
    return invalid("remaining length " + std::to_string(header.remaining_length) +
                   " disagrees with the continuation flag (" + (continued ? "set" : "not set") +
                   ") in page header");
  }

  // Learned only from a page that passed every rule.
  if (long_header && !rules_.system_id) rules_.system_id = header.system_id;
  latest_timeline_ = header.timeline;
  result.kind = PageHeaderCheck::Kind::kValid;
  return result;
}

std::string PageHeaderChecker::check_timeline(TimelineId timeline) const {
  const std::string named = "timeline " + std::to_string(timeline) + " in page header";
  if (timeline == 0) return "invalid " + named;
  if (timeline < latest_timeline_) {
    return "out-of-sequence " + named + " (after " + std::to_string(latest_timeline_) + ")";
  }
  if (rules_.newest_timeline != 0 && timeline > rules_.newest_timeline) {
    return named + " is newer than timeline " + std::to_string(rules_.newest_timeline);
  }
  if (!rules_.timelines.empty() && std::find(rules_.timelines.begin(), rules_.timelines.end(),
                                             timeline) == rules_.timelines.end()) {
    return named + " is not in the timeline history";
  }
  return {};
}

std::string check_segment_first_page(ByteView bytes, SegmentNo segno, std::uint64_t segment_size,
                                     std::optional<std::uint64_t> system_id) {
  // No magic: the archive scan does not know the server version. A zero
  // first page is never a tail, so it fails the header rules.
  PageHeaderChecker checker({.magic = std::nullopt,
                             .segment_size = segment_size,
                             .system_id = system_id,
                             .newest_timeline = 0,
                             .timelines = {},
                             .zero_pages = ZeroPages::kSegmentTail});
  return checker.check(segment_start_lsn(segno, segment_size), bytes).problem;
}

SegmentPageChecker::SegmentPageChecker(SegmentNo segno, const PageCheck& check)
    : checker_({.magic = check.magic,
                .segment_size = check.segment_size,
                .system_id = check.system_id,
                .newest_timeline = check.max_timeline,
                .timelines = {},
                .zero_pages = ZeroPages::kSegmentTail}),
      next_page_(segment_start_lsn(segno, check.segment_size)) {}

std::string SegmentPageChecker::feed(ByteView pages) {
  if (pages.size() % kWalPageSize != 0) return "not a whole number of pages";
  for (std::size_t offset = 0; offset < pages.size(); offset += kWalPageSize) {
    const PageHeaderCheck page = checker_.check(next_page_, pages.subspan(offset, kWalPageSize));
    if (page.kind == PageHeaderCheck::Kind::kInvalid) {
      return "page at " + to_string(next_page_) + ": " + page.problem;
    }
    next_page_.value += kWalPageSize;
  }
  return {};
}

std::string check_segment_pages(ByteView segment, SegmentNo segno, const PageCheck& check) {
  if (segment.size() != check.segment_size) {
    return "segment has " + std::to_string(segment.size()) + " bytes, expected " +
           std::to_string(check.segment_size);
  }
  return SegmentPageChecker(segno, check).feed(segment);
}

}  // namespace walstream::protocol
