#include "storage/archive_scan.h"

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "protocol/error.h"
#include "protocol/wal_file_names.h"
#include "storage/zstd_archiver.h"
#include "tests/support/temp_dir.h"

namespace walstream::storage {
namespace {

namespace fs = std::filesystem;
using protocol::Lsn;
using protocol::SegmentNo;
using protocol::TimelineId;
using test_support::TempDir;

constexpr std::uint64_t kSegSize = 1024 * 1024;
constexpr std::uint64_t kSysId = 7301234567890123456ULL;

template <typename T>
void put(std::string& s, std::size_t offset, T value) {
  std::memcpy(s.data() + offset, &value, sizeof value);
}

// A zero-filled segment whose first page has a valid long header (PG 15).
std::string fake_segment(TimelineId tli, SegmentNo segno, std::uint64_t sysid = kSysId) {
  std::string s(kSegSize, '\0');
  put<std::uint16_t>(s, 0, 0xD110);
  put<std::uint16_t>(s, 2, 0x0002);
  put<std::uint32_t>(s, 4, tli);
  put<std::uint64_t>(s, 8, segno * kSegSize);
  put<std::uint32_t>(s, 16, 0);
  put<std::uint64_t>(s, 24, sysid);
  put<std::uint32_t>(s, 32, static_cast<std::uint32_t>(kSegSize));
  put<std::uint32_t>(s, 36, 8192);
  return s;
}

std::string name(TimelineId tli, SegmentNo segno) {
  return protocol::wal_segment_file_name(tli, segno, kSegSize);
}

class ArchiveScanTest : public ::testing::Test {
 protected:
  void write(const std::string& file_name, const std::string& contents) const {
    std::ofstream out(dir_.path() / file_name, std::ios::binary | std::ios::trunc);
    out << contents;
  }
  void complete(TimelineId tli, SegmentNo segno, std::uint64_t sysid = kSysId) const {
    write(name(tli, segno), fake_segment(tli, segno, sysid));
  }
  void partial(TimelineId tli, SegmentNo segno, const std::string& contents = "any size") const {
    write(name(tli, segno) + ".partial", contents);
  }
  void compressed(TimelineId tli, SegmentNo segno, std::uint64_t sysid = kSysId) const {
    complete(tli, segno, sysid);
    compress_segment_file(dir_.path(), name(tli, segno), 1);
  }
  ArchiveContents scan() const { return scan_archive(dir_.path(), kSegSize); }

  // The error scan() throws; fails the test if there is none.
  Error scan_error() const {
    try {
      scan();
    } catch (const Error& e) {
      return e;
    }
    ADD_FAILURE() << "no exception";
    return Error(ErrorKind::kInternal, "");
  }

  TempDir dir_{"scan"};
};

std::vector<std::string> file_names(const ArchiveContents& contents) {
  std::vector<std::string> names;
  for (const ArchivedSegment& s : contents.segments) names.push_back(s.file_name);
  return names;
}

TEST_F(ArchiveScanTest, EmptyDirectory) {
  ArchiveContents contents = scan();
  EXPECT_TRUE(contents.segments.empty());
  EXPECT_TRUE(contents.history_files.empty());
  EXPECT_FALSE(contents.system_id);
  EXPECT_FALSE(streaming_start(contents, kSegSize));
  EXPECT_TRUE(find_holes(contents, kSegSize).empty());
}

TEST_F(ArchiveScanTest, MissingDirectoryIsAnError) {
  try {
    scan_archive(dir_.path() / "missing", kSegSize);
    FAIL() << "no exception";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kIo);
    EXPECT_EQ(std::string(e.what()), "could not open directory \"" +
                                         (dir_.path() / "missing").string() +
                                         "\": No such file or directory");
  }
}

TEST_F(ArchiveScanTest, CompleteSegmentsAndAPartial) {
  complete(1, 4);
  complete(1, 3);
  partial(1, 5, std::string(12345, 'x'));  // any size, any contents
  ArchiveContents contents = scan();
  ASSERT_EQ(contents.segments.size(), 3u);
  EXPECT_EQ(file_names(contents),
            (std::vector<std::string>{name(1, 3), name(1, 4), name(1, 5) + ".partial"}));
  EXPECT_EQ(contents.segments[0].timeline, 1u);
  EXPECT_EQ(contents.segments[0].segno, 3u);
  EXPECT_EQ(contents.segments[0].state, SegmentState::kComplete);
  EXPECT_EQ(contents.segments[2].state, SegmentState::kPartial);
  EXPECT_EQ(contents.system_id, kSysId);

  auto start = streaming_start(contents, kSegSize);
  ASSERT_TRUE(start);
  EXPECT_EQ(start->lsn, Lsn{5 * kSegSize});
  EXPECT_EQ(start->timeline, 1u);
  EXPECT_TRUE(find_holes(contents, kSegSize).empty());
}

TEST_F(ArchiveScanTest, HighestCompleteStartsTheNextSegment) {
  complete(1, 3);
  complete(1, 4);
  auto start = streaming_start(scan(), kSegSize);
  ASSERT_TRUE(start);
  EXPECT_EQ(start->lsn, Lsn{5 * kSegSize});
  EXPECT_EQ(start->timeline, 1u);
}

TEST_F(ArchiveScanTest, CompleteWinsOverAPartialOfTheSameSegment) {
  complete(1, 4);
  partial(1, 4);  // left behind by a crash between rename steps
  ArchiveContents contents = scan();
  EXPECT_EQ(file_names(contents), (std::vector<std::string>{name(1, 4), name(1, 4) + ".partial"}));
  EXPECT_EQ(streaming_start(contents, kSegSize)->lsn, Lsn{5 * kSegSize});
}

TEST_F(ArchiveScanTest, KilledBeforeTheRenameRestartsAtTheOldestPartial) {
  complete(1, 3);
  partial(1, 4);  // full, but the syncer had not renamed it yet
  partial(1, 5);
  partial(1, 6);
  auto start = streaming_start(scan(), kSegSize);
  ASSERT_TRUE(start);
  EXPECT_EQ(start->lsn, Lsn{4 * kSegSize});
  EXPECT_EQ(start->timeline, 1u);
}

TEST_F(ArchiveScanTest, PartialOfAnOlderTimelineIsNotRefetched) {
  partial(1, 4);  // the old timeline's switch segment stays .partial
  partial(2, 5);
  EXPECT_EQ(streaming_start(scan(), kSegSize)->lsn, Lsn{5 * kSegSize});
}

TEST_F(ArchiveScanTest, OnlyAPartial) {
  partial(2, 7, "");
  ArchiveContents contents = scan();
  ASSERT_EQ(contents.segments.size(), 1u);
  EXPECT_EQ(contents.segments[0].state, SegmentState::kPartial);
  EXPECT_FALSE(contents.system_id);
  auto start = streaming_start(contents, kSegSize);
  ASSERT_TRUE(start);
  EXPECT_EQ(start->lsn, Lsn{7 * kSegSize});
  EXPECT_EQ(start->timeline, 2u);
}

TEST_F(ArchiveScanTest, CompressedSegments) {
  compressed(1, 3);
  compressed(1, 4);
  complete(1, 5);
  ArchiveContents contents = scan();
  EXPECT_EQ(file_names(contents),
            (std::vector<std::string>{name(1, 3) + ".zst", name(1, 4) + ".zst", name(1, 5)}));
  EXPECT_EQ(contents.segments[0].state, SegmentState::kCompressed);
  EXPECT_EQ(contents.system_id, kSysId);
  EXPECT_EQ(streaming_start(contents, kSegSize)->lsn, Lsn{6 * kSegSize});
  EXPECT_TRUE(find_holes(contents, kSegSize).empty());
}

TEST_F(ArchiveScanTest, CompressedAndPlainOfTheSameSegment) {
  // A crash after NAME.zst became durable and before NAME was removed.
  compressed(1, 3);
  complete(1, 3);
  ArchiveContents contents = scan();
  EXPECT_EQ(file_names(contents), (std::vector<std::string>{name(1, 3), name(1, 3) + ".zst"}));
  EXPECT_EQ(streaming_start(contents, kSegSize)->lsn, Lsn{4 * kSegSize});
}

TEST_F(ArchiveScanTest, OtherFilesAreIgnored) {
  complete(1, 3);
  write(name(1, 4) + ".zst.tmp", "half written");
  write(name(1, 4) + ".tmp", "x");
  write(name(1, 4) + ".gz", "x");
  write("00000001000000000000000g", "lower case");
  write("00000001000000000000000G", "not hex");
  write("0000000100000000000000030", "25 characters");
  write("00000001.history.tmp", "x");
  write("0000000a.history", "lower case");
  write("README", "hello");
  fs::create_directory(dir_.path() / name(1, 9));
  ArchiveContents contents = scan();
  EXPECT_EQ(file_names(contents), std::vector<std::string>{name(1, 3)});
  EXPECT_TRUE(contents.history_files.empty());
}

TEST_F(ArchiveScanTest, HistoryFilesAreListed) {
  write("0000000A.history", "1\t0/3000000\tno recovery target specified\n");
  write("00000002.history", "1\t0/3000000\tno recovery target specified\n");
  ArchiveContents contents = scan();
  EXPECT_EQ(contents.history_files, (std::vector<TimelineId>{2, 10}));
  EXPECT_TRUE(contents.segments.empty());
}

TEST_F(ArchiveScanTest, CompleteSegmentOfTheWrongSizeIsAnError) {
  complete(1, 3);
  write(name(1, 4), std::string(1000, '\0'));
  Error e = scan_error();
  EXPECT_EQ(e.kind(), ErrorKind::kIo);
  EXPECT_EQ(std::string(e.what()), "file \"" + name(1, 4) +
                                       "\" in the archive is not a valid WAL segment: it has "
                                       "1000 bytes, expected 1048576");
  EXPECT_EQ(e.hint(),
            "move it out of the archive directory; walstream never overwrites a complete segment");
}

TEST_F(ArchiveScanTest, NonWalContentUnderAWalNameIsAnError) {
  write(name(1, 3), std::string(kSegSize, 'A'));
  Error e = scan_error();
  EXPECT_EQ(e.kind(), ErrorKind::kIo);
  const std::string message = e.what();
  EXPECT_EQ(
      message.rfind("file \"" + name(1, 3) + "\" in the archive is not a valid WAL segment: ", 0),
      0u)
      << message;
  EXPECT_NE(e.hint(), "");
}

TEST_F(ArchiveScanTest, SegmentUnderTheWrongNameIsAnError) {
  // The header is for segment 3, the name says 4.
  write(name(1, 4), fake_segment(1, 3));
  Error e = scan_error();
  EXPECT_EQ(std::string(e.what()), "file \"" + name(1, 4) +
                                       "\" in the archive is not a valid WAL segment: first page "
                                       "is for 0/300000, not 0/400000");
}

TEST_F(ArchiveScanTest, MismatchingSystemIdentifierIsAnError) {
  complete(1, 3);
  complete(1, 4, kSysId + 1);
  Error e = scan_error();
  const std::string message = e.what();
  EXPECT_NE(message.find("file \"" + name(1, 4) + "\" in the archive is not a valid WAL segment"),
            std::string::npos)
      << message;
  EXPECT_NE(message.find("expected " + std::to_string(kSysId)), std::string::npos) << message;
}

TEST_F(ArchiveScanTest, MismatchingSystemIdentifierInACompressedSegmentIsAnError) {
  complete(1, 3);
  compressed(1, 4, kSysId + 1);
  Error e = scan_error();
  EXPECT_NE(std::string(e.what()).find("file \"" + name(1, 4) + ".zst\" in the archive"),
            std::string::npos)
      << e.what();
}

TEST_F(ArchiveScanTest, CompressedSegmentOfTheWrongSizeIsAnError) {
  write(name(1, 3), std::string(5000, '\0'));
  compress_segment_file(dir_.path(), name(1, 3), 1);
  Error e = scan_error();
  EXPECT_EQ(std::string(e.what()), "file \"" + name(1, 3) +
                                       ".zst\" in the archive is not a valid WAL segment: it "
                                       "holds 5000 bytes, expected 1048576");
}

TEST_F(ArchiveScanTest, CorruptCompressedSegmentIsAnError) {
  write(name(1, 3) + ".zst", "not zstd");
  Error e = scan_error();
  EXPECT_EQ(std::string(e.what()), "file \"" + name(1, 3) +
                                       ".zst\" in the archive is not a valid WAL segment: not a "
                                       "zstd-compressed file");
}

TEST_F(ArchiveScanTest, HolesWithinATimeline) {
  complete(1, 3);
  complete(1, 5);
  complete(1, 8);
  partial(1, 9);
  EXPECT_EQ(find_holes(scan(), kSegSize),
            (std::vector<std::string>{name(1, 4), name(1, 6), name(1, 7)}));
}

TEST_F(ArchiveScanTest, TimelineSwitchWithoutHoles) {
  // Timeline 2 branched off in segment 4: fetched again under the new name;
  // the old timeline's copy stays .partial.
  complete(1, 3);
  partial(1, 4);
  complete(2, 4);
  partial(2, 5);
  write("00000002.history", "1\t0/4000100\tno recovery target specified\n");
  ArchiveContents contents = scan();
  EXPECT_EQ(file_names(contents), (std::vector<std::string>{name(1, 3), name(1, 4) + ".partial",
                                                            name(2, 4), name(2, 5) + ".partial"}));
  EXPECT_TRUE(find_holes(contents, kSegSize).empty());
  auto start = streaming_start(contents, kSegSize);
  ASSERT_TRUE(start);
  EXPECT_EQ(start->lsn, Lsn{5 * kSegSize});
  EXPECT_EQ(start->timeline, 2u);
  EXPECT_EQ(contents.history_files, std::vector<TimelineId>{2});
}

TEST_F(ArchiveScanTest, NextTimelineMayStartRightAfterThePreviousOne) {
  complete(1, 3);
  complete(1, 4);
  complete(2, 5);
  EXPECT_TRUE(find_holes(scan(), kSegSize).empty());
}

TEST_F(ArchiveScanTest, HoleBetweenTimelinesIsNamedOnTheNewerTimeline) {
  complete(1, 3);
  complete(1, 4);
  complete(2, 7);
  complete(2, 9);
  complete(3, 9);
  EXPECT_EQ(find_holes(scan(), kSegSize),
            (std::vector<std::string>{name(2, 5), name(2, 6), name(2, 8)}));
}

TEST_F(ArchiveScanTest, NamesAcrossTheLogIdBoundary) {
  // Segment 4095 is 000000010000000000000FFF, 4096 is 000000010000000100000000.
  complete(1, 4095);
  complete(1, 4097);
  ArchiveContents contents = scan();
  EXPECT_EQ(file_names(contents),
            (std::vector<std::string>{"000000010000000000000FFF", "000000010000000100000001"}));
  EXPECT_EQ(find_holes(contents, kSegSize), std::vector<std::string>{"000000010000000100000000"});
  EXPECT_EQ(streaming_start(contents, kSegSize)->lsn, Lsn{4098 * kSegSize});
}

}  // namespace
}  // namespace walstream::storage
