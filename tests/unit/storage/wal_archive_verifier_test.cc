#include "storage/wal_archive_verifier.h"

#include <gtest/gtest.h>

#include <fstream>
#include <string>
#include <vector>

#include "protocol/error.h"
#include "protocol/lsn.h"
#include "protocol/wal_file_names.h"
#include "storage/zstd_archiver.h"
#include "tests/support/temp_dir.h"
#include "tests/support/wal_builder.h"

using namespace walstream;
using namespace walstream::test;
using walstream::test_support::TempDir;

namespace {

void write_bytes(const std::filesystem::path& path, const std::byte* data, std::size_t size) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
}

std::string name(protocol::TimelineId tli, protocol::SegmentNo segno) {
  return protocol::wal_segment_file_name(tli, segno, kSegmentSize);
}

bool mentions(const std::vector<std::string>& problems, const std::string& words) {
  for (const auto& problem : problems) {
    if (problem.find(words) != std::string::npos) return true;
  }
  return false;
}

// Segments 1..4: timeline 1 up to a switch point inside segment 3, then
// timeline 2, as PostgreSQL leaves them after a promotion: 1/1, 1/2,
// 1/3.partial, 2/3 (the parent's WAL up to the switch, then its own) and
// 2/4.partial, plus 00000002.history.
class ArchiveFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    WalBuilder builder(Lsn{kSegmentSize});
    std::size_t size = 50;
    while (builder.end().value < 3 * kSegmentSize + 300 * 1024) {
      records_.push_back(builder.add_record(size));
      size = (size * 31 + 7) % 9000;
    }
    switch_point_ = builder.end();
    builder.set_timeline(2);
    while (builder.end().value < 4 * kSegmentSize + 100 * 1024) {
      records_.push_back(builder.add_record(size));
      size = (size * 31 + 7) % 9000;
    }
    end_ = builder.end();
    bytes_ = builder.bytes();
    bytes_.resize(4 * kSegmentSize);  // pre-padded .partial
    auto segment = [&](int segno) { return bytes_.data() + (segno - 1) * kSegmentSize; };
    const auto& dir = dir_.path();
    write_bytes(dir / name(1, 1), segment(1), kSegmentSize);
    write_bytes(dir / name(1, 2), segment(2), kSegmentSize);
    write_bytes(dir / (name(1, 3) + ".partial"), segment(3), kSegmentSize);
    write_bytes(dir / name(2, 3), segment(3), kSegmentSize);
    write_bytes(dir / (name(2, 4) + ".partial"), segment(4), kSegmentSize);
    std::ofstream(dir / "00000002.history")
        << "1\t" << protocol::to_string(switch_point_) << "\tno recovery target specified\n";
  }

  storage::WalArchiveVerifyResult verify(std::optional<Lsn> from = {}, std::optional<Lsn> to = {}) {
    return storage::verify_wal_archive({dir_.path(), from, to});
  }

  TempDir dir_{"wal-archive-verifier"};
  std::vector<Lsn> records_;
  Lsn switch_point_;
  Lsn end_;
  std::vector<std::byte> bytes_;
};

TEST_F(ArchiveFixture, FollowsTheTimelineSwitch) {
  const auto result = verify();
  EXPECT_TRUE(result.problems.empty()) << result.problems.front();
  EXPECT_EQ(result.from, Lsn{kSegmentSize});
  EXPECT_EQ(result.to, end_);
  EXPECT_EQ(result.records, records_.size());
  EXPECT_EQ(result.server_major, 15);
}

TEST_F(ArchiveFixture, CompressedSegmentsAreRead) {
  storage::compress_segment_file(dir_.path(), name(1, 2), 3);
  storage::compress_segment_file(dir_.path(), name(2, 3), 3);
  ASSERT_FALSE(std::filesystem::exists(dir_.path() / name(1, 2)));
  const auto result = verify();
  EXPECT_TRUE(result.problems.empty()) << result.problems.front();
  EXPECT_EQ(result.records, records_.size());
}

TEST_F(ArchiveFixture, MissingSegmentOfTheNewTimelineIsNamed) {
  std::filesystem::remove(dir_.path() / name(2, 3));
  const auto result = verify();
  ASSERT_EQ(result.problems.size(), 1U);
  EXPECT_TRUE(mentions(result.problems, "\"" + name(2, 3) + "\" is missing"))
      << result.problems.front();
}

TEST_F(ArchiveFixture, FlippedByteNamesRecordAndFile) {
  // A record in the middle of segment 2 with its first 64 bytes on one page.
  Lsn victim;
  for (const Lsn lsn : records_) {
    if (lsn.value > 2 * kSegmentSize + 4000 && lsn.value % kPage + 64 < kPage) {
      victim = lsn;
      break;
    }
  }
  ASSERT_TRUE(victim.valid());
  {
    std::fstream file(dir_.path() / name(1, 2), std::ios::in | std::ios::out | std::ios::binary);
    file.seekp(static_cast<std::streamoff>(victim.value % kSegmentSize + 30));
    file.put('\x7f');
  }
  const auto result = verify();
  ASSERT_EQ(result.problems.size(), 1U);
  EXPECT_TRUE(mentions(result.problems, "invalid WAL at " + protocol::to_string(victim) + " in \"" +
                                            name(1, 2) + "\""))
      << result.problems.front();
}

TEST_F(ArchiveFixture, FromAndTo) {
  const Lsn from{2 * kSegmentSize + 5 * kPage + 100};
  const Lsn to{switch_point_.value + 20000};
  const auto result = verify(from, to);
  EXPECT_TRUE(result.problems.empty()) << result.problems.front();
  EXPECT_EQ(result.from, from);
  EXPECT_EQ(result.to, to);

  const auto beyond = verify({}, Lsn{6 * kSegmentSize});
  EXPECT_FALSE(beyond.problems.empty());
}

TEST_F(ArchiveFixture, AHistoryThatIsNotAHistoryIsAProblem) {
  struct Case {
    const char* content;
    const char* problem;
  };
  for (const Case c :
       {Case{"", "no switch is listed"}, Case{"<html>not found</html>\n", "line 1 is not"},
        Case{"2\t0/3000000\tnot below 2\n", "not below 2"}}) {
    std::ofstream(dir_.path() / "00000002.history", std::ios::trunc) << c.content;
    const auto result = verify();
    ASSERT_EQ(result.problems.size(), 1U) << c.content;
    EXPECT_NE(result.problems[0].find("\"00000002.history\": invalid timeline history"),
              std::string::npos)
        << result.problems[0];
    EXPECT_NE(result.problems[0].find(c.problem), std::string::npos) << result.problems[0];
  }
}

TEST_F(ArchiveFixture, WithoutHistoryOnlyTheNewestTimelineIsFollowed) {
  std::filesystem::remove(dir_.path() / "00000002.history");
  const auto result = verify();
  EXPECT_TRUE(result.problems.empty()) << result.problems.front();
  EXPECT_EQ(result.from, Lsn{3 * kSegmentSize});
}

// With 1 MiB segments names run up to ...00000FFF in each xlogid, beyond
// the ...000000FF that 16 MiB segments end at; they are segments all the same.
TEST(WalArchiveSegmentNamesTest, SegmentNumbersOfOneMiBSegments) {
  for (const protocol::SegmentNo first :
       {protocol::SegmentNo{0x10}, protocol::SegmentNo{0x100}, protocol::SegmentNo{0xFFE}}) {
    TempDir dir{"wal-archive-verifier"};
    WalBuilder builder(protocol::segment_start_lsn(first, kSegmentSize));
    std::uint64_t records = 0;
    while (builder.end().value < builder.start().value + kSegmentSize + 200 * 1024) {
      builder.add_record(100 + records * 37 % 5000);
      ++records;
    }
    std::vector<std::byte> bytes = builder.bytes();
    bytes.resize(2 * kSegmentSize);
    write_bytes(dir.path() / name(1, first), bytes.data(), kSegmentSize);
    write_bytes(dir.path() / (name(1, first + 1) + ".partial"), bytes.data() + kSegmentSize,
                kSegmentSize);

    const auto result = storage::verify_wal_archive({dir.path(), {}, {}});
    EXPECT_TRUE(result.problems.empty()) << name(1, first) << ": " << result.problems.front();
    EXPECT_EQ(result.from, builder.start()) << name(1, first);
    EXPECT_EQ(result.to, builder.end()) << name(1, first);
    EXPECT_EQ(result.records, records) << name(1, first);
  }
}

}  // namespace
