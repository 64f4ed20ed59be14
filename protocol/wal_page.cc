#include "protocol/wal_page.h"

#include <algorithm>
#include <array>
#include <cstring>

#include "protocol/hex.h"

namespace walstream::protocol {
namespace {

template <typename T>
T load_host(const std::byte* p) {
  T value{};
  std::memcpy(&value, p, sizeof value);
  return value;
}

}  // namespace

std::optional<WalLongPageHeader> parse_long_page_header(ByteView bytes) {
  if (bytes.size() < kWalLongPageHeaderSize) return std::nullopt;
  const std::byte* p = bytes.data();
  WalLongPageHeader header;
  header.magic = load_host<std::uint16_t>(p);
  header.info = load_host<std::uint16_t>(p + 2);
  header.timeline = load_host<std::uint32_t>(p + 4);
  header.page_address = Lsn{load_host<std::uint64_t>(p + 8)};
  header.remaining_length = load_host<std::uint32_t>(p + 16);
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

std::string check_segment_first_page(ByteView bytes, SegmentNo segno, std::uint64_t segment_size,
                                     std::optional<std::uint64_t> system_id) {
  auto header = parse_long_page_header(bytes);
  if (!header) return "shorter than a WAL page header";
  if ((header->info & kXlpLongHeader) == 0) return "no long page header at the segment start";
  const Lsn expected = segment_start_lsn(segno, segment_size);
  if (header->page_address != expected) {
    return "first page is for " + to_string(header->page_address) + ", not " + to_string(expected);
  }
  if (header->segment_size != segment_size) {
    return "segment size " + std::to_string(header->segment_size) + " in its header, expected " +
           std::to_string(segment_size);
  }
  if (header->block_size != kWalPageSize) {
    return "page size " + std::to_string(header->block_size) + " in its header, expected 8192";
  }
  if (system_id && header->system_id != *system_id) {
    return "system identifier " + std::to_string(header->system_id) + " (magic 0x" +
           format_hex(header->magic) + "), expected " + std::to_string(*system_id);
  }
  return {};
}

SegmentPageChecker::SegmentPageChecker(SegmentNo segno, PageCheck check)
    : segno_(segno), check_(check), next_page_(segment_start_lsn(segno, check.segment_size)) {}

std::string SegmentPageChecker::feed(ByteView pages) {
  if (pages.size() % kWalPageSize != 0) return "not a whole number of pages";
  for (std::size_t offset = 0; offset < pages.size(); offset += kWalPageSize) {
    std::string problem = check_page(pages.subspan(offset, kWalPageSize));
    if (!problem.empty()) return problem;
    next_page_.value += kWalPageSize;
  }
  return {};
}

std::string SegmentPageChecker::check_page(ByteView page_bytes) {
  constexpr std::uint16_t kXlpFirstIsContRecord = 0x0001;
  constexpr std::uint16_t kXlpKnownFlags = 0x000F;
  const Lsn page = next_page_;
  const bool first = page.value % check_.segment_size == 0;
  if (first) {
    std::string problem =
        check_segment_first_page(page_bytes, segno_, check_.segment_size, check_.system_id);
    if (!problem.empty()) return problem;
  }
  const bool zero = std::all_of(page_bytes.begin(), page_bytes.end(),
                                [](std::byte b) { return b == std::byte{0}; });
  if (zero && !first) {
    zero_tail_ = true;
    return {};
  }
  if (zero_tail_) {
    return "page at " + to_string(page) + ": data after the zero-filled end of the segment";
  }
  auto header = parse_long_page_header(page_bytes);
  auto fail = [&](const std::string& what) { return "page at " + to_string(page) + ": " + what; };
  if (header->magic != check_.magic) {
    return fail("magic 0x" + format_hex(header->magic) + ", expected 0x" +
                format_hex(check_.magic));
  }
  if ((header->info & ~kXlpKnownFlags) != 0)
    return fail("unknown flag bits 0x" + format_hex(header->info));
  if (header->page_address != page) return fail("page address " + to_string(header->page_address));
  if (header->timeline == 0 || header->timeline < previous_timeline_ ||
      header->timeline > check_.max_timeline) {
    return fail("timeline " + std::to_string(header->timeline) + " out of order");
  }
  previous_timeline_ = header->timeline;
  const bool continued = (header->info & kXlpFirstIsContRecord) != 0;
  if (continued != (header->remaining_length > 0)) {
    return fail("continuation flag and remaining length " +
                std::to_string(header->remaining_length) + " disagree");
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
