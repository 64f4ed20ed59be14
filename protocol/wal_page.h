// WAL page headers, the part of the WAL format a receiver checks before it
// gives a segment its final name: every segment starts with a long page
// header naming the system, the segment size and the page's own address.
// Fields are in host byte order (little-endian on x86), unlike the protocol.
//
//   offset size field            long header only:
//   0      2    xlp_magic        24  8  xlp_sysid
//   2      2    xlp_info         32  4  xlp_seg_size
//   4      4    xlp_tli          36  4  xlp_xlog_blcksz
//   8      8    xlp_pageaddr
//   16     4    xlp_rem_len
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "protocol/bytes.h"
#include "protocol/lsn.h"

namespace walstream::protocol {

inline constexpr std::size_t kWalPageSize = 8192;
inline constexpr std::size_t kWalLongPageHeaderSize = 40;
inline constexpr std::uint16_t kXlpLongHeader = 0x0002;

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

// Checks the first page of segment `segno`: long-header flag, page address
// = segment start, segment size, 8 kB pages, and the system identifier when
// known. Returns "" if it is valid, otherwise what is wrong, in a few words.
std::string check_segment_first_page(ByteView bytes, SegmentNo segno, std::uint64_t segment_size,
                                     std::optional<std::uint64_t> system_id);

struct PageCheck {
  std::uint16_t magic = 0;  // xlog_page_magic_for_major(major)
  std::uint64_t segment_size = 0;
  std::optional<std::uint64_t> system_id;
  TimelineId max_timeline = 0;  // pages may carry this timeline or older ones
};

// Checks the page headers of one segment as its bytes go by, in any number
// of whole pages at a time (so a caller reading a large segment in pieces
// holds one piece only): magic, known flag bits, a long header with the right
// system identifier and sizes on the first page, each page's own address,
// timelines that never decrease and never exceed max_timeline, and a
// remaining-length that agrees with the continuation flag. After an
// XLOG_SWITCH record the server leaves the rest of the segment zero-filled:
// once a zero page is seen, every later page must be zero too.
class SegmentPageChecker {
 public:
  SegmentPageChecker(SegmentNo segno, PageCheck check);
  // The next pages of the segment, in order (a multiple of kWalPageSize).
  // Returns "" if they are valid, else the first problem with its page's LSN.
  std::string feed(ByteView pages);

 private:
  std::string check_page(ByteView page_bytes);

  SegmentNo segno_;
  PageCheck check_;
  Lsn next_page_;
  TimelineId previous_timeline_ = 0;
  bool zero_tail_ = false;
};

// SegmentPageChecker over one whole segment (segment_size bytes).
std::string check_segment_pages(ByteView segment, SegmentNo segno, const PageCheck& check);

}  // namespace walstream::protocol
