// WAL page headers and the rules they follow. Every 8 kB WAL page starts with
// a header naming its own address and timeline; the first page of a segment
// has the long form, which also names the system, the segment size and the
// page size. Fields are in host byte order (little-endian on x86), unlike the
// protocol.
//
//   offset size field            long header only:
//   0      2    xlp_magic        24  8  xlp_sysid
//   2      2    xlp_info         32  4  xlp_seg_size
//   4      4    xlp_tli          36  4  xlp_xlog_blcksz
//   8      8    xlp_pageaddr
//   16     4    xlp_rem_len
//
// The rules live in one place, PageHeaderChecker, used by everything that
// reads WAL: `walstream receive` before a segment gets its final name
// (SegmentPageChecker, headers only), the archive scan (first pages only) and
// `walstream verify` (WalReader, which also reads the records).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "protocol/bytes.h"
#include "protocol/lsn.h"

namespace walstream::protocol {

inline constexpr std::size_t kWalPageSize = 8192;
inline constexpr std::size_t kWalShortPageHeaderSize = 24;
inline constexpr std::size_t kWalLongPageHeaderSize = 40;

// xlp_info flag bits.
inline constexpr std::uint16_t kXlpFirstIsContRecord = 0x0001;
inline constexpr std::uint16_t kXlpLongHeader = 0x0002;
inline constexpr std::uint16_t kXlpBkpRemovable = 0x0004;
inline constexpr std::uint16_t kXlpFirstIsOverwriteContRecord = 0x0008;
inline constexpr std::uint16_t kXlpAllFlags = 0x000F;

struct WalLongPageHeader {
  std::uint16_t magic = 0;
  std::uint16_t info = 0;
  TimelineId timeline = 0;
  Lsn page_address;
  std::uint32_t remaining_length = 0;
  std::uint64_t system_id = 0;
  std::uint32_t segment_size = 0;
  std::uint32_t block_size = 0;
};

// nullopt if fewer than 40 bytes.
std::optional<WalLongPageHeader> parse_long_page_header(ByteView bytes);

// XLOG_PAGE_MAGIC of a release major (11..18); nullopt for others.
std::optional<std::uint16_t> xlog_page_magic_for_major(int major);

// What an all-zero page means to the one reading it.
enum class ZeroPages {
  // Valid WAL ends here: a pre-padded .partial segment, or the end of what
  // was written. For readers that follow the records (verify), which also
  // know where an XLOG_SWITCH leaves the rest of a segment unused.
  kEndOfWal,
  // The unused rest of a segment after an XLOG_SWITCH record (the server
  // zeroes those pages, headers included): allowed after the segment's first
  // page, and then every later page of that segment must be zero too. For
  // checkers that read headers only and so cannot see the switch (receive).
  kSegmentTail,
};

struct PageHeaderRules {
  // XLOG_PAGE_MAGIC of the server (xlog_page_magic_for_major); nullopt: not
  // checked, for callers that do not know the server version.
  std::optional<std::uint16_t> magic;
  std::uint64_t segment_size = 0;  // a valid wal_segment_size
  // Every long header must name this system; nullopt: the first long header
  // sets it.
  std::optional<std::uint64_t> system_id;
  // Page timelines are never 0 and never decrease. Besides, when not 0, no
  // page may carry a timeline newer than this one (receive: the timeline of
  // the segment being written)...
  TimelineId newest_timeline = 0;
  // ...and when not empty, a page's timeline must be one of these (verify:
  // the timelines of the history being followed).
  std::vector<TimelineId> timelines;
  ZeroPages zero_pages = ZeroPages::kSegmentTail;
};

// The outcome of checking one page.
struct PageHeaderCheck {
  enum class Kind {
    kValid,    // see header and header_size
    kZero,     // an all-zero page, as rules.zero_pages allows
    kInvalid,  // see problem
  };
  Kind kind = Kind::kInvalid;
  WalLongPageHeader header;     // the long-header fields are 0 on a short header
  std::size_t header_size = 0;  // kWalShortPageHeaderSize or kWalLongPageHeaderSize
  // What is wrong, in a few words; the caller names the page.
  std::string problem;
};

// Checks page headers against PageHeaderRules: magic, known flag bits, a long
// header at each segment start, the long header's system identifier, segment
// size and page size, the page's own address, its timeline, a remaining
// length that agrees with the continuation flag, and all-zero pages as
// rules.zero_pages says. Continuation flags are checked against the records
// themselves only by a reader that follows them (WalReader).
class PageHeaderChecker {
 public:
  explicit PageHeaderChecker(PageHeaderRules rules);

  // Checks the page that belongs at `page_lsn` (a page boundary): normally
  // kWalPageSize bytes, but a shorter view is checked as far as it goes.
  // Pages come in LSN order; a caller may leave pages out (verify does not
  // read the rest of a segment after XLOG_SWITCH, as PostgreSQL does not).
  PageHeaderCheck check(Lsn page_lsn, ByteView page);

  // The system identifier from the rules or the first long header.
  std::optional<std::uint64_t> system_id() const { return rules_.system_id; }

 private:
  std::string check_timeline(TimelineId timeline) const;

  PageHeaderRules rules_;
  TimelineId latest_timeline_ = 0;
  bool in_zero_tail_ = false;
};

// Checks the first page of segment `segno` as the archive scan does, without
// knowing the server version (no magic) or timelines. Returns "" if it is
// valid, otherwise what is wrong, in a few words.
std::string check_segment_first_page(ByteView bytes, SegmentNo segno, std::uint64_t segment_size,
                                     std::optional<std::uint64_t> system_id);

// The rules `walstream receive` applies to a full segment before it gets its
// final name.
struct PageCheck {
  std::uint16_t magic = 0;  // xlog_page_magic_for_major(major)
  std::uint64_t segment_size = 0;
  std::optional<std::uint64_t> system_id;
  TimelineId max_timeline = 0;  // pages may carry this timeline or older ones
};

// Checks the page headers of one segment as its bytes go by, in any number
// of whole pages at a time (so a caller reading a large segment in pieces
// holds one piece only): PageHeaderChecker with the PageCheck rules, and
// all-zero pages as the tail after an XLOG_SWITCH (ZeroPages::kSegmentTail).
class SegmentPageChecker {
 public:
  SegmentPageChecker(SegmentNo segno, const PageCheck& check);
  // The next pages of the segment, in order (a multiple of kWalPageSize).
  // Returns "" if they are valid, else the first problem with its page's LSN.
  std::string feed(ByteView pages);

 private:
  PageHeaderChecker checker_;
  Lsn next_page_;
};

// SegmentPageChecker over one whole segment (segment_size bytes).
std::string check_segment_pages(ByteView segment, SegmentNo segno, const PageCheck& check);

}  // namespace walstream::protocol
