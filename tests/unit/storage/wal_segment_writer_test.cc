// WalSegmentWriter on a real filesystem: bytes at their offsets, segments
// zero-filled and handed over when full, the stream's continuity enforced, and
// an existing .partial reused in place (never truncated).
#include "storage/wal_segment_writer.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <span>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "protocol/error.h"
#include "protocol/wal_page.h"
#include "storage/segment_completion.h"
#include "tests/support/sample_data.h"
#include "tests/support/temp_dir.h"
#include "tests/support/wal_builder.h"

namespace walstream::storage {
namespace {

namespace fs = std::filesystem;
using protocol::Lsn;
using protocol::StreamPosition;
using test_support::mode_of;
using test_support::random_bytes;
using test_support::read_file;
using test_support::TempDir;

constexpr std::uint64_t kSegSize = 1024 * 1024;

StreamPosition at(std::uint64_t lsn, protocol::TimelineId timeline = 1) {
  return StreamPosition{timeline, Lsn{lsn}};
}

// With 1 MiB segments there are 4096 segments per "xlogid".
const char* const kSeg3 = "000000010000000000000003";
const char* const kSeg4 = "000000010000000000000004";
const char* const kSeg5 = "000000010000000000000005";

// Every case runs with direct I/O (the default) and through the page cache,
// each with new segments zero-filled and allocated.
class WalSegmentWriterTest
    : public ::testing::TestWithParam<std::tuple<bool, SegmentPreallocation>> {
 protected:
  // Full segments are completed at once, without fsync, as a clone's syncer
  // would do them.
  WalSegmentWriterOptions options() {
    WalSegmentWriterOptions o;
    o.directory = dir_.path();
    o.segment_size = kSegSize;
    o.direct_io = std::get<0>(GetParam());
    o.preallocation = std::get<1>(GetParam());
    o.on_segment_full = [this](SegmentFilePtr file, StreamPosition end) {
      handed_.emplace_back(file, end);
      if (complete_) {
        CompletionPolicy policy;
        policy.directory = dir_.path();
        policy.sync = false;
        complete_segment(*file, policy);
      }
    };
    return o;
  }
  void write(WalSegmentWriter& writer, StreamPosition start, const std::string& data) {
    const ByteView piece = as_bytes(data);
    writer.write(start, std::span<const ByteView>(&piece, 1));
    writer.flush();  // direct writes reach the file here
  }
  fs::path path(const std::string& name) const { return dir_.path() / name; }
  fs::path partial(const std::string& name) const { return path(name + ".partial"); }

  TempDir dir_{"wal"};
  bool complete_ = true;
  std::vector<std::pair<SegmentFilePtr, StreamPosition>> handed_;
};

INSTANTIATE_TEST_SUITE_P(
    Writes, WalSegmentWriterTest,
    ::testing::Combine(::testing::Bool(), ::testing::Values(SegmentPreallocation::kZeroFill,
                                                            SegmentPreallocation::kAllocate)),
    [](const auto& test_info) {
      return std::string(std::get<0>(test_info.param) ? "Direct" : "PageCache") +
             (std::get<1>(test_info.param) == SegmentPreallocation::kZeroFill ? "ZeroFill"
                                                                              : "Allocate");
    });

// Bytes this process passed to write calls so far (/proc/self/io "wchar"),
// whatever the filesystem does with them.
std::uint64_t bytes_written_by_this_process() {
  std::ifstream io("/proc/self/io");
  std::string key;
  std::uint64_t value = 0;
  while (io >> key >> value) {
    if (key == "wchar:") return value;
  }
  ADD_FAILURE() << "no wchar in /proc/self/io";
  return 0;
}

// What kAllocate is for: the disk gets each segment's bytes once, not its
// zeros first. The file still reads as a full segment of zeros past the data.
TEST_P(WalSegmentWriterTest, AnAllocatedSegmentIsNotWrittenWithZerosFirst) {
  WalSegmentWriter writer(options());
  const std::string data = random_bytes(100, 7);
  const std::uint64_t before = bytes_written_by_this_process();
  write(writer, at(3 * kSegSize), data);
  const std::uint64_t written = bytes_written_by_this_process() - before;
  if (std::get<1>(GetParam()) == SegmentPreallocation::kAllocate) {
    EXPECT_LT(written, kSegSize / 2);
  } else {
    EXPECT_GE(written, kSegSize);
  }
  EXPECT_EQ(fs::file_size(partial(kSeg3)), kSegSize);
  EXPECT_EQ(read_file(partial(kSeg3)), data + std::string(kSegSize - data.size(), '\0'));
}

TEST_P(WalSegmentWriterTest, FirstWriteCreatesZeroFilledPartial) {
  WalSegmentWriter writer(options());
  EXPECT_FALSE(writer.position().lsn.valid());
  const std::string data = random_bytes(100, 1);
  write(writer, at(3 * kSegSize), data);
  EXPECT_EQ(writer.position(), at(3 * kSegSize + 100));

  ASSERT_TRUE(fs::exists(partial(kSeg3)));
  EXPECT_FALSE(fs::exists(path(kSeg3)));
  EXPECT_EQ(fs::file_size(partial(kSeg3)), kSegSize);
  EXPECT_EQ(mode_of(partial(kSeg3)), 0600u);
  EXPECT_EQ(read_file(partial(kSeg3)), data + std::string(kSegSize - data.size(), '\0'));
}

protocol::PageCheck page_check() {
  protocol::PageCheck check;
  check.magic = protocol::xlog_page_magic_for_major(15).value();
  check.segment_size = kSegSize;
  check.system_id = test::kSystemId;
  return check;
}

std::string valid_segment(std::uint64_t start) {
  test::WalBuilder wal(Lsn{start});
  wal.add_record(100);
  wal.add_switch();
  const std::vector<std::byte> bytes = wal.bytes();
  return std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

// A direct segment's pages are checked in the stages on their way to the
// disk; the completion then need not read 16 MB back.
TEST_P(WalSegmentWriterTest, DirectSegmentsArePageCheckedOnTheirWayOut) {
  complete_ = false;
  WalSegmentWriterOptions o = options();
  o.page_check = page_check();
  WalSegmentWriter writer(o);
  const std::string segment = valid_segment(3 * kSegSize);
  ASSERT_EQ(segment.size(), kSegSize);
  // In pieces that split pages and stages anywhere.
  for (std::size_t at_byte = 0; at_byte < kSegSize; at_byte += 300'001) {
    const std::size_t n = std::min<std::size_t>(300'001, kSegSize - at_byte);
    write(writer, at(3 * kSegSize + at_byte), segment.substr(at_byte, n));
  }
  ASSERT_EQ(handed_.size(), 1u);
  if (std::get<0>(GetParam())) {
    EXPECT_EQ(handed_[0].first->page_problem, std::optional<std::string>(""));
  } else {
    EXPECT_EQ(handed_[0].first->page_problem, std::nullopt);  // read back at completion
  }
  EXPECT_EQ(read_file(partial(kSeg3)), segment);
}

TEST_P(WalSegmentWriterTest, ABadPageFoundOnTheWayOutIsTheOneTheReadBackWouldReport) {
  complete_ = false;
  WalSegmentWriterOptions o = options();
  o.page_check = page_check();
  WalSegmentWriter writer(o);
  std::string segment = valid_segment(3 * kSegSize);
  segment[5 * 8192 + 8] ^= 0x01;  // the page address of page 5
  for (std::size_t at_byte = 0; at_byte < kSegSize; at_byte += 12'345) {
    const std::size_t n = std::min<std::size_t>(12'345, kSegSize - at_byte);
    write(writer, at(3 * kSegSize + at_byte), segment.substr(at_byte, n));
  }
  ASSERT_EQ(handed_.size(), 1u);
  protocol::PageCheck check = page_check();
  check.max_timeline = 1;
  const std::string expected = check_segment_pages_on_disk(*handed_[0].first, kSegSize, check);
  ASSERT_FALSE(expected.empty());
  if (std::get<0>(GetParam())) {
    EXPECT_EQ(handed_[0].first->page_problem, std::optional<std::string>(expected));
  } else {
    EXPECT_EQ(handed_[0].first->page_problem, std::nullopt);
  }
}

// The completion takes the writer's verdict instead of reading the file.
TEST_P(WalSegmentWriterTest, TheCompletionTakesTheWritersVerdict) {
  complete_ = false;
  WalSegmentWriter writer(options());
  write(writer, at(3 * kSegSize), std::string(kSegSize, 'x'));  // no valid page at all
  write(writer, at(4 * kSegSize), valid_segment(4 * kSegSize));
  ASSERT_EQ(handed_.size(), 2u);
  CompletionPolicy policy;
  policy.directory = dir_.path();
  policy.sync = false;
  policy.page_check = page_check();

  handed_[0].first->page_problem = "";  // trusted: the file is not read back
  EXPECT_NO_THROW(complete_segment(*handed_[0].first, policy));
  EXPECT_TRUE(fs::exists(path(kSeg3)));

  handed_[1].first->page_problem = "page at 0/402000: wrong page address";
  try {
    complete_segment(*handed_[1].first, policy);
    FAIL() << "no error";
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find("page at 0/402000: wrong page address"),
              std::string::npos)
        << error.what();
  }
  EXPECT_TRUE(fs::exists(partial(kSeg4)));
  EXPECT_FALSE(fs::exists(path(kSeg4)));
}

TEST_P(WalSegmentWriterTest, AnIncompleteSegmentIsLeftToTheReadBack) {
  WalSegmentWriterOptions o = options();
  o.page_check = page_check();
  WalSegmentWriter writer(o);
  write(writer, at(3 * kSegSize), valid_segment(3 * kSegSize).substr(0, kSegSize / 2 + 100));
  const SegmentFilePtr file = writer.release_segment();
  ASSERT_TRUE(file);
  EXPECT_EQ(file->page_problem, std::nullopt);
}

TEST_P(WalSegmentWriterTest, BytesLandAtTheirOffsets) {
  WalSegmentWriter writer(options());
  const std::string a = random_bytes(8192, 2);
  const std::string b = random_bytes(5000, 3);
  write(writer, at(3 * kSegSize), a);
  write(writer, at(3 * kSegSize + 8192), b);
  const std::string contents = read_file(partial(kSeg3));
  ASSERT_EQ(contents.size(), kSegSize);
  EXPECT_EQ(contents.substr(0, 8192), a);
  EXPECT_EQ(contents.substr(8192, 5000), b);
  EXPECT_EQ(contents.substr(8192 + 5000), std::string(kSegSize - 8192 - 5000, '\0'));
}

TEST_P(WalSegmentWriterTest, AFullSegmentIsHandedOverOpenWithItsEnd) {
  complete_ = false;
  WalSegmentWriter writer(options());
  const std::string data = random_bytes(2 * kSegSize + 10, 23);
  write(writer, at(3 * kSegSize), data);

  ASSERT_EQ(handed_.size(), 2u);
  EXPECT_EQ(handed_[0].first->name, kSeg3);
  EXPECT_EQ(handed_[0].first->segno, 3u);
  EXPECT_EQ(handed_[0].first->timeline, 1u);
  EXPECT_EQ(handed_[0].second, at(4 * kSegSize));
  EXPECT_EQ(handed_[1].first->name, kSeg4);
  EXPECT_EQ(handed_[1].second, at(5 * kSegSize));
  for (auto& [file, end] : handed_) {
    EXPECT_TRUE(file->fd) << "still open: the syncer completes it";
    EXPECT_FALSE(file->entry_durable) << "nothing is synced on the io thread";
    EXPECT_TRUE(fs::exists(file->partial_path));
    EXPECT_FALSE(fs::exists(file->final_path));
  }
  EXPECT_EQ(read_file(partial(kSeg3)), data.substr(0, kSegSize));

  SegmentFilePtr current = writer.current_segment();
  ASSERT_NE(current, nullptr);
  EXPECT_EQ(current->name, kSeg5);
  EXPECT_EQ(current->partial_path, partial(kSeg5));
  EXPECT_EQ(current->final_path, path(kSeg5));
  EXPECT_EQ(writer.release_segment(), current);
  EXPECT_EQ(writer.current_segment(), nullptr);
  EXPECT_TRUE(current->fd) << "a holder's descriptor stays usable";
}

TEST_P(WalSegmentWriterTest, EndingExactlyOnABoundaryOpensNoNextSegment) {
  WalSegmentWriter writer(options());
  constexpr std::size_t kMessage = 128 * 1024;  // the eighth ends on the boundary
  const std::string expected = random_bytes(kSegSize, 4);
  for (std::size_t offset = 0; offset < kSegSize; offset += kMessage) {
    write(writer, at(3 * kSegSize + offset), expected.substr(offset, kMessage));
  }
  EXPECT_EQ(writer.position(), at(4 * kSegSize));
  EXPECT_EQ(writer.current_segment(), nullptr);
  EXPECT_EQ(read_file(path(kSeg3)), expected);
  EXPECT_FALSE(fs::exists(partial(kSeg4)));
}

TEST_P(WalSegmentWriterTest, OneMessageSpanningThreeSegments) {
  WalSegmentWriter writer(options());
  const std::string data = random_bytes(2 * kSegSize + 10, 7);
  write(writer, at(3 * kSegSize), data);
  EXPECT_EQ(read_file(path(kSeg3)), data.substr(0, kSegSize));
  EXPECT_EQ(read_file(path(kSeg4)), data.substr(kSegSize, kSegSize));
  EXPECT_EQ(read_file(partial(kSeg5)).substr(0, 10), data.substr(2 * kSegSize));
}

// Splits `data` into pieces of random sizes (some empty).
std::vector<ByteView> random_pieces(const std::string& data, unsigned seed, std::size_t max_piece) {
  std::vector<ByteView> pieces;
  std::mt19937 rng(seed);
  std::uniform_int_distribution<std::size_t> size(0, max_piece);
  for (std::size_t offset = 0; offset < data.size();) {
    const std::size_t n = std::min(size(rng), data.size() - offset);
    pieces.push_back(as_bytes(data).subspan(offset, n));
    offset += n;
  }
  return pieces;
}

TEST_P(WalSegmentWriterTest, RandomBatchesAreByteIdentical) {
  const std::string expected = random_bytes(3 * kSegSize + 12345, 20);
  const std::vector<ByteView> pieces = random_pieces(expected, 21, 300000);
  WalSegmentWriter writer(options());
  // Several batches of many pieces, crossing boundaries inside a batch.
  Lsn lsn{3 * kSegSize};
  for (std::size_t first = 0; first < pieces.size(); first += 7) {
    const auto batch = std::span<const ByteView>(pieces).subspan(
        first, std::min<std::size_t>(7, pieces.size() - first));
    writer.write(at(lsn.value), batch);
    for (ByteView p : batch) lsn.value += p.size();
    EXPECT_EQ(writer.position(), at(lsn.value));
  }
  writer.flush();
  const std::string all = read_file(path(kSeg3)) + read_file(path(kSeg4)) + read_file(path(kSeg5)) +
                          read_file(path("000000010000000000000006.partial"));
  ASSERT_EQ(all.size(), 4 * kSegSize);
  EXPECT_EQ(all.substr(0, expected.size()), expected);
  EXPECT_EQ(all.substr(expected.size()), std::string(4 * kSegSize - expected.size(), '\0'));
}

// Writes that end inside a block (a direct write pads it, and the next one
// rewrites it): after every write and flush the file holds exactly the
// stream so far, then zeros.
TEST_P(WalSegmentWriterTest, EveryWriteIsInTheFileAtOnce) {
  const std::string expected = random_bytes(kSegSize + 50000, 23);
  std::mt19937 rng(24);
  std::uniform_int_distribution<std::size_t> size(1, 9000);
  WalSegmentWriter writer(options());
  std::uint64_t done = 0;
  while (done < expected.size()) {
    const std::size_t n = std::min(size(rng), expected.size() - done);
    write(writer, at(3 * kSegSize + done), expected.substr(done, n));
    writer.flush();
    done += n;
    const std::uint64_t in_segment = done % kSegSize;
    const std::string name = done < kSegSize    ? std::string(kSeg3) + ".partial"
                             : done == kSegSize ? kSeg3
                                                : std::string(kSeg4) + ".partial";
    if (done == kSegSize) continue;
    // The block around the end of what was written: stream bytes, then zeros.
    const std::uint64_t from = in_segment > 8192 ? in_segment - 8192 : 0;
    std::ifstream file(path(name), std::ios::binary);
    file.seekg(static_cast<std::streamoff>(from));
    std::string around(16384, '\0');
    file.read(around.data(), static_cast<std::streamsize>(around.size()));
    const std::uint64_t segment_base = done - in_segment;
    ASSERT_EQ(around.substr(0, in_segment - from),
              expected.substr(segment_base + from, in_segment - from))
        << "after " << done << " bytes";
    ASSERT_EQ(around.substr(in_segment - from), std::string(16384 - (in_segment - from), '\0'))
        << "after " << done << " bytes";
  }
}

// Whoever takes a full segment over reads it with ordinary reads: the
// descriptor it gets has no O_DIRECT left.
TEST_P(WalSegmentWriterTest, AHandedOverSegmentHasNoDirectIo) {
  complete_ = false;
  WalSegmentWriter writer(options());
  write(writer, at(3 * kSegSize), random_bytes(kSegSize, 25));
  ASSERT_EQ(handed_.size(), 1u);
  const int flags = ::fcntl(handed_[0].first->fd.get(), F_GETFL);
  ASSERT_GE(flags, 0);
  EXPECT_EQ(flags & O_DIRECT, 0);
  char byte = 'x';
  EXPECT_EQ(::pread(handed_[0].first->fd.get(), &byte, 1, 5), 1);
}

TEST_P(WalSegmentWriterTest, ABatchWithMorePiecesThanIovMax) {
  // 5000 pieces of 300 bytes: more than IOV_MAX (1024) and crossing a boundary.
  const std::string expected = random_bytes(5000 * 300, 22);
  std::vector<ByteView> pieces;
  for (std::size_t offset = 0; offset < expected.size(); offset += 300) {
    pieces.push_back(as_bytes(expected).subspan(offset, 300));
  }
  WalSegmentWriter writer(options());
  writer.write(at(3 * kSegSize), pieces);
  writer.flush();
  EXPECT_EQ(writer.position(), at(3 * kSegSize + expected.size()));
  EXPECT_EQ(read_file(path(kSeg3)), expected.substr(0, kSegSize));
  EXPECT_EQ(read_file(partial(kSeg4)).substr(0, expected.size() - kSegSize),
            expected.substr(kSegSize));
}

TEST_P(WalSegmentWriterTest, ABatchOfEmptyPiecesOpensNothing) {
  WalSegmentWriter writer(options());
  const std::vector<ByteView> pieces(3);
  writer.write(at(3 * kSegSize), pieces);
  EXPECT_EQ(writer.current_segment(), nullptr);
  EXPECT_TRUE(fs::is_empty(dir_.path()));
  EXPECT_THROW(writer.write(at(3 * kSegSize + 1), pieces), Error) << "the start is still checked";
}

TEST_P(WalSegmentWriterTest, AStartThatDoesNotContinueTheStreamIsRejected) {
  WalSegmentWriter writer(options());
  write(writer, at(3 * kSegSize), "abcd");
  try {
    write(writer, at(3 * kSegSize + 5), "x");
    FAIL() << "no exception";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kProtocol);
    EXPECT_STREQ(e.what(),
                 "received WAL at 0/300005 on timeline 1, expected 0/300004 on timeline 1");
  }
  EXPECT_THROW(write(writer, at(3 * kSegSize), "x"), Error) << "backwards";
  EXPECT_THROW(write(writer, at(3 * kSegSize + 4, 2), "x"), Error) << "another timeline";
  EXPECT_EQ(writer.position(), at(3 * kSegSize + 4));
}

TEST_P(WalSegmentWriterTest, TheFirstWriteMustStartASegment) {
  WalSegmentWriter writer(options());
  try {
    write(writer, at(3 * kSegSize + 0x10), "x");
    FAIL() << "no exception";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kProtocol);
    EXPECT_STREQ(e.what(),
                 "received WAL at 0/300010 on timeline 1 with no segment open; expected a "
                 "segment start");
  }
  EXPECT_TRUE(fs::is_empty(dir_.path()));
}

// Finding 4: a restart rewrites an existing .partial in place. Before the
// re-fetched WAL is written over it, every byte it held is still there.
TEST_P(WalSegmentWriterTest, AnExistingFullSizePartialIsReusedInPlaceNotTruncated) {
  const std::string old = random_bytes(kSegSize, 10);
  { std::ofstream(partial(kSeg3), std::ios::binary) << old; }
  WalSegmentWriter writer(options());
  write(writer, at(3 * kSegSize), old.substr(0, 100));
  EXPECT_EQ(read_file(partial(kSeg3)), old) << "the rest of the durable WAL is untouched";
  write(writer, at(3 * kSegSize + 100), "new");
  const std::string contents = read_file(partial(kSeg3));
  EXPECT_EQ(contents.substr(100, 3), "new");
  EXPECT_EQ(contents.substr(103), old.substr(103));
}

TEST_P(WalSegmentWriterTest, AShortPartialKeepsItsBytesAndIsZeroFilledToFullSize) {
  // A crash during the zero-fill leaves a file shorter than a segment.
  const std::string old = random_bytes(300000, 24);
  { std::ofstream(partial(kSeg3), std::ios::binary) << old; }
  WalSegmentWriter writer(options());
  write(writer, at(3 * kSegSize), "x");
  const std::string contents = read_file(partial(kSeg3));
  ASSERT_EQ(contents.size(), kSegSize);
  EXPECT_EQ(contents.substr(0, 1), "x");
  EXPECT_EQ(contents.substr(1, old.size() - 1), old.substr(1));
  EXPECT_EQ(contents.substr(old.size()), std::string(kSegSize - old.size(), '\0'));
}

TEST_P(WalSegmentWriterTest, AnEmptyPartialIsZeroFilled) {
  { std::ofstream{partial(kSeg3)}; }
  WalSegmentWriter writer(options());
  write(writer, at(3 * kSegSize), "abc");
  EXPECT_EQ(fs::file_size(partial(kSeg3)), kSegSize);
}

TEST_P(WalSegmentWriterTest, APartialLargerThanASegmentIsRefusedUntouched) {
  const std::string old = random_bytes(kSegSize + 7, 25);
  { std::ofstream(partial(kSeg3), std::ios::binary) << old; }
  WalSegmentWriter writer(options());
  try {
    write(writer, at(3 * kSegSize), "abc");
    FAIL() << "no exception";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kIo);
    EXPECT_EQ(std::string(e.what()), "WAL segment file \"" + partial(kSeg3).string() +
                                         "\" has 1048583 bytes, more than a segment of 1048576");
  }
  EXPECT_EQ(read_file(partial(kSeg3)), old);
}

TEST_P(WalSegmentWriterTest, ASymlinkInPlaceOfAPartialIsNotFollowed) {
  const fs::path elsewhere = dir_.path() / "elsewhere";
  { std::ofstream(elsewhere) << "keep"; }
  fs::create_symlink(elsewhere, partial(kSeg3));
  WalSegmentWriter writer(options());
  EXPECT_THROW(write(writer, at(3 * kSegSize), "abc"), Error);
  EXPECT_EQ(read_file(elsewhere), "keep");
}

TEST_P(WalSegmentWriterTest, TheNextTimelineRewritesTheSwitchSegmentUnderItsOwnName) {
  WalSegmentWriter writer(options());
  write(writer, at(3 * kSegSize), random_bytes(1000, 11));
  writer.release_segment();
  const std::string data = random_bytes(kSegSize + 5, 12);
  write(writer, at(3 * kSegSize, 2), data);
  EXPECT_TRUE(fs::exists(partial(kSeg3)));
  EXPECT_EQ(read_file(path("000000020000000000000003")), data.substr(0, kSegSize));
  EXPECT_TRUE(fs::exists(path("000000020000000000000004.partial")));
}

TEST_P(WalSegmentWriterTest, NamesUseTheLogIdSplit) {
  WalSegmentWriter writer(options());
  // Segment 4097 with 1 MiB segments is log 1, segment 1.
  write(writer, at(4097 * kSegSize, 7), "x");
  EXPECT_TRUE(fs::exists(path("000000070000000100000001.partial")));
}

TEST_P(WalSegmentWriterTest, AMissingDirectoryFailsNamingTheFile) {
  WalSegmentWriterOptions o = options();
  o.directory = dir_.path() / "missing";
  WalSegmentWriter writer(o);
  try {
    write(writer, at(3 * kSegSize), "x");
    FAIL() << "no exception";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kIo);
    EXPECT_NE(std::string(e.what()).find("could not open file"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("No such file or directory"), std::string::npos);
  }
}

}  // namespace
}  // namespace walstream::storage
