#include "protocol/wal_reader.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <optional>
#include <vector>

#include "protocol/crc32c.h"
#include "protocol/wal_page.h"
#include "tests/support/wal_builder.h"

using namespace walstream;
using namespace walstream::protocol;

namespace {

using namespace walstream::test;

WalReaderOptions options_for(Lsn start, Lsn stop = {}) {
  WalReaderOptions options;
  options.page_magic = kMagic;
  options.segment_size = kSegmentSize;
  options.start = start;
  options.stop_at = stop;
  return options;
}

// Feeds `bytes` in chunks of `chunk` bytes.
WalReader read_all(const std::vector<std::byte>& bytes, WalReaderOptions options,
                   std::size_t chunk = 8192) {
  WalReader reader(std::move(options));
  for (std::size_t i = 0; i < bytes.size() && reader.state() == WalReaderState::kReading;
       i += chunk) {
    reader.feed(ByteView(bytes).subspan(i, std::min(chunk, bytes.size() - i)));
  }
  return reader;
}

const Lsn kSegment1{kSegmentSize};

// ~1.3 segments of records of assorted sizes starting at segment 1.
WalBuilder varied_wal(std::vector<Lsn>* records = nullptr) {
  WalBuilder builder(kSegment1);
  std::size_t size = 3;
  while (builder.end().value < kSegment1.value + kSegmentSize + 300 * 1024) {
    const Lsn lsn = builder.add_record(size);
    if (records) records->push_back(lsn);
    size = (size * 37 + 11) % 20000;
  }
  return builder;
}

TEST(WalReaderTest, ValidStreamAcrossPagesAndSegmentsIsAccepted) {
  std::vector<Lsn> records;
  const WalBuilder builder = varied_wal(&records);
  for (std::size_t chunk : {std::size_t{8192}, std::size_t{1000}, std::size_t{65536 + 5}}) {
    const WalReader reader = read_all(builder.bytes(2), options_for(kSegment1), chunk);
    EXPECT_EQ(reader.state(), WalReaderState::kEndOfWal) << chunk;
    EXPECT_FALSE(reader.problem()) << reader.problem()->reason;
    EXPECT_EQ(reader.record_count(), records.size());
    EXPECT_EQ(reader.last_record(), records.back());
    EXPECT_EQ(reader.end_of_valid_wal(), builder.end());
    EXPECT_EQ(reader.system_id(), kSystemId);
  }
}

TEST(WalReaderTest, WithoutTheLastPageTheReaderWantsMore) {
  const WalBuilder builder = varied_wal();
  std::vector<std::byte> bytes = builder.bytes();
  bytes.resize(bytes.size() - kPage + 100);  // and a partial page is held back
  const WalReader reader = read_all(bytes, options_for(kSegment1));
  EXPECT_EQ(reader.state(), WalReaderState::kReading);
  EXPECT_EQ(reader.fed_up_to(), Lsn{kSegment1.value + bytes.size()});
  EXPECT_LT(reader.end_of_valid_wal(), builder.end());
}

TEST(WalReaderTest, FlippedByteInRecordIsBadChecksumAtThatRecord) {
  std::vector<Lsn> records;
  const WalBuilder builder = varied_wal(&records);
  for (std::size_t which : {std::size_t{5}, records.size() / 2, records.size() - 1}) {
    std::vector<std::byte> bytes = builder.bytes(1);
    const Lsn victim = records[which];
    // A byte in the body (records here have >= 3 body bytes).
    bytes[builder.offset_of(victim) + kXLogRecordHeaderSize + 1] ^= std::byte{0x40};
    const WalReader reader = read_all(bytes, options_for(kSegment1));
    ASSERT_EQ(reader.state(), WalReaderState::kCorrupt);
    EXPECT_EQ(reader.problem()->lsn, victim) << reader.problem()->reason;
    EXPECT_NE(reader.problem()->reason.find("checksum"), std::string::npos);
  }
}

TEST(WalReaderTest, FlippedHeaderByteIsBadChecksum) {
  std::vector<Lsn> records;
  const WalBuilder builder = varied_wal(&records);
  std::vector<std::byte> bytes = builder.bytes(1);
  bytes[builder.offset_of(records[3]) + 4] ^= std::byte{1};  // xl_xid
  const WalReader reader = read_all(bytes, options_for(kSegment1));
  ASSERT_EQ(reader.state(), WalReaderState::kCorrupt);
  EXPECT_EQ(reader.problem()->lsn, records[3]);
}

TEST(WalReaderTest, WrongPrevLink) {
  WalBuilder builder(kSegment1);
  builder.add_record(100);
  const Lsn second = builder.add_record(100);
  const Lsn bad = builder.add_record(100, Lsn{kSegment1.value + 8});
  builder.add_record(100);
  const WalReader reader = read_all(builder.bytes(1), options_for(kSegment1));
  ASSERT_EQ(reader.state(), WalReaderState::kCorrupt);
  EXPECT_EQ(reader.problem()->lsn, bad);
  EXPECT_NE(reader.problem()->reason.find("prev-link"), std::string::npos);
  EXPECT_NE(reader.problem()->reason.find(to_string(second)), std::string::npos);
}

TEST(WalReaderTest, WrongPageAddress) {
  const WalBuilder builder = varied_wal();
  std::vector<std::byte> bytes = builder.bytes(1);
  const std::size_t page = 5 * kPage;
  store_host<std::uint64_t>(bytes.data() + page + 8, kSegment1.value + 77 * kPage);
  const WalReader reader = read_all(bytes, options_for(kSegment1));
  ASSERT_EQ(reader.state(), WalReaderState::kCorrupt);
  EXPECT_EQ(reader.problem()->lsn, Lsn{kSegment1.value + page});
  EXPECT_NE(reader.problem()->reason.find("page address"), std::string::npos);
}

TEST(WalReaderTest, WrongMagic) {
  const WalBuilder builder = varied_wal();
  std::vector<std::byte> bytes = builder.bytes(1);
  const std::size_t page = kSegmentSize;  // first page of the second segment
  store_host<std::uint16_t>(bytes.data() + page, std::uint16_t{0xD10D});
  const WalReader reader = read_all(bytes, options_for(kSegment1));
  ASSERT_EQ(reader.state(), WalReaderState::kCorrupt);
  EXPECT_EQ(reader.problem()->lsn, Lsn{kSegment1.value + page});
  EXPECT_NE(reader.problem()->reason.find("magic"), std::string::npos);
}

TEST(WalReaderTest, SegmentStartNeedsLongHeaderWithRightFields) {
  const WalBuilder builder = varied_wal();
  const Lsn second_segment{2 * kSegmentSize};
  {
    std::vector<std::byte> bytes = builder.bytes(1);
    bytes[kSegmentSize + 2] &= ~std::byte{kXlpLongHeader};
    const WalReader reader = read_all(bytes, options_for(kSegment1));
    ASSERT_EQ(reader.state(), WalReaderState::kCorrupt);
    EXPECT_EQ(reader.problem()->lsn, second_segment);
  }
  {
    std::vector<std::byte> bytes = builder.bytes(1);
    store_host<std::uint64_t>(bytes.data() + kSegmentSize + 24, kSystemId + 1);
    const WalReader reader = read_all(bytes, options_for(kSegment1));
    ASSERT_EQ(reader.state(), WalReaderState::kCorrupt);
    EXPECT_EQ(reader.problem()->lsn, second_segment);
    EXPECT_NE(reader.problem()->reason.find("system identifier"), std::string::npos);
  }
  {
    WalReaderOptions options = options_for(kSegment1);
    options.system_id = kSystemId + 1;
    const WalReader reader = read_all(builder.bytes(1), options);
    ASSERT_EQ(reader.state(), WalReaderState::kCorrupt);
    EXPECT_EQ(reader.problem()->lsn, kSegment1);
  }
}

TEST(WalReaderTest, UnknownFlagBitsAndInconsistentContinuation) {
  const WalBuilder builder = varied_wal();
  {
    std::vector<std::byte> bytes = builder.bytes(1);
    bytes[3 * kPage + 2] |= std::byte{0x10};
    const WalReader reader = read_all(bytes, options_for(kSegment1));
    ASSERT_EQ(reader.state(), WalReaderState::kCorrupt);
    EXPECT_EQ(reader.problem()->lsn, Lsn{kSegment1.value + 3 * kPage});
    EXPECT_NE(reader.problem()->reason.find("info bits"), std::string::npos);
  }
  {
    // xlp_rem_len changed on a page that continues a record.
    std::vector<std::byte> bytes = builder.bytes(1);
    std::size_t page = kPage;
    while ((bytes[page + 2] & std::byte{kXlpFirstIsContRecord}) == std::byte{0}) page += kPage;
    std::uint32_t remaining;
    std::memcpy(&remaining, bytes.data() + page + 16, 4);
    store_host<std::uint32_t>(bytes.data() + page + 16, remaining + 8);
    const WalReader reader = read_all(bytes, options_for(kSegment1));
    ASSERT_EQ(reader.state(), WalReaderState::kCorrupt);
    EXPECT_NE(reader.problem()->reason.find("remaining"), std::string::npos)
        << reader.problem()->reason;
  }
}

TEST(WalReaderTest, RecordSpanningThreePages) {
  WalBuilder builder(kSegment1);
  builder.add_record(100);
  const Lsn big = builder.add_record(2 * kPage + 500);
  const Lsn after = builder.add_record(40);
  ASSERT_EQ((builder.end().value - kSegment1.value) / kPage, 2U);
  const WalReader reader = read_all(builder.bytes(1), options_for(kSegment1));
  EXPECT_EQ(reader.state(), WalReaderState::kEndOfWal);
  EXPECT_EQ(reader.record_count(), 3U);
  EXPECT_EQ(reader.last_record(), after);

  // A flipped byte on the third page is the big record's fault.
  std::vector<std::byte> bytes = builder.bytes(1);
  bytes[2 * kPage + kWalShortPageHeaderSize + 3] ^= std::byte{0xFF};
  const WalReader bad = read_all(bytes, options_for(kSegment1));
  ASSERT_EQ(bad.state(), WalReaderState::kCorrupt);
  EXPECT_EQ(bad.problem()->lsn, big);
}

TEST(WalReaderTest, RecordHeaderSplitAcrossPages) {
  WalBuilder builder(kSegment1);
  // First page content: 8192 - 40 = 8152 bytes; leave 8 bytes for the next
  // record's header, which then continues on page 2.
  builder.add_record(8152 - 8 - 24);
  const Lsn split = builder.add_record(300);
  ASSERT_EQ(split.value % kPage, kPage - 8);
  builder.add_record(10);
  const WalReader reader = read_all(builder.bytes(1), options_for(kSegment1));
  EXPECT_EQ(reader.state(), WalReaderState::kEndOfWal);
  EXPECT_EQ(reader.record_count(), 3U);
}

TEST(WalReaderTest, EndOfWalAtZeroPageAndZeroLength) {
  WalBuilder builder(kSegment1);
  builder.add_record(kPage);  // ends on page 2
  const Lsn last = builder.add_record(kPage - 200);
  const WalReader reader = read_all(builder.bytes(3), options_for(kSegment1));
  EXPECT_EQ(reader.state(), WalReaderState::kEndOfWal);
  EXPECT_EQ(reader.last_record(), last);
  EXPECT_EQ(reader.end_of_valid_wal(), builder.end());
}

TEST(WalReaderTest, IncompleteLastRecordEndsWalAtThePreviousRecord) {
  WalBuilder builder(kSegment1);
  const Lsn first = builder.add_record(50);
  const Lsn first_end = builder.end();
  builder.add_record(3 * kPage);
  std::vector<std::byte> bytes = builder.bytes();
  // Pre-padded file: the record's last page never arrived.
  std::fill(bytes.begin() + 3 * kPage, bytes.end(), std::byte{0});
  bytes.resize(bytes.size() + kPage);
  const WalReader reader = read_all(bytes, options_for(kSegment1));
  EXPECT_EQ(reader.state(), WalReaderState::kEndOfWal);
  EXPECT_EQ(reader.last_record(), first);
  EXPECT_EQ(reader.end_of_valid_wal(), first_end);
}

TEST(WalReaderTest, TooShortRecordLength) {
  std::vector<Lsn> records;
  const WalBuilder builder = varied_wal(&records);
  std::vector<std::byte> bytes = builder.bytes(1);
  store_host<std::uint32_t>(bytes.data() + builder.offset_of(records[7]), 12);
  const WalReader reader = read_all(bytes, options_for(kSegment1));
  ASSERT_EQ(reader.state(), WalReaderState::kCorrupt);
  EXPECT_EQ(reader.problem()->lsn, records[7]);
  EXPECT_NE(reader.problem()->reason.find("record length"), std::string::npos);
}

TEST(WalReaderTest, StartsMidSegmentSkippingAContinuedRecord) {
  WalBuilder builder(kSegment1);
  builder.add_record(100);
  builder.add_record(3 * kPage);  // continues onto pages 1, 2 and 3
  const Lsn next = builder.add_record(64);
  builder.add_record(64);
  const std::vector<std::byte> all = builder.bytes(1);
  const Lsn page2{kSegment1.value + 2 * kPage};
  const std::vector<std::byte> tail(all.begin() + 2 * kPage, all.end());
  const WalReader reader = read_all(tail, options_for(page2));
  EXPECT_EQ(reader.state(), WalReaderState::kEndOfWal);
  EXPECT_EQ(reader.record_count(), 2U);
  EXPECT_EQ(reader.last_record().value, next.value + 64 + 24);
}

TEST(WalReaderTest, StopsAtStopLsn) {
  std::vector<Lsn> records;
  const WalBuilder builder = varied_wal(&records);
  std::vector<std::byte> bytes = builder.bytes(1);
  // Damage after the stop point is not looked at.
  bytes[builder.offset_of(records[21]) + 30] ^= std::byte{1};
  const WalReader reader = read_all(bytes, options_for(kSegment1, records[20]));
  EXPECT_EQ(reader.state(), WalReaderState::kReachedStop);
  EXPECT_EQ(reader.record_count(), 20U);
}

TEST(WalReaderTest, SwitchRecordSkipsToTheNextSegment) {
  WalBuilder builder(kSegment1);
  builder.add_record(100);
  builder.add_switch();
  const Lsn after = builder.add_record(100);
  EXPECT_EQ(after.value, 2 * kSegmentSize + kWalLongPageHeaderSize);
  std::vector<std::byte> bytes = builder.bytes(1);
  // PostgreSQL never reads the pages after a switch; neither do we.
  bytes[kSegmentSize / 2] = std::byte{0x55};
  const WalReader reader = read_all(bytes, options_for(kSegment1));
  EXPECT_EQ(reader.state(), WalReaderState::kEndOfWal);
  EXPECT_EQ(reader.record_count(), 3U);
  EXPECT_EQ(reader.last_record(), after);
}

TEST(WalReaderTest, TimelinesMustNotDecreaseAndBeAllowed) {
  WalBuilder builder(kSegment1, 2);
  builder.add_record(9000);
  builder.set_timeline(1);
  builder.add_record(9000);
  const WalReader reader = read_all(builder.bytes(1), options_for(kSegment1));
  ASSERT_EQ(reader.state(), WalReaderState::kCorrupt);
  EXPECT_NE(reader.problem()->reason.find("timeline"), std::string::npos);

  WalBuilder other(kSegment1, 3);
  other.add_record(50);
  WalReaderOptions options = options_for(kSegment1);
  options.allowed_timelines = {1, 2};
  const WalReader disallowed = read_all(other.bytes(1), options);
  ASSERT_EQ(disallowed.state(), WalReaderState::kCorrupt);
  EXPECT_EQ(disallowed.problem()->lsn, kSegment1);
}

TEST(WalReaderTest, MagicTable) {
  EXPECT_EQ(server_major_for_xlog_page_magic(0xD110), 15);
  EXPECT_EQ(server_major_for_xlog_page_magic(0xD098), 11);
  EXPECT_EQ(server_major_for_xlog_page_magic(0x1234), std::nullopt);
}

}  // namespace
