#include "storage/file_write_pool.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "protocol/error.h"
#include "tests/support/sample_data.h"
#include "tests/support/temp_dir.h"

namespace walstream::storage {
namespace {

namespace fs = std::filesystem;
using test_support::random_bytes;
using test_support::read_file;
using test_support::TempDir;

// Appends `data` in pieces of `chunk` bytes, as the tar parser hands them over.
void append_in_pieces(PooledFileStream& stream, const std::string& data, std::size_t chunk) {
  ByteView bytes = as_bytes(data);
  for (std::size_t at = 0; at < bytes.size(); at += chunk) {
    stream.append(bytes.subspan(at, std::min(chunk, bytes.size() - at)));
  }
}

struct PoolCase {
  const char* name;
  bool direct_io;
  unsigned threads;
  std::size_t buffer_count;
};

class FileWritePoolSizes : public ::testing::TestWithParam<PoolCase> {};

// Every size around the alignment and the buffer size comes back byte for
// byte, with its exact length (the padded tail of a direct write is cut off).
TEST_P(FileWritePoolSizes, FilesComeBackExactly) {
  TempDir dir("write-pool");
  const PoolCase& c = GetParam();
  FileWritePoolOptions options;
  options.buffer_size = 16 * 1024;
  options.buffer_count = c.buffer_count;
  options.writer_threads = c.threads;
  options.direct_io = c.direct_io;
  FileWritePool pool(options);

  const std::vector<std::size_t> sizes = {0,     1,     3,     4095,  4096,  4097,  8192,
                                          16383, 16384, 16385, 40000, 65536, 100003};
  std::vector<std::string> contents;
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    contents.push_back(random_bytes(sizes[i], static_cast<unsigned>(i + 1)));
    PooledFileStream stream = pool.create(dir.path() / std::to_string(i), 0600);
    append_in_pieces(stream, contents.back(), 1000 + i * 977);
    stream.close();
  }
  pool.finish();

  for (std::size_t i = 0; i < sizes.size(); ++i) {
    SCOPED_TRACE("size " + std::to_string(sizes[i]));
    EXPECT_EQ(fs::file_size(dir.path() / std::to_string(i)), sizes[i]);
    EXPECT_EQ(read_file(dir.path() / std::to_string(i)), contents[i]);
  }
  std::uint64_t total = 0;
  for (std::size_t size : sizes) total += size;
  EXPECT_GE(pool.bytes_written(), total);
  EXPECT_EQ(pool.direct_files() + pool.buffered_files(), sizes.size());
}

INSTANTIATE_TEST_SUITE_P(Modes, FileWritePoolSizes,
                         ::testing::Values(PoolCase{"direct_one_thread", true, 1, 4},
                                           PoolCase{"direct_three_threads", true, 3, 8},
                                           PoolCase{"direct_one_buffer", true, 2, 1},
                                           PoolCase{"buffered_two_threads", false, 2, 4}),
                         [](const auto& test_info) { return std::string(test_info.param.name); });

// Several files appended to in turn (as a tar stream never does, but the
// pool must not mix them up).
TEST(FileWritePool, InterleavedFilesStaySeparate) {
  TempDir dir("write-pool");
  FileWritePoolOptions options;
  options.buffer_size = 8192;
  options.buffer_count = 6;
  FileWritePool pool(options);
  std::string a = random_bytes(50000, 7);
  std::string b = random_bytes(30001, 8);
  PooledFileStream sa = pool.create(dir.path() / "a", 0600);
  PooledFileStream sb = pool.create(dir.path() / "b", 0600);
  for (std::size_t at = 0; at < 50000; at += 5000) {
    sa.append(as_bytes(a).subspan(at, 5000));
    if (at < 30001) sb.append(as_bytes(b).subspan(at, std::min<std::size_t>(5000, 30001 - at)));
  }
  sa.close();
  sb.close();
  pool.finish();
  EXPECT_EQ(read_file(dir.path() / "a"), a);
  EXPECT_EQ(read_file(dir.path() / "b"), b);
}

// tmpfs took no O_DIRECT before Linux 6.6: the pool falls back to ordinary
// writes there; either way the file comes back exactly.
TEST(FileWritePool, WritesToTmpfs) {
  if (!fs::is_directory("/dev/shm")) GTEST_SKIP() << "no /dev/shm";
  TempDir scratch("write-pool");
  fs::path dir = fs::path("/dev/shm") / scratch.path().filename();
  fs::create_directory(dir);
  FileWritePool pool({});
  std::string data = random_bytes(10000, 3);
  PooledFileStream stream = pool.create(dir / "f", 0600);
  append_in_pieces(stream, data, 3000);
  stream.close();
  pool.finish();
  EXPECT_EQ(read_file(dir / "f"), data);
  EXPECT_EQ(pool.buffered_files() + pool.direct_files(), 1u);
  fs::remove_all(dir);
}

// A writer's failure reaches the appending thread, names the file, and stops
// further appends instead of being lost. The file is created with O_EXCL and
// O_NOFOLLOW: an existing file or a symlink in its place is an error, and
// what the symlink points at is left alone.
TEST(FileWritePool, CreationErrorReachesTheAppender) {
  for (bool link : {false, true}) {
    SCOPED_TRACE(link ? "symlink" : "existing file");
    TempDir dir("write-pool");
    std::ofstream(dir.path() / "elsewhere") << "keep";
    if (link) {
      fs::create_symlink(dir.path() / "elsewhere", dir.path() / "taken");
    } else {
      std::ofstream(dir.path() / "taken") << "keep";
    }
    // Several writers take the file's first writes at once, so several
    // wait on the creation that fails (under ThreadSanitizer, a waiter on a
    // std::call_once whose function threw hung forever).
    FileWritePoolOptions options;
    options.buffer_size = 4096;
    options.buffer_count = 8;
    options.writer_threads = 4;
    FileWritePool pool(options);
    PooledFileStream stream = pool.create(dir.path() / "taken", 0600);
    std::string data = random_bytes(4096, 1);
    try {
      for (int i = 0; i < 100; ++i) {
        stream.append(as_bytes(data));
        ::usleep(1000);
      }
      stream.close();
      pool.finish();
      FAIL() << "expected an error";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::kIo);
      EXPECT_NE(std::string(e.what()).find("taken"), std::string::npos) << e.what();
    }
    EXPECT_EQ(read_file(dir.path() / "elsewhere"), "keep");
  }
}

// A file with no data is created too, with its mode.
TEST(FileWritePool, EmptyFileIsCreated) {
  TempDir dir("write-pool");
  FileWritePool pool({});
  PooledFileStream stream = pool.create(dir.path() / "empty", 0640);
  stream.close();
  pool.finish();
  ASSERT_TRUE(fs::exists(dir.path() / "empty"));
  EXPECT_EQ(fs::file_size(dir.path() / "empty"), 0u);
  EXPECT_EQ(test_support::mode_of(dir.path() / "empty"), 0640u);
}

// Abandoning a stream (an error elsewhere) closes its file and frees its
// buffer; the pool can still be destroyed cleanly with writes queued.
TEST(FileWritePool, AbandonedStreamsDoNotHang) {
  TempDir dir("write-pool");
  FileWritePoolOptions options;
  options.buffer_size = 4096;
  options.buffer_count = 2;
  FileWritePool pool(options);
  for (int i = 0; i < 5; ++i) {
    PooledFileStream stream = pool.create(dir.path() / std::to_string(i), 0600);
    std::string data = random_bytes(10000, static_cast<unsigned>(i));
    stream.append(as_bytes(data));
  }
  pool.finish();
}

}  // namespace
}  // namespace walstream::storage
