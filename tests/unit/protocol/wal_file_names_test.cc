#include "protocol/wal_file_names.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <optional>
#include <string>

#include "protocol/error.h"

using namespace walstream::protocol;

namespace {

constexpr std::uint64_t kMiB = std::uint64_t{1} << 20;
constexpr std::uint64_t kGiB = std::uint64_t{1} << 30;
constexpr std::uint64_t k16MiB = 16 * kMiB;

struct NameCase {
  const char* name;
  WalFileName file;
  std::uint64_t segment_size;
};

class WalFileNameTest : public testing::TestWithParam<NameCase> {};

TEST_P(WalFileNameTest, FormatsAndParses) {
  const auto& c = GetParam();
  EXPECT_EQ(wal_file_name(c.file, c.segment_size), c.name);
  EXPECT_EQ(parse_wal_file_name(c.name, c.segment_size), std::optional<WalFileName>(c.file))
      << c.name;
  // Plain segment names, and only those, also parse as such.
  const auto segment = parse_wal_segment_file_name(c.name, c.segment_size);
  if (c.file.kind == WalFileKind::kSegment) {
    EXPECT_EQ(segment, std::optional<WalFileName>(c.file)) << c.name;
    EXPECT_EQ(wal_segment_file_name(c.file.timeline, c.file.segno, c.segment_size), c.name);
  } else {
    EXPECT_FALSE(segment.has_value()) << c.name;
  }
  if (c.file.kind == WalFileKind::kHistory) {
    EXPECT_EQ(timeline_history_file_name(c.file.timeline), c.name);
  }
}

constexpr auto kSegment = WalFileKind::kSegment;

INSTANTIATE_TEST_SUITE_P(
    EveryKind, WalFileNameTest,
    testing::Values(
        NameCase{"000000010000000000000003", {kSegment, 1, 3}, k16MiB},
        NameCase{"000000010000000000000003.partial", {WalFileKind::kPartialSegment, 1, 3}, k16MiB},
        NameCase{"000000010000000000000003.zst", {WalFileKind::kCompressedSegment, 1, 3}, k16MiB},
        NameCase{
            "000000010000000000000003.zst.tmp", {WalFileKind::kCompressionTemporary, 1, 3}, k16MiB},
        NameCase{"00000002.history", {WalFileKind::kHistory, 2, 0}, k16MiB},
        NameCase{"0000001A.history", {WalFileKind::kHistory, 0x1A, 0}, k16MiB},
        NameCase{"FFFFFFFF.history", {WalFileKind::kHistory, 0xFFFFFFFF, 0}, k16MiB},
        NameCase{"00000002.history.tmp", {WalFileKind::kHistoryTemporary, 2, 0}, k16MiB},
        NameCase{"archive_status/000000010000000000000003.done",
                 {WalFileKind::kArchiveDoneMarker, 1, 3},
                 k16MiB},
        // The same kinds on another timeline and segment size.
        NameCase{
            "0000000A0000000100000FFF.partial", {WalFileKind::kPartialSegment, 0xA, 0x1FFF}, kMiB},
        NameCase{
            "000000020000001600000002.zst", {WalFileKind::kCompressedSegment, 2, 0x5A}, kGiB}));

// Segment numbers split into xlogid and segment as XLogFileName does, which
// depends on the segment size.
INSTANTIATE_TEST_SUITE_P(SegmentNumbers, WalFileNameTest,
                         testing::Values(
                             // 16 MiB: 256 segments per xlogid.
                             NameCase{"000000010000000000000003", {kSegment, 1, 3}, k16MiB},
                             NameCase{"0000000100000001000000FF", {kSegment, 1, 0x1FF}, k16MiB},
                             NameCase{"000000010000000100000000", {kSegment, 1, 0x100}, k16MiB},
                             NameCase{"0000000200000016000000B3",
                                      {kSegment, 2, segment_number(Lsn{0x16B374D848}, k16MiB)},
                                      k16MiB},
                             NameCase{"FFFFFFFFFFFFFFFF000000FF",
                                      {kSegment, 0xFFFFFFFF, 0xFFFFFFFFull * 256 + 0xFF},
                                      k16MiB},
                             // 1 GiB: 4 segments per xlogid.
                             NameCase{"000000010000000000000000", {kSegment, 1, 0}, kGiB},
                             NameCase{"000000010000000000000003", {kSegment, 1, 3}, kGiB},
                             NameCase{"000000010000000100000001", {kSegment, 1, 5}, kGiB},
                             NameCase{"000000010000001600000002",
                                      {kSegment, 1, segment_number(Lsn{0x16B374D848}, kGiB)},
                                      kGiB},
                             // 1 MiB: 4096 segments per xlogid.
                             NameCase{"0000000100000000000001FF", {kSegment, 1, 0x1FF}, kMiB},
                             NameCase{"000000010000000100000000", {kSegment, 1, 0x1000}, kMiB},
                             NameCase{"0000000A0000000100000FFF", {kSegment, 0xA, 0x1FFF}, kMiB}));

struct MalformedCase {
  const char* name;
  std::uint64_t segment_size;
};

class MalformedWalFileNameTest : public testing::TestWithParam<MalformedCase> {};

TEST_P(MalformedWalFileNameTest, IsNotClassified) {
  const auto& c = GetParam();
  EXPECT_FALSE(parse_wal_file_name(c.name, c.segment_size).has_value()) << c.name;
  EXPECT_FALSE(parse_wal_segment_file_name(c.name, c.segment_size).has_value()) << c.name;
}

INSTANTIATE_TEST_SUITE_P(
    Cases, MalformedWalFileNameTest,
    testing::Values(MalformedCase{"", k16MiB}, MalformedCase{"README", k16MiB},
                    // Wrong length.
                    MalformedCase{"00000001000000000000003", k16MiB},
                    MalformedCase{"0000000100000000000000030", k16MiB},
                    MalformedCase{"00000001000000000000003.partial", k16MiB},
                    MalformedCase{"0000002.history", k16MiB},
                    MalformedCase{"000000002.history", k16MiB},
                    // Lower case or not hex.
                    MalformedCase{"00000001000000000000000a", k16MiB},
                    MalformedCase{"0000000a000000000000000A.zst", k16MiB},
                    MalformedCase{"00000001000000000000000G", k16MiB},
                    MalformedCase{"0000000100000000 0000003", k16MiB},
                    MalformedCase{"+00000010000000000000003", k16MiB},
                    MalformedCase{"0000000a.history", k16MiB},
                    MalformedCase{"0x000002.history", k16MiB},
                    // Wrong or doubled suffix, suffix in the wrong case, wrong directory.
                    MalformedCase{"000000010000000000000003.tmp", k16MiB},
                    MalformedCase{"000000010000000000000003.gz", k16MiB},
                    MalformedCase{"000000010000000000000003.PARTIAL", k16MiB},
                    MalformedCase{"000000010000000000000003.partial.zst", k16MiB},
                    MalformedCase{"000000010000000000000003.zst.tmp.tmp", k16MiB},
                    MalformedCase{"000000010000000000000003.done", k16MiB},
                    MalformedCase{"000000010000000000000003.00000028.backup", k16MiB},
                    MalformedCase{"00000002.history.zst", k16MiB},
                    MalformedCase{"00000002.History", k16MiB}, MalformedCase{"00000002", k16MiB},
                    MalformedCase{"archive_status/000000010000000000000003", k16MiB},
                    MalformedCase{"archive_status/000000010000000000000003.ready", k16MiB},
                    MalformedCase{"archive_status/00000002.history.done", k16MiB},
                    MalformedCase{"pg_wal/000000010000000000000003", k16MiB},
                    MalformedCase{"/000000010000000000000003", k16MiB},
                    MalformedCase{"000000010000000000000003 ", k16MiB},
                    // Segment number beyond the segments of one xlogid for the size.
                    MalformedCase{"000000010000000000000100", k16MiB},
                    MalformedCase{"000000010000000000000100.partial", k16MiB},
                    MalformedCase{"archive_status/000000010000000000000100.done", k16MiB},
                    MalformedCase{"000000010000000000000004", kGiB},
                    MalformedCase{"000000010000000000001000", kMiB},
                    // No valid segment size, no segment name.
                    MalformedCase{"000000010000000000000003", 0},
                    MalformedCase{"000000010000000000000003", 3 * kMiB},
                    MalformedCase{"000000010000000000000003.zst", 2 * kGiB}));

TEST(WalFileNamesTest, FormattingNeedsAValidSegmentSize) {
  EXPECT_THROW(wal_segment_file_name(1, 3, 0), walstream::Error);
  EXPECT_THROW(wal_segment_file_name(1, 3, 3 * kMiB), walstream::Error);
  EXPECT_THROW(wal_file_name({WalFileKind::kPartialSegment, 1, 3}, kMiB / 2), walstream::Error);
  // History names have no segment size.
  EXPECT_EQ(wal_file_name({WalFileKind::kHistory, 2, 0}, 0), "00000002.history");
}

TEST(WalFileNamesTest, AnySegmentSizeAcceptsTheNamesOfEverySize) {
  for (std::uint64_t size = kMiB; size <= kGiB; size *= 2) {
    const SegmentNo last_of_first_id = (std::uint64_t{1} << 32) / size - 1;
    for (SegmentNo segno : {SegmentNo{0}, last_of_first_id, last_of_first_id + 1}) {
      const WalFileName file{WalFileKind::kCompressedSegment, 7, segno};
      const std::string name = wal_file_name(file, size);
      const auto parsed = parse_wal_file_name(name, kAnySegmentSize);
      ASSERT_TRUE(parsed.has_value()) << name;
      EXPECT_EQ(parsed->kind, file.kind) << name;
      EXPECT_EQ(parsed->timeline, file.timeline) << name;
    }
  }
}

TEST(WalFileNamesTest, CompressedNamesOfAnyArchiveFile) {
  EXPECT_EQ(compressed_file_name("000000010000000000000003"), "000000010000000000000003.zst");
  EXPECT_EQ(compression_temporary_file_name("000000010000000000000003"),
            "000000010000000000000003.zst.tmp");
  EXPECT_EQ(compressed_file_name("00000002.history"), "00000002.history.zst");
  // What the archiver writes is what the classifier recognises.
  const std::string segment = wal_segment_file_name(1, 3, k16MiB);
  EXPECT_EQ(parse_wal_file_name(compressed_file_name(segment), k16MiB)->kind,
            WalFileKind::kCompressedSegment);
  EXPECT_EQ(parse_wal_file_name(compression_temporary_file_name(segment), k16MiB)->kind,
            WalFileKind::kCompressionTemporary);
}

TEST(WalFileNamesTest, ArchiveStatusDirectory) {
  EXPECT_EQ(kArchiveStatusDirectory, "archive_status");
  const std::string marker = wal_file_name({WalFileKind::kArchiveDoneMarker, 1, 3}, k16MiB);
  EXPECT_TRUE(marker.starts_with(std::string(kArchiveStatusDirectory) + "/")) << marker;
}

}  // namespace
