// Synthetic WAL for tests: WalBuilder lays out records and page headers as
// PostgreSQL's insertion does, with correct CRCs.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <optional>
#include <vector>

#include "protocol/crc32c.h"
#include "protocol/wal_page.h"
#include "protocol/wal_reader.h"

namespace walstream::test {

using protocol::Lsn;
using protocol::TimelineId;

inline constexpr std::uint64_t kSegmentSize = 1024 * 1024;
inline constexpr std::uint64_t kSystemId = 7301234567890123456ULL;
inline constexpr std::uint16_t kMagic = 0xD110;  // PostgreSQL 15
inline constexpr std::uint64_t kPage = protocol::kWalPageSize;

template <typename T>
inline void store_host(std::byte* p, T value) {
  std::memcpy(p, &value, sizeof value);
}

// Lays out WAL as PostgreSQL's insertion does: MAXALIGN'ed records with
// correct CRCs, a page header on every page (long at segment starts), and
// XLP_FIRST_IS_CONTRECORD + xlp_rem_len where a record continues.
class WalBuilder {
 public:
  explicit WalBuilder(Lsn start, TimelineId timeline = 1, std::uint64_t segment_size = kSegmentSize)
      : start_(start), position_(start), timeline_(timeline), segment_size_(segment_size) {}

  // A record whose body is `body_size` bytes of a pattern; returns its LSN.
  Lsn add_record(std::size_t body_size, std::optional<Lsn> prev_override = std::nullopt,
                 std::uint8_t rmid = 10, std::uint8_t info = 0) {
    std::vector<std::byte> body(body_size);
    for (std::size_t i = 0; i < body_size; ++i) {
      body[i] = static_cast<std::byte>((i * 7 + body_size) & 0xFF);
    }
    return add_record_with_body(body, prev_override, rmid, info);
  }

  // A record with the given body (e.g. content shaped like a workload's).
  Lsn add_record_with_body(ByteView body, std::optional<Lsn> prev_override = std::nullopt,
                           std::uint8_t rmid = 10, std::uint8_t info = 0) {
    std::vector<std::byte> record(protocol::kXLogRecordHeaderSize + body.size());
    std::copy(body.begin(), body.end(),
              record.begin() + static_cast<std::ptrdiff_t>(protocol::kXLogRecordHeaderSize));
    store_host<std::uint32_t>(record.data(), static_cast<std::uint32_t>(record.size()));
    store_host<std::uint32_t>(record.data() + 4, 1234);
    store_host<std::uint64_t>(record.data() + 8, prev_override.value_or(last_record_).value);
    record[16] = static_cast<std::byte>(info);
    record[17] = static_cast<std::byte>(rmid);
    std::uint32_t crc =
        protocol::crc32c_update(protocol::kCrc32cInit, ByteView(record).subspan(24));
    crc = protocol::crc32c_finish(protocol::crc32c_update(crc, ByteView(record).first(20)));
    store_host<std::uint32_t>(record.data() + 20, crc);

    align();
    if (position_.value % kPage == 0) write_page_header(0);
    const Lsn lsn = position_;
    std::size_t done = 0;
    while (done < record.size()) {
      if (position_.value % kPage == 0) write_page_header(record.size() - done);
      const std::size_t space = kPage - position_.value % kPage;
      const std::size_t n = std::min(space, record.size() - done);
      bytes_.insert(bytes_.end(), record.begin() + static_cast<std::ptrdiff_t>(done),
                    record.begin() + static_cast<std::ptrdiff_t>(done + n));
      done += n;
      position_.value += n;
    }
    last_record_ = lsn;
    end_ = position_;
    return lsn;
  }

  // XLOG_SWITCH; the rest of the segment gets page headers and no records.
  Lsn add_switch() {
    const Lsn lsn = add_record(0, std::nullopt, 0, 0x40);
    while (position_.value % segment_size_ != 0) {
      zero_fill_to_page_end();
      if (position_.value % segment_size_ != 0) write_page_header(0);
    }
    return lsn;
  }

  void set_timeline(TimelineId timeline) { timeline_ = timeline; }

  // The WAL, zero-padded to the end of the page plus `zero_pages` pages.
  std::vector<std::byte> bytes(std::size_t zero_pages = 0) const {
    std::vector<std::byte> out = bytes_;
    out.resize((out.size() + kPage - 1) / kPage * kPage + zero_pages * kPage);
    return out;
  }
  Lsn end() const { return end_; }
  Lsn start() const { return start_; }
  std::size_t offset_of(Lsn lsn) const {
    return static_cast<std::size_t>(lsn.value - start_.value);
  }

 private:
  void align() {
    while (position_.value % 8 != 0) put_zero();
  }
  void put_zero() {
    bytes_.push_back(std::byte{0});
    ++position_.value;
  }
  void zero_fill_to_page_end() {
    while (position_.value % kPage != 0) put_zero();
  }
  void write_page_header(std::size_t remaining) {
    const bool long_header = position_.value % segment_size_ == 0;
    std::vector<std::byte> header(long_header ? protocol::kWalLongPageHeaderSize
                                              : protocol::kWalShortPageHeaderSize);
    std::uint16_t info = long_header ? protocol::kXlpLongHeader : 0;
    if (remaining > 0) info |= protocol::kXlpFirstIsContRecord;
    store_host<std::uint16_t>(header.data(), kMagic);
    store_host<std::uint16_t>(header.data() + 2, info);
    store_host<std::uint32_t>(header.data() + 4, timeline_);
    store_host<std::uint64_t>(header.data() + 8, position_.value);
    store_host<std::uint32_t>(header.data() + 16, static_cast<std::uint32_t>(remaining));
    if (long_header) {
      store_host<std::uint64_t>(header.data() + 24, kSystemId);
      store_host<std::uint32_t>(header.data() + 32, static_cast<std::uint32_t>(segment_size_));
      store_host<std::uint32_t>(header.data() + 36, static_cast<std::uint32_t>(kPage));
    }
    bytes_.insert(bytes_.end(), header.begin(), header.end());
    position_.value += header.size();
  }

  Lsn start_;
  Lsn position_;
  Lsn end_;
  Lsn last_record_;
  TimelineId timeline_;
  std::uint64_t segment_size_;
  std::vector<std::byte> bytes_;
};

}  // namespace walstream::test
