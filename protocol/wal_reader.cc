#include "protocol/wal_reader.h"

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "protocol/crc32c.h"
#include "protocol/hex.h"
#include "protocol/wal_page.h"

namespace walstream::protocol {
namespace {

constexpr std::uint64_t kMaxAlign = 8;
// XLOG_SWITCH of resource manager 0 (RM_XLOG_ID): the rest of the segment is
// unused, so the next record starts at the next segment.
constexpr std::uint8_t kXlogSwitchInfo = 0x40;
constexpr std::uint8_t kXlrInfoMask = 0x0F;

constexpr std::uint64_t align_up(std::uint64_t value, std::uint64_t alignment) {
  return (value + alignment - 1) / alignment * alignment;
}

}  // namespace

std::optional<int> server_major_for_xlog_page_magic(std::uint16_t magic) {
  for (int major = 11; major <= 18; ++major) {
    if (xlog_page_magic_for_major(major) == magic) return major;
  }
  return std::nullopt;
}

WalReader::WalReader(WalReaderOptions options)
    : options_(std::move(options)),
      // A reader that follows the records ends valid WAL at a zero page.
      pages_({.magic = options_.page_magic,
              .segment_size = options_.segment_size,
              .system_id = options_.system_id,
              .newest_timeline = 0,
              .timelines = options_.allowed_timelines,
              .zero_pages = ZeroPages::kEndOfWal}),
      page_(kWalPageSize),
      page_lsn_(options_.start) {
  valid_end_ = options_.start;
  if (options_.start.value % kWalPageSize != 0) {
    corrupt(options_.start, "reading must start at a page boundary");
  }
}

WalReaderState WalReader::feed(ByteView bytes) {
  while (!bytes.empty() && state_ == WalReaderState::kReading) {
    const std::size_t n = std::min(bytes.size(), kWalPageSize - page_fill_);
    std::memcpy(page_.data() + page_fill_, bytes.data(), n);
    page_fill_ += n;
    bytes = bytes.subspan(n);
    if (page_fill_ == kWalPageSize) {
      process_page();
      page_lsn_.value += kWalPageSize;
      page_fill_ = 0;
      first_page_ = false;
    }
  }
  return state_;
}

void WalReader::process_page() {
  // The rest of a segment after XLOG_SWITCH is never read by PostgreSQL
  // either, whatever it holds.
  if (expect_ == Expect::kRecordStart && next_record_.value >= page_lsn_.value + kWalPageSize) {
    return;
  }
  const PageHeaderCheck page = pages_.check(page_lsn_, ByteView(page_.data(), page_.size()));
  switch (page.kind) {
    case PageHeaderCheck::Kind::kZero:
      end_of_wal();
      return;
    case PageHeaderCheck::Kind::kInvalid:
      corrupt(page_lsn_, page.problem);
      return;
    case PageHeaderCheck::Kind::kValid:
      break;
  }
  if (!follow_continuation(page.header, page.header_size)) return;
  process_content(page.header_size);
}

// The header passed the page rules; what is left is whether its continuation
// flag and remaining length fit the record being read.
bool WalReader::follow_continuation(const WalLongPageHeader& header, std::size_t header_size) {
  const bool contrecord = (header.info & kXlpFirstIsContRecord) != 0;
  const std::uint32_t remaining = header.remaining_length;
  const Lsn content_start{page_lsn_.value + header_size};
  const bool overwritten = (header.info & kXlpFirstIsOverwriteContRecord) != 0;

  switch (expect_) {
    case Expect::kSkipContinuation:
      if (first_page_) {
        if (contrecord) {
          skip_remaining_ = remaining;
        } else {
          expect_ = Expect::kRecordStart;
          next_record_ = content_start;
        }
      } else if (overwritten && !contrecord) {
        // The record we were skipping was never finished; WAL went on here.
        expect_ = Expect::kRecordStart;
        next_record_ = content_start;
      } else if (!contrecord || remaining != skip_remaining_) {
        corrupt(page_lsn_, "continuation of " + std::to_string(skip_remaining_) +
                               " bytes expected, page header says " + std::to_string(remaining));
        return false;
      }
      break;
    case Expect::kRecordStart:
      if (contrecord) {
        corrupt(page_lsn_, "continuation flag in page header, but no record continues here");
        return false;
      }
      next_record_ = content_start;
      break;
    case Expect::kRecordBytes:
      if (overwritten && !contrecord) {
        // PostgreSQL abandoned the incomplete record at record_start_ and
        // wrote an OVERWRITE_CONTRECORD record here; the next record's
        // xl_prev still points at the last complete one.
        expect_ = Expect::kRecordStart;
        next_record_ = content_start;
        break;
      }
      if (!contrecord) {
        corrupt(record_start_, "record continues on the page at " + to_string(page_lsn_) +
                                   ", but its header has no continuation flag");
        return false;
      }
      if (record_length_ != 0 && remaining != record_length_ - record_have_) {
        corrupt(record_start_, "record length " + std::to_string(record_length_) +
                                   " disagrees with " + std::to_string(remaining) +
                                   " bytes remaining in the page header at " +
                                   to_string(page_lsn_));
        return false;
      }
      break;
  }
  return true;
}

void WalReader::process_content(std::size_t offset) {
  const std::byte* page = page_.data();
  while (offset < kWalPageSize && state_ == WalReaderState::kReading) {
    const std::size_t available = kWalPageSize - offset;
    switch (expect_) {
      case Expect::kSkipContinuation: {
        const std::size_t n =
            static_cast<std::size_t>(std::min<std::uint64_t>(skip_remaining_, available));
        offset += n;
        skip_remaining_ -= n;
        if (skip_remaining_ == 0) {
          valid_end_ = Lsn{page_lsn_.value + offset};
          next_record_ = Lsn{align_up(valid_end_.value, kMaxAlign)};
          expect_ = Expect::kRecordStart;
        }
        break;
      }
      case Expect::kRecordStart: {
        if (options_.stop_at.valid() && next_record_ >= options_.stop_at) {
          reached_stop();
          return;
        }
        if (next_record_.value >= page_lsn_.value + kWalPageSize) return;
        offset = static_cast<std::size_t>(next_record_.value - page_lsn_.value);
        record_start_ = next_record_;
        record_length_ = 0;
        record_have_ = 0;
        body_crc_ = kCrc32cInit;
        expect_ = Expect::kRecordBytes;
        break;
      }
      case Expect::kRecordBytes: {
        if (record_have_ < kXLogRecordHeaderSize) {
          const std::size_t n =
              std::min<std::size_t>(kXLogRecordHeaderSize - record_have_, available);
          std::memcpy(header_ + record_have_, page + offset, n);
          record_have_ += n;
          offset += n;
          if (record_length_ == 0 && record_have_ >= 4) {
            const auto length = load_host<std::uint32_t>(header_);
            if (length == 0) {
              end_of_wal();
              return;
            }
            if (length < kXLogRecordHeaderSize || length > kMaxWalRecordSize) {
              corrupt(record_start_, "invalid record length " + std::to_string(length));
              return;
            }
            record_length_ = length;
          }
          if (record_have_ == kXLogRecordHeaderSize) {
            const Lsn prev{load_host<std::uint64_t>(header_ + 8)};
            if (last_record_.valid() ? prev != last_record_ : prev >= record_start_) {
              corrupt(record_start_,
                      "incorrect prev-link " + to_string(prev) +
                          (last_record_.valid() ? " (expected " + to_string(last_record_) + ")"
                                                : std::string(" (not before the record)")));
              return;
            }
          }
        } else {
          const std::size_t n = static_cast<std::size_t>(
              std::min<std::uint64_t>(record_length_ - record_have_, available));
          body_crc_ = crc32c_update(body_crc_, ByteView(page + offset, n));
          record_have_ += n;
          offset += n;
        }
        if (record_have_ == record_length_) {
          valid_end_ = Lsn{page_lsn_.value + offset};
          finish_record();
        }
        break;
      }
    }
  }
}

void WalReader::finish_record() {
  const std::uint32_t crc = crc32c_finish(crc32c_update(body_crc_, ByteView(header_, 20)));
  const auto stored = load_host<std::uint32_t>(header_ + 20);
  if (crc != stored) {
    corrupt(record_start_, "incorrect record checksum " + format_hex(stored, 8) + " (computed " +
                               format_hex(crc, 8) + ")");
    return;
  }
  ++records_;
  last_record_ = record_start_;
  std::uint64_t next = align_up(valid_end_.value, kMaxAlign);
  const auto info = static_cast<std::uint8_t>(header_[16]);
  const auto rmid = static_cast<std::uint8_t>(header_[17]);
  if (rmid == 0 && (info & ~kXlrInfoMask) == kXlogSwitchInfo) {
    next = align_up(next, options_.segment_size);
  }
  next_record_ = Lsn{next};
  expect_ = Expect::kRecordStart;
  if (options_.stop_at.valid() && next_record_ >= options_.stop_at) reached_stop();
}

void WalReader::corrupt(Lsn lsn, std::string reason) {
  state_ = WalReaderState::kCorrupt;
  problem_ = WalProblem{lsn, std::move(reason)};
}

void WalReader::end_of_wal() { state_ = WalReaderState::kEndOfWal; }

void WalReader::reached_stop() { state_ = WalReaderState::kReachedStop; }

}  // namespace walstream::protocol
