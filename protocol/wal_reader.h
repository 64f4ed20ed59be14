// A sans-I/O WAL reader for verification: fed consecutive WAL bytes of one
// timeline history, it checks every page header and every record (length,
// prev-link, CRC-32C), and stops at the first bad byte with its LSN and a
// reason, or cleanly at the end of valid WAL (a zeroed page or a zero record
// length after the last record, as in pre-padded .partial segments).
//
// Record layout (host byte order, MAXALIGN 8):
//   offset size field          the CRC covers bytes [24, xl_tot_len) of the
//   0      4    xl_tot_len     record (its pieces joined across pages), then
//   4      4    xl_xid         header bytes [0, 20)
//   8      8    xl_prev
//   16     1    xl_info
//   17     1    xl_rmid
//   20     4    xl_crc
//
// Memory is bounded: bytes are checked as they stream through; a record is
// never buffered whole (only its 24-byte header and a running CRC).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "protocol/bytes.h"
#include "protocol/lsn.h"
#include "protocol/wal_page.h"

namespace walstream::protocol {

inline constexpr std::size_t kXLogRecordHeaderSize = 24;
// PostgreSQL refuses to allocate more for one record (MaxAllocSize).
inline constexpr std::uint32_t kMaxWalRecordSize = (std::uint32_t{1} << 30) - 1;

// The release major whose XLOG_PAGE_MAGIC is `magic` (11..18); nullopt for
// anything else.
std::optional<int> server_major_for_xlog_page_magic(std::uint16_t magic);

// Page headers are checked by PageHeaderChecker (protocol/wal_page.h), with
// all-zero pages as the end of valid WAL; what the reader adds is the
// records, and continuation flags that match the record being read.
struct WalReaderOptions {
  std::uint16_t page_magic = 0;    // xlog_page_magic_for_major(major)
  std::uint64_t segment_size = 0;  // a valid wal_segment_size
  // Where the first fed byte belongs; a page boundary. Reading begins with
  // the first record that starts on that page (a continued record's tail is
  // skipped); the first record's xl_prev cannot be checked.
  Lsn start;
  // Checked against each long page header; when nullopt, the first long
  // header sets it and the others must agree.
  std::optional<std::uint64_t> system_id;
  // Timelines a page may carry; empty allows any. Page timelines must never
  // decrease.
  std::vector<TimelineId> allowed_timelines;
  // Stop once the next record would start at or after this LSN (0: read to
  // the end of the data).
  Lsn stop_at;
};

enum class WalReaderState {
  kReading,      // wants more bytes
  kReachedStop,  // every record before stop_at was valid
  kEndOfWal,     // valid WAL ended (zero page or zero record length)
  kCorrupt,      // see problem()
};

struct WalProblem {
  Lsn lsn;             // the bad record's (or page's) LSN
  std::string reason;  // what is wrong, in a few words
};

class WalReader {
 public:
  explicit WalReader(WalReaderOptions options);

  // Feeds the next bytes, of any length. Returns the state afterwards; bytes
  // fed once the state is no longer kReading are ignored.
  WalReaderState feed(ByteView bytes);

  WalReaderState state() const { return state_; }
  // Set in state kCorrupt.
  const std::optional<WalProblem>& problem() const { return problem_; }
  // The LSN just after the last byte fed.
  Lsn fed_up_to() const { return Lsn{page_lsn_.value + page_fill_}; }
  // Where the last complete record ended (start if there was none); in state
  // kEndOfWal, where valid WAL ends.
  Lsn end_of_valid_wal() const { return valid_end_; }
  // Start of the last complete record; invalid if none.
  Lsn last_record() const { return last_record_; }
  std::uint64_t record_count() const { return records_; }
  // The system identifier from the options or the first long page header.
  std::optional<std::uint64_t> system_id() const { return pages_.system_id(); }

 private:
  enum class Expect {
    kSkipContinuation,  // at the first page: skipping a record begun earlier
    kRecordStart,       // a record starts at next_record_ (after an XLOG_SWITCH record,
                        // at the next segment)
    kRecordBytes,       // inside a record
  };

  void process_page();
  bool follow_continuation(const WalLongPageHeader& header, std::size_t header_size);
  void process_content(std::size_t offset);
  void finish_record();
  void corrupt(Lsn lsn, std::string reason);
  void end_of_wal();
  void reached_stop();

  WalReaderOptions options_;
  WalReaderState state_ = WalReaderState::kReading;
  std::optional<WalProblem> problem_;

  PageHeaderChecker pages_;
  std::vector<std::byte> page_;  // one WAL page, filled by feed()
  Lsn page_lsn_;                 // LSN of page_[0]
  std::size_t page_fill_ = 0;
  bool first_page_ = true;

  Expect expect_ = Expect::kSkipContinuation;
  std::uint64_t skip_remaining_ = 0;  // kSkipContinuation: bytes of the tail left
  Lsn next_record_;                   // kRecordStart: where the next record begins

  // The record being read.
  Lsn record_start_;
  std::uint32_t record_length_ = 0;  // xl_tot_len, once known
  std::uint64_t record_have_ = 0;    // bytes of it seen so far
  std::byte header_[kXLogRecordHeaderSize]{};
  std::uint32_t body_crc_ = 0;

  Lsn last_record_;
  Lsn valid_end_;
  std::uint64_t records_ = 0;
};

}  // namespace walstream::protocol
