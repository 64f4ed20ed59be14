#include "storage/wal_segment_writer.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "protocol/error.h"
#include "tests/support/temp_dir.h"

namespace walstream::storage {
namespace {

namespace fs = std::filesystem;
using protocol::Lsn;
using test_support::mode_of;
using test_support::read_file;
using test_support::TempDir;

constexpr std::uint64_t kSegSize = 1024 * 1024;

std::string patterned(std::size_t size, unsigned seed) {
  std::string s(size, '\0');
  std::mt19937 rng(seed);
  for (char& c : s) c = static_cast<char>(rng() & 0xff);
  return s;
}

// With 1 MiB segments there are 4096 segments per "xlogid".
const char* const kSeg3 = "000000010000000000000003";
const char* const kSeg4 = "000000010000000000000004";
const char* const kSeg5 = "000000010000000000000005";

class WalSegmentWriterTest : public ::testing::Test {
 protected:
  WalWriterOptions options(bool sync = false) const {
    WalWriterOptions o;
    o.directory = dir_.path();
    o.segment_size = kSegSize;
    o.sync = sync;
    return o;
  }
  fs::path path(const std::string& name) const { return dir_.path() / name; }

  TempDir dir_{"wal"};
};

TEST_F(WalSegmentWriterTest, FirstWriteCreatesZeroFilledPartial) {
  WalSegmentWriter writer(options(/*sync=*/true));
  EXPECT_FALSE(writer.position().valid());
  std::string data = patterned(100, 1);
  writer.write(1, Lsn{3 * kSegSize}, as_bytes(data));
  EXPECT_EQ(writer.position(), Lsn{3 * kSegSize + 100});

  fs::path partial = path(std::string(kSeg3) + ".partial");
  ASSERT_TRUE(fs::exists(partial));
  EXPECT_FALSE(fs::exists(path(kSeg3)));
  EXPECT_EQ(fs::file_size(partial), kSegSize);
  EXPECT_EQ(mode_of(partial), 0600u);
  std::string expected = data + std::string(kSegSize - data.size(), '\0');
  EXPECT_EQ(read_file(partial), expected);
}

TEST_F(WalSegmentWriterTest, BytesLandAtTheirOffsets) {
  WalSegmentWriter writer(options());
  std::string a = patterned(8192, 2);
  std::string b = patterned(5000, 3);
  writer.write(1, Lsn{3 * kSegSize}, as_bytes(a));
  writer.write(1, Lsn{3 * kSegSize + 8192}, as_bytes(b));
  EXPECT_EQ(writer.flush(), Lsn{3 * kSegSize + 8192 + 5000});
  std::string contents = read_file(path(std::string(kSeg3) + ".partial"));
  ASSERT_EQ(contents.size(), kSegSize);
  EXPECT_EQ(contents.substr(0, 8192), a);
  EXPECT_EQ(contents.substr(8192, 5000), b);
  EXPECT_EQ(contents.substr(8192 + 5000), std::string(kSegSize - 8192 - 5000, '\0'));
}

TEST_F(WalSegmentWriterTest, CrossingABoundaryRenamesTheFullSegment) {
  WalSegmentWriter writer(options(/*sync=*/true));
  std::string expected = patterned(kSegSize + 300000, 4);
  // 128 KiB messages: the eighth one ends exactly on the boundary.
  constexpr std::size_t kMessage = 128 * 1024;
  Lsn lsn{3 * kSegSize};
  for (std::size_t at = 0; at < expected.size(); at += kMessage) {
    std::size_t n = std::min(kMessage, expected.size() - at);
    writer.write(1, lsn, as_bytes(expected).subspan(at, n));
    lsn.value += n;
    if (lsn.value == 4 * kSegSize) {
      // Completed, renamed, and no next segment opened yet.
      EXPECT_TRUE(fs::exists(path(kSeg3)));
      EXPECT_FALSE(fs::exists(path(std::string(kSeg3) + ".partial")));
      EXPECT_FALSE(fs::exists(path(std::string(kSeg4) + ".partial")));
    }
  }
  EXPECT_EQ(writer.position(), lsn);
  EXPECT_EQ(fs::file_size(path(kSeg3)), kSegSize);
  EXPECT_EQ(fs::file_size(path(std::string(kSeg4) + ".partial")), kSegSize);
  EXPECT_EQ(read_file(path(kSeg3)), expected.substr(0, kSegSize));
  std::string second = read_file(path(std::string(kSeg4) + ".partial"));
  EXPECT_EQ(second.substr(0, 300000), expected.substr(kSegSize));
  EXPECT_EQ(second.substr(300000), std::string(kSegSize - 300000, '\0'));
  EXPECT_FALSE(fs::exists(path("archive_status")));
}

TEST_F(WalSegmentWriterTest, OneMessageSpanningTwoSegments) {
  WalSegmentWriter writer(options());
  std::string head = patterned(kSegSize - 1000, 5);
  std::string spanning = patterned(3000, 6);
  writer.write(1, Lsn{3 * kSegSize}, as_bytes(head));
  writer.write(1, Lsn{4 * kSegSize - 1000}, as_bytes(spanning));
  EXPECT_EQ(writer.position(), Lsn{4 * kSegSize + 2000});
  EXPECT_EQ(read_file(path(kSeg3)), head + spanning.substr(0, 1000));
  std::string second = read_file(path(std::string(kSeg4) + ".partial"));
  EXPECT_EQ(second.substr(0, 2000), spanning.substr(1000));
}

TEST_F(WalSegmentWriterTest, OneMessageSpanningThreeSegments) {
  WalSegmentWriter writer(options());
  std::string data = patterned(2 * kSegSize + 10, 7);
  writer.write(1, Lsn{3 * kSegSize}, as_bytes(data));
  EXPECT_EQ(read_file(path(kSeg3)), data.substr(0, kSegSize));
  EXPECT_EQ(read_file(path(kSeg4)), data.substr(kSegSize, kSegSize));
  EXPECT_EQ(read_file(path(std::string(kSeg5) + ".partial")).substr(0, 10),
            data.substr(2 * kSegSize));
}

TEST_F(WalSegmentWriterTest, RandomMessageSizesAreByteIdentical) {
  WalSegmentWriter writer(options());
  std::string expected = patterned(3 * kSegSize + kSegSize / 2, 8);
  std::mt19937 rng(42);
  std::uniform_int_distribution<std::size_t> size(1, 200000);
  Lsn lsn{3 * kSegSize};
  for (std::size_t at = 0; at < expected.size();) {
    std::size_t n = std::min(size(rng), expected.size() - at);
    writer.write(1, lsn, as_bytes(expected).subspan(at, n));
    lsn.value += n;
    at += n;
  }
  writer.finish(WalSegmentWriter::FinishMode::kKeepPartial);
  std::string all = read_file(path(kSeg3)) + read_file(path(kSeg4)) + read_file(path(kSeg5)) +
                    read_file(path("000000010000000000000006.partial"));
  ASSERT_EQ(all.size(), 4 * kSegSize);
  EXPECT_EQ(all.substr(0, expected.size()), expected);
  EXPECT_EQ(all.substr(expected.size()), std::string(kSegSize / 2, '\0'));
}

TEST_F(WalSegmentWriterTest, WrongStartIsRejected) {
  WalSegmentWriter writer(options());
  writer.write(1, Lsn{3 * kSegSize}, as_bytes("abcd"));
  try {
    writer.write(1, Lsn{3 * kSegSize + 5}, as_bytes("x"));
    FAIL() << "no exception";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kProtocol);
    EXPECT_STREQ(e.what(), "received WAL at 0/300005, expected 0/300004");
  }
  // Going backwards is rejected too, and nothing moved.
  EXPECT_THROW(writer.write(1, Lsn{3 * kSegSize}, as_bytes("x")), Error);
  EXPECT_EQ(writer.position(), Lsn{3 * kSegSize + 4});
}

TEST_F(WalSegmentWriterTest, FirstWriteMustStartASegment) {
  WalSegmentWriter writer(options());
  try {
    writer.write(1, Lsn{3 * kSegSize + 0x10}, as_bytes("x"));
    FAIL() << "no exception";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kProtocol);
    EXPECT_STREQ(e.what(),
                 "received WAL at 0/300010 with no segment open; expected a segment start");
  }
  EXPECT_TRUE(fs::is_empty(dir_.path()));
}

TEST_F(WalSegmentWriterTest, MarkDoneCreatesDoneFiles) {
  WalWriterOptions o = options(/*sync=*/true);
  o.mark_done = true;
  o.file_mode = 0640;
  WalSegmentWriter writer(o);
  std::string data = patterned(kSegSize + 10, 9);
  writer.write(1, Lsn{3 * kSegSize}, as_bytes(data));
  fs::path done = path(std::string("archive_status/") + kSeg3 + ".done");
  ASSERT_TRUE(fs::exists(done));
  EXPECT_EQ(fs::file_size(done), 0u);
  EXPECT_EQ(mode_of(done), 0640u);
  EXPECT_EQ(mode_of(path("archive_status")), 0750u);
  EXPECT_EQ(mode_of(path(kSeg3)), 0640u);
  EXPECT_FALSE(fs::exists(path(std::string("archive_status/") + kSeg4 + ".done")));

  writer.finish(WalSegmentWriter::FinishMode::kRenameToFinal);
  EXPECT_TRUE(fs::exists(path(std::string("archive_status/") + kSeg4 + ".done")));
}

TEST_F(WalSegmentWriterTest, FinishRenameToFinal) {
  WalSegmentWriter writer(options(/*sync=*/true));
  writer.write(1, Lsn{3 * kSegSize}, as_bytes("last record"));
  writer.finish(WalSegmentWriter::FinishMode::kRenameToFinal);
  EXPECT_FALSE(fs::exists(path(std::string(kSeg3) + ".partial")));
  ASSERT_TRUE(fs::exists(path(kSeg3)));
  EXPECT_EQ(fs::file_size(path(kSeg3)), kSegSize);
  EXPECT_EQ(read_file(path(kSeg3)).substr(0, 11), "last record");
  EXPECT_EQ(writer.position(), Lsn{3 * kSegSize + 11});
  // Finishing twice is harmless.
  EXPECT_NO_THROW(writer.finish(WalSegmentWriter::FinishMode::kRenameToFinal));
}

TEST_F(WalSegmentWriterTest, FinishKeepPartialAndDestructorKeepTheSuffix) {
  {
    WalSegmentWriter writer(options());
    writer.write(1, Lsn{3 * kSegSize}, as_bytes("abc"));
    writer.finish(WalSegmentWriter::FinishMode::kKeepPartial);
  }
  EXPECT_TRUE(fs::exists(path(std::string(kSeg3) + ".partial")));
  {
    WalSegmentWriter writer(options());
    writer.write(1, Lsn{4 * kSegSize}, as_bytes("abc"));
  }
  EXPECT_TRUE(fs::exists(path(std::string(kSeg4) + ".partial")));
  EXPECT_FALSE(fs::exists(path(kSeg3)));
  EXPECT_FALSE(fs::exists(path(kSeg4)));
}

TEST_F(WalSegmentWriterTest, ExistingPartialOfWrongSizeIsRejected) {
  fs::path partial = path(std::string(kSeg3) + ".partial");
  { std::ofstream(partial) << std::string(100, 'x'); }
  WalSegmentWriter writer(options());
  try {
    writer.write(1, Lsn{3 * kSegSize}, as_bytes("abc"));
    FAIL() << "no exception";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kIo);
    EXPECT_EQ(std::string(e.what()), "WAL segment file \"" + partial.string() +
                                         "\" has 100 bytes, should be 0 or 1048576");
  }
  EXPECT_EQ(fs::file_size(partial), 100u);
}

TEST_F(WalSegmentWriterTest, ExistingPartialOfFullSizeIsReused) {
  fs::path partial = path(std::string(kSeg3) + ".partial");
  std::string old = patterned(kSegSize, 10);
  { std::ofstream(partial, std::ios::binary) << old; }
  WalSegmentWriter writer(options(/*sync=*/true));
  writer.write(1, Lsn{3 * kSegSize}, as_bytes("new"));
  writer.flush();
  std::string contents = read_file(partial);
  EXPECT_EQ(contents.substr(0, 3), "new");
  EXPECT_EQ(contents.substr(3), old.substr(3));
}

TEST_F(WalSegmentWriterTest, ExistingEmptyPartialIsZeroFilled) {
  fs::path partial = path(std::string(kSeg3) + ".partial");
  { std::ofstream{partial}; }
  WalSegmentWriter writer(options());
  writer.write(1, Lsn{3 * kSegSize}, as_bytes("abc"));
  EXPECT_EQ(fs::file_size(partial), kSegSize);
}

TEST_F(WalSegmentWriterTest, NewTimelineNamesTheNextSegment) {
  WalSegmentWriter writer(options());
  writer.write(1, Lsn{3 * kSegSize}, as_bytes(patterned(1000, 11)));
  writer.finish(WalSegmentWriter::FinishMode::kKeepPartial);
  // The switch segment is fetched again on the new timeline from its start.
  std::string data = patterned(kSegSize + 5, 12);
  writer.write(2, Lsn{3 * kSegSize}, as_bytes(data));
  EXPECT_TRUE(fs::exists(path(std::string(kSeg3) + ".partial")));
  EXPECT_EQ(read_file(path("000000020000000000000003")), data.substr(0, kSegSize));
  EXPECT_TRUE(fs::exists(path("000000020000000000000004.partial")));
}

TEST_F(WalSegmentWriterTest, NamesUseTheLogIdSplit) {
  WalSegmentWriter writer(options());
  // Segment 4097 with 1 MiB segments is log 1, segment 1.
  writer.write(7, Lsn{4097 * kSegSize}, as_bytes("x"));
  EXPECT_TRUE(fs::exists(path("000000070000000100000001.partial")));
}

TEST_F(WalSegmentWriterTest, MissingDirectoryFails) {
  WalWriterOptions o = options();
  o.directory = dir_.path() / "missing";
  WalSegmentWriter writer(o);
  try {
    writer.write(1, Lsn{3 * kSegSize}, as_bytes("x"));
    FAIL() << "no exception";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kIo);
    EXPECT_NE(std::string(e.what()).find("could not open file"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("No such file or directory"), std::string::npos);
  }
}

}  // namespace
}  // namespace walstream::storage

// --- Receiver mode: write_batch, on_segment_full, reset_existing_partial ---

namespace walstream::storage {
namespace {

// Splits `data` into pieces of random sizes (some empty).
std::vector<ByteView> random_pieces(const std::string& data, unsigned seed, std::size_t max_piece) {
  std::vector<ByteView> pieces;
  std::mt19937 rng(seed);
  std::uniform_int_distribution<std::size_t> size(0, max_piece);
  for (std::size_t at = 0; at < data.size();) {
    std::size_t n = std::min(size(rng), data.size() - at);
    pieces.push_back(as_bytes(data).subspan(at, n));
    at += n;
  }
  return pieces;
}

TEST_F(WalSegmentWriterTest, WriteBatchMatchesPieceByPieceWrites) {
  std::string expected = patterned(3 * kSegSize + 12345, 20);
  std::vector<ByteView> pieces = random_pieces(expected, 21, 300000);
  {
    WalSegmentWriter writer(options());
    // Several batches, each many pieces, crossing boundaries inside a batch.
    Lsn lsn{3 * kSegSize};
    for (std::size_t at = 0; at < pieces.size(); at += 7) {
      auto batch = std::span<const ByteView>(pieces).subspan(
          at, std::min<std::size_t>(7, pieces.size() - at));
      writer.write_batch(1, lsn, batch);
      for (ByteView p : batch) lsn.value += p.size();
      EXPECT_EQ(writer.position(), lsn);
    }
    writer.finish(WalSegmentWriter::FinishMode::kKeepPartial);
  }
  std::string all = read_file(path(kSeg3)) + read_file(path(kSeg4)) + read_file(path(kSeg5)) +
                    read_file(path("000000010000000000000006.partial"));
  ASSERT_EQ(all.size(), 4 * kSegSize);
  EXPECT_EQ(all.substr(0, expected.size()), expected);
  EXPECT_EQ(all.substr(expected.size()), std::string(4 * kSegSize - expected.size(), '\0'));
}

TEST_F(WalSegmentWriterTest, WriteBatchWithMorePiecesThanIovMax) {
  // 5000 pieces of 300 bytes: more than IOV_MAX (1024) and crossing a boundary.
  std::string expected = patterned(5000 * 300, 22);
  std::vector<ByteView> pieces;
  for (std::size_t at = 0; at < expected.size(); at += 300) {
    pieces.push_back(as_bytes(expected).subspan(at, 300));
  }
  WalSegmentWriter writer(options());
  writer.write_batch(1, Lsn{3 * kSegSize}, pieces);
  EXPECT_EQ(writer.position(), Lsn{3 * kSegSize + expected.size()});
  EXPECT_EQ(read_file(path(kSeg3)), expected.substr(0, kSegSize));
  EXPECT_EQ(read_file(path(std::string(kSeg4) + ".partial")).substr(0, expected.size() - kSegSize),
            expected.substr(kSegSize));
}

TEST_F(WalSegmentWriterTest, WriteBatchOfEmptyPiecesOpensNothing) {
  WalSegmentWriter writer(options());
  std::vector<ByteView> pieces(3);
  writer.write_batch(1, Lsn{3 * kSegSize}, pieces);
  EXPECT_EQ(writer.current_segment(), nullptr);
  EXPECT_TRUE(fs::is_empty(dir_.path()));
  // The start is still checked.
  EXPECT_THROW(writer.write_batch(1, Lsn{3 * kSegSize + 1}, pieces), Error);
}

TEST_F(WalSegmentWriterTest, WriteBatchChecksTheStart) {
  WalSegmentWriter writer(options());
  writer.write(1, Lsn{3 * kSegSize}, as_bytes("abcd"));
  std::vector<ByteView> pieces{as_bytes("x")};
  EXPECT_THROW(writer.write_batch(1, Lsn{3 * kSegSize + 5}, pieces), Error);
  EXPECT_EQ(writer.position(), Lsn{3 * kSegSize + 4});
}

TEST_F(WalSegmentWriterTest, OnSegmentFullHandsOverTheOpenSegment) {
  std::vector<std::pair<SegmentFilePtr, Lsn>> handed;
  WalWriterOptions o = options(/*sync=*/true);
  o.on_segment_full = [&](SegmentFilePtr file, Lsn end) { handed.emplace_back(file, end); };
  WalSegmentWriter writer(o);
  EXPECT_EQ(writer.current_segment(), nullptr);
  std::string data = patterned(2 * kSegSize + 10, 23);
  writer.write(1, Lsn{3 * kSegSize}, as_bytes(data));

  ASSERT_EQ(handed.size(), 2u);
  EXPECT_EQ(handed[0].first->name, kSeg3);
  EXPECT_EQ(handed[0].first->segno, 3u);
  EXPECT_EQ(handed[0].first->timeline, 1u);
  EXPECT_EQ(handed[0].second, Lsn{4 * kSegSize});
  EXPECT_EQ(handed[1].first->name, kSeg4);
  EXPECT_EQ(handed[1].second, Lsn{5 * kSegSize});
  // Not renamed, descriptor still open: the syncer finishes the job.
  for (auto& [file, end] : handed) {
    EXPECT_TRUE(file->fd);
    EXPECT_TRUE(file->entry_durable);  // the writer fsynced the directory after creating it
    EXPECT_TRUE(fs::exists(file->partial_path));
    EXPECT_FALSE(fs::exists(file->final_path));
  }
  EXPECT_EQ(read_file(path(std::string(kSeg3) + ".partial")), data.substr(0, kSegSize));

  SegmentFilePtr current = writer.current_segment();
  ASSERT_NE(current, nullptr);
  EXPECT_EQ(current->name, kSeg5);
  EXPECT_EQ(current->partial_path, path(std::string(kSeg5) + ".partial"));
  EXPECT_EQ(current->final_path, path(kSeg5));

  // kKeepPartial in receiver mode only lets go: no rename, and a holder's
  // descriptor stays usable.
  writer.finish(WalSegmentWriter::FinishMode::kKeepPartial);
  EXPECT_EQ(writer.current_segment(), nullptr);
  EXPECT_TRUE(current->fd);
  EXPECT_TRUE(fs::exists(current->partial_path));
  EXPECT_FALSE(fs::exists(current->final_path));
}

TEST_F(WalSegmentWriterTest, ResetExistingPartialZeroFillsAnySize) {
  fs::path partial = path(std::string(kSeg3) + ".partial");
  WalWriterOptions o = options(/*sync=*/true);
  o.reset_existing_partial = true;
  for (std::size_t old_size :
       {std::size_t{100}, std::size_t{kSegSize}, std::size_t{kSegSize + 7}}) {
    { std::ofstream(partial, std::ios::binary | std::ios::trunc) << patterned(old_size, 24); }
    WalSegmentWriter writer(o);
    writer.write(1, Lsn{3 * kSegSize}, as_bytes("new"));
    writer.flush();
    std::string contents = read_file(partial);
    ASSERT_EQ(contents.size(), kSegSize) << old_size;
    EXPECT_EQ(contents.substr(0, 3), "new");
    EXPECT_EQ(contents.substr(3), std::string(kSegSize - 3, '\0')) << old_size;
    EXPECT_EQ(mode_of(partial), 0600u);
  }
}

}  // namespace
}  // namespace walstream::storage
