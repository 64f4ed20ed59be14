#include "storage/zstd_archiver.h"

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "protocol/error.h"
#include "storage/zstd_file.h"
#include "tests/support/temp_dir.h"

namespace walstream::storage {
namespace {

namespace fs = std::filesystem;
using test_support::mode_of;
using test_support::read_file;
using test_support::TempDir;

constexpr std::uint64_t kSegSize = 1024 * 1024;
const std::string kName = "000000010000000000000003";

// WAL-like: random records, then zero padding (compresses well, like a real
// partially used segment).
std::string segment_like(std::size_t size, std::size_t used, unsigned seed) {
  std::string s(size, '\0');
  std::mt19937 rng(seed);
  for (std::size_t i = 0; i < used; ++i) s[i] = static_cast<char>(rng() % 16);
  return s;
}

void write(const fs::path& path, const std::string& contents) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << contents;
}

class ZstdArchiverTest : public ::testing::Test {
 protected:
  fs::path path(const std::string& name) const { return dir_.path() / name; }
  TempDir dir_{"zstd"};
};

TEST_F(ZstdArchiverTest, RoundTripIsByteIdentical) {
  const std::string original = segment_like(kSegSize, 300000, 1);
  write(path(kName), original);
  fs::permissions(path(kName), fs::perms(0640));

  compress_segment_file(dir_.path(), kName, 3);

  EXPECT_FALSE(fs::exists(path(kName)));
  EXPECT_FALSE(fs::exists(path(kName + ".zst.tmp")));
  ASSERT_TRUE(fs::exists(path(kName + ".zst")));
  EXPECT_EQ(mode_of(path(kName + ".zst")), 0640u);
  EXPECT_LT(fs::file_size(path(kName + ".zst")), kSegSize / 2);
  EXPECT_EQ(zstd_content_size(path(kName + ".zst")), kSegSize);

  decompress_file(path(kName + ".zst"), path("restored"), kSegSize);
  EXPECT_EQ(read_file(path("restored")), original);
  // Without an expected size too.
  decompress_file(path(kName + ".zst"), path("restored2"), std::nullopt);
  EXPECT_EQ(read_file(path("restored2")), original);
}

TEST_F(ZstdArchiverTest, IncompressibleMultiBufferFile) {
  std::string original(3 * kSegSize + 17, '\0');
  std::mt19937 rng(2);
  for (char& c : original) c = static_cast<char>(rng());
  write(path(kName), original);
  compress_segment_file(dir_.path(), kName, 1);
  EXPECT_EQ(zstd_content_size(path(kName + ".zst")), original.size());
  decompress_file(path(kName + ".zst"), path("out"), original.size());
  EXPECT_EQ(read_file(path("out")), original);
}

TEST_F(ZstdArchiverTest, EmptyFile) {
  write(path(kName), "");
  compress_segment_file(dir_.path(), kName, 3);
  EXPECT_EQ(zstd_content_size(path(kName + ".zst")), 0u);
  decompress_file(path(kName + ".zst"), path("out"), 0);
  EXPECT_EQ(fs::file_size(path("out")), 0u);
}

TEST_F(ZstdArchiverTest, LeftoverTemporaryFileIsReplaced) {
  write(path(kName + ".zst.tmp"), "garbage from a crash");
  fs::permissions(path(kName + ".zst.tmp"), fs::perms(0400));
  const std::string original = segment_like(kSegSize, 1000, 3);
  write(path(kName), original);
  compress_segment_file(dir_.path(), kName, 3);
  EXPECT_FALSE(fs::exists(path(kName + ".zst.tmp")));
  decompress_file(path(kName + ".zst"), path("out"), kSegSize);
  EXPECT_EQ(read_file(path("out")), original);
}

TEST_F(ZstdArchiverTest, MissingSourceFailsAndLeavesNothing) {
  try {
    compress_segment_file(dir_.path(), kName, 3);
    FAIL() << "no exception";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kIo);
    EXPECT_EQ(std::string(e.what()),
              "could not open file \"" + path(kName).string() + "\": No such file or directory");
  }
  EXPECT_TRUE(fs::is_empty(dir_.path()));
}

TEST_F(ZstdArchiverTest, CorruptDataIsAnErrorAndLeavesNoDestination) {
  write(path(kName), segment_like(kSegSize, 500000, 4));
  compress_segment_file(dir_.path(), kName, 3);
  std::string compressed = read_file(path(kName + ".zst"));
  for (std::size_t i = compressed.size() / 2; i < compressed.size() / 2 + 64; ++i) {
    compressed[i] = static_cast<char>(compressed[i] ^ 0x5a);
  }
  write(path("bad.zst"), compressed);
  try {
    decompress_file(path("bad.zst"), path("out"), kSegSize);
    FAIL() << "no exception";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kIo);
    EXPECT_NE(std::string(e.what()).find("could not decompress file \"" + path("bad.zst").string()),
              std::string::npos)
        << e.what();
  }
  EXPECT_FALSE(fs::exists(path("out")));
}

TEST_F(ZstdArchiverTest, TruncatedDataIsAnError) {
  write(path(kName), segment_like(kSegSize, 500000, 5));
  compress_segment_file(dir_.path(), kName, 3);
  std::string compressed = read_file(path(kName + ".zst"));
  write(path("short.zst"), compressed.substr(0, compressed.size() - 100));
  try {
    decompress_file(path("short.zst"), path("out"), std::nullopt);
    FAIL() << "no exception";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), "could not decompress file \"" + path("short.zst").string() +
                                         "\": compressed data is truncated");
  }
  EXPECT_FALSE(fs::exists(path("out")));
  // The header still records the size.
  EXPECT_EQ(zstd_content_size(path("short.zst")), kSegSize);
}

TEST_F(ZstdArchiverTest, WrongExpectedSizeIsAnError) {
  write(path(kName), segment_like(1000, 1000, 6));
  compress_segment_file(dir_.path(), kName, 3);
  EXPECT_THROW(decompress_file(path(kName + ".zst"), path("out"), 999), Error);
  EXPECT_FALSE(fs::exists(path("out")));
  try {
    decompress_file(path(kName + ".zst"), path("out"), 1001);
    FAIL() << "no exception";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), "decompressed file \"" + path(kName + ".zst").string() +
                                         "\" has 1000 bytes, expected 1001");
  }
  EXPECT_FALSE(fs::exists(path("out")));
}

TEST_F(ZstdArchiverTest, ContentSizeOfANonZstdFileIsAnError) {
  write(path("plain.zst"), "this is not zstd at all");
  try {
    zstd_content_size(path("plain.zst"));
    FAIL() << "no exception";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kIo);
    EXPECT_EQ(std::string(e.what()),
              "file \"" + path("plain.zst").string() + "\" does not start with a zstd frame");
  }
  EXPECT_THROW(decompress_file(path("plain.zst"), path("out"), std::nullopt), Error);
  write(path("empty.zst"), "");
  EXPECT_THROW(zstd_content_size(path("empty.zst")), Error);
  EXPECT_THROW(decompress_file(path("empty.zst"), path("out"), std::nullopt), Error);
}

TEST_F(ZstdArchiverTest, DecompressPrefixReadsOnlyTheStart) {
  const std::string original = segment_like(kSegSize, kSegSize, 7);
  write(path(kName), original);
  compress_segment_file(dir_.path(), kName, 3);
  std::string page(8192, '\0');
  auto bytes = std::as_writable_bytes(std::span(page));
  EXPECT_EQ(decompress_prefix(path(kName + ".zst"), bytes), page.size());
  EXPECT_EQ(page, original.substr(0, 8192));
  // A truncated file still yields its start.
  std::string compressed = read_file(path(kName + ".zst"));
  write(path("short.zst"), compressed.substr(0, compressed.size() / 2));
  std::string again(8192, '\0');
  EXPECT_EQ(decompress_prefix(path("short.zst"), std::as_writable_bytes(std::span(again))), 8192u);
  EXPECT_EQ(again, page);
}

TEST_F(ZstdArchiverTest, ArchiverThreadCompressesQueuedSegments) {
  std::atomic<int> failures{0};
  std::vector<std::string> names = {"000000010000000000000003", "000000010000000000000004",
                                    "000000010000000000000005"};
  for (std::size_t i = 0; i < names.size(); ++i) {
    write(path(names[i]), segment_like(kSegSize, 10000, static_cast<unsigned>(i)));
  }
  {
    ZstdArchiver archiver(dir_.path(), 3, [&](std::exception_ptr) { ++failures; });
    archiver.enqueue(names[0]);
    archiver.enqueue(names[1]);
    archiver.drain();
    EXPECT_TRUE(fs::exists(path(names[0] + ".zst")));
    EXPECT_TRUE(fs::exists(path(names[1] + ".zst")));
    // Left in the queue at destruction: still done.
    archiver.enqueue(names[2]);
  }
  for (std::size_t i = 0; i < names.size(); ++i) {
    EXPECT_FALSE(fs::exists(path(names[i])));
    decompress_file(path(names[i] + ".zst"), path("out"), kSegSize);
    EXPECT_EQ(read_file(path("out")), segment_like(kSegSize, 10000, static_cast<unsigned>(i)));
  }
  EXPECT_EQ(failures, 0);
}

TEST_F(ZstdArchiverTest, ArchiverReportsEachCompressedSegment) {
  std::vector<std::string> compressed;  // the archiver thread's, read after drain()
  const std::vector<std::string> names = {"000000010000000000000003", "000000010000000000000004"};
  for (const auto& name : names) write(path(name), segment_like(kSegSize, 100, 1));
  ZstdArchiver archiver(
      dir_.path(), 3, [](std::exception_ptr) {},
      [&compressed, this](const std::string& name) {
        // Told once NAME.zst is in place and NAME gone.
        EXPECT_TRUE(fs::exists(path(name + ".zst")));
        EXPECT_FALSE(fs::exists(path(name)));
        compressed.push_back(name);
      });
  for (const auto& name : names) archiver.enqueue(name);
  archiver.enqueue("000000010000000000000009");  // missing: fails, not reported
  EXPECT_THROW(archiver.drain(), Error);
  EXPECT_EQ(compressed, names);
}

TEST_F(ZstdArchiverTest, ArchiverFailureIsReportedOnceAndRethrown) {
  std::atomic<int> failures{0};
  write(path(kName), segment_like(kSegSize, 100, 8));
  ZstdArchiver archiver(dir_.path(), 3, [&](std::exception_ptr) { ++failures; });
  archiver.enqueue("000000010000000000000002");  // missing
  archiver.enqueue(kName);
  EXPECT_THROW(archiver.drain(), Error);
  EXPECT_EQ(failures, 1);
  // Nothing more is compressed after a failure.
  EXPECT_TRUE(fs::exists(path(kName)));
  EXPECT_FALSE(fs::exists(path(kName + ".zst")));
  EXPECT_THROW(archiver.drain(), Error);
}

}  // namespace
}  // namespace walstream::storage
