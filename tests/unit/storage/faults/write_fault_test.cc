// Write errors of the storage layer, injected by the fault shim at every
// write of a run: each surfaces as a walstream::Error naming the file (never
// swallowed, never a hang), and a filesystem that refuses O_DIRECT writes
// (EINVAL) gets them through the page cache instead, byte for byte.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "protocol/error.h"
#include "storage/background_writer.h"
#include "storage/file_util.h"
#include "storage/file_write_pool.h"
#include "storage/segment_completion.h"
#include "storage/wal_segment_writer.h"
#include "tests/support/fault_shim_control.h"
#include "tests/support/sample_data.h"
#include "tests/support/temp_dir.h"

namespace walstream::storage {
namespace {

namespace fs = std::filesystem;
using test_support::FaultShim;
using test_support::random_bytes;
using test_support::read_file;
using test_support::ScopedFault;
using test_support::TempDir;

// strerror text of the errno names the tests inject.
std::string error_text(const std::string& name) {
  if (name == "ENOSPC") return "No space left on device";
  if (name == "EIO") return "Input/output error";
  return name;
}

// `run` must throw a walstream::Error (kIo) that names the file the failed
// call was on and the injected error.
void expect_error_naming_failed_file(const std::function<void()>& run, const std::string& error) {
  try {
    run();
    ADD_FAILURE() << "no error, though " << FaultShim::failures() << " call(s) failed";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kIo) << e.what();
    const std::string failed = FaultShim::failed_path();
    ASSERT_FALSE(failed.empty()) << "an error without an injected failure: " << e.what();
    EXPECT_NE(std::string(e.what()).find(fs::path(failed).filename().string()), std::string::npos)
        << "the error does not name " << failed << ": " << e.what();
    EXPECT_NE(std::string(e.what()).find(error_text(error)), std::string::npos) << e.what();
  }
}

// --- BackgroundWriter --------------------------------------------------------

TEST(BackgroundWriterFaultTest, AFailedWriteNamesTheFileAndIsNotRetried) {
  for (const char* error : {"ENOSPC", "EIO"}) {
    SCOPED_TRACE(error);
    TempDir dir("bw-fault");
    const fs::path path = dir.path() / "segment";
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    ASSERT_GE(fd, 0);
    UniqueFd file(fd);
    const std::string first = random_bytes(8192, 1);
    const std::string second = random_bytes(8192, 2);
    ScopedFault fault(std::string("pwrite:2:") + error, dir.path().string());
    BackgroundWriter writer;
    writer.submit(fd, as_bytes(first), 0, path);
    writer.submit(fd, as_bytes(second), 8192, path);
    expect_error_naming_failed_file([&] { writer.wait(); }, error);
    // Final: every later call throws it again and writes nothing.
    EXPECT_THROW(writer.submit(fd, as_bytes(second), 8192, path), Error);
    EXPECT_THROW(writer.wait(), Error);
    EXPECT_EQ(FaultShim::calls(), 2);
    EXPECT_EQ(read_file(path), first);
  }
}

// --- FileWritePool -----------------------------------------------------------

// A handful of files around the buffer size, written through a small pool.
const std::vector<std::size_t> kPoolFileSizes = {0, 1, 4096, 5000, 16384, 70000};

void write_pool_files(FileWritePool& pool, const fs::path& dir) {
  for (std::size_t i = 0; i < kPoolFileSizes.size(); ++i) {
    PooledFileStream stream = pool.create(dir / ("file" + std::to_string(i)), 0600);
    const std::string data = random_bytes(kPoolFileSizes[i], static_cast<unsigned>(i + 1));
    ByteView bytes = as_bytes(data);
    for (std::size_t at = 0; at < bytes.size(); at += 3000) {
      stream.append(bytes.subspan(at, std::min<std::size_t>(3000, bytes.size() - at)));
    }
    stream.close();
  }
  pool.finish();
}

void expect_pool_files(const fs::path& dir) {
  for (std::size_t i = 0; i < kPoolFileSizes.size(); ++i) {
    EXPECT_EQ(read_file(dir / ("file" + std::to_string(i))),
              random_bytes(kPoolFileSizes[i], static_cast<unsigned>(i + 1)))
        << "file" << i;
  }
}

FileWritePoolOptions small_pool(bool direct_io) {
  FileWritePoolOptions options;
  options.buffer_size = 16 * 1024;
  options.buffer_count = 3;
  options.writer_threads = 2;
  options.direct_io = direct_io;
  return options;
}

struct PoolFault {
  const char* kind;
  const char* error;
  bool direct_io;
};

class FileWritePoolFaultTest : public ::testing::TestWithParam<PoolFault> {};

// The Nth matching call fails, for every N of the run (a run has a few dozen).
TEST_P(FileWritePoolFaultTest, EveryFailingCallSurfacesNamingItsFile) {
  const PoolFault& c = GetParam();
  long count = 0;
  {
    TempDir dir("pool-fault");
    ScopedFault counting(std::string(c.kind) + ":0:" + c.error, dir.path().string());
    FileWritePool pool(small_pool(c.direct_io));
    write_pool_files(pool, dir.path());
    count = FaultShim::calls();
    expect_pool_files(dir.path());
  }
  ASSERT_GT(count, 0) << c.kind << " is never called";
  for (long n = 1; n <= count; ++n) {
    SCOPED_TRACE(std::string(c.kind) + " call " + std::to_string(n) + " of " +
                 std::to_string(count));
    TempDir dir("pool-fault");
    ScopedFault fault(std::string(c.kind) + ":" + std::to_string(n) + ":" + c.error,
                      dir.path().string());
    FileWritePool pool(small_pool(c.direct_io));
    expect_error_naming_failed_file([&] { write_pool_files(pool, dir.path()); }, c.error);
    EXPECT_EQ(FaultShim::failures(), 1);
  }
}

INSTANTIATE_TEST_SUITE_P(Faults, FileWritePoolFaultTest,
                         ::testing::Values(PoolFault{"pwrite", "ENOSPC", true},
                                           PoolFault{"pwrite", "EIO", false},
                                           PoolFault{"create", "ENOSPC", true}));

// A filesystem that takes O_DIRECT at open but refuses every direct write:
// the pool finishes its files through the page cache.
TEST(FileWritePoolFaultTest, DirectWritesRefusedFallBackToThePageCache) {
  TempDir dir("pool-fault");
  ScopedFault fault("directwrite:1+:EINVAL", dir.path().string());
  FileWritePool pool(small_pool(true));
  write_pool_files(pool, dir.path());
  EXPECT_GT(FaultShim::failures(), 0) << "no direct write was attempted";
  expect_pool_files(dir.path());
}

// --- WalSegmentWriter --------------------------------------------------------

constexpr std::uint64_t kSegSize = 1024 * 1024;

// Writes 2.5 segments in 100 kB messages, flushing after each; full segments
// are completed without a sync (as a clone does).
void write_wal(const fs::path& dir, bool direct_io, SegmentPreallocation preallocation,
               const std::string& wal) {
  WalSegmentWriterOptions options;
  options.directory = dir;
  options.segment_size = kSegSize;
  options.direct_io = direct_io;
  options.preallocation = preallocation;
  options.on_segment_full = [dir](SegmentFilePtr file, protocol::StreamPosition) {
    CompletionPolicy policy;
    policy.directory = dir;
    policy.sync = false;
    complete_segment(*file, policy);
  };
  WalSegmentWriter writer(options);
  constexpr std::size_t kMessage = 100 * 1000;
  const std::uint64_t start = 3 * kSegSize;
  for (std::size_t at = 0; at < wal.size(); at += kMessage) {
    const ByteView piece = as_bytes(wal).subspan(at, std::min(kMessage, wal.size() - at));
    writer.write(protocol::StreamPosition{1, protocol::Lsn{start + at}},
                 std::span<const ByteView>(&piece, 1));
    writer.flush();
  }
  writer.release_segment();
}

void expect_wal(const fs::path& dir, const std::string& wal) {
  EXPECT_EQ(read_file(dir / "000000010000000000000003"), wal.substr(0, kSegSize));
  EXPECT_EQ(read_file(dir / "000000010000000000000004"), wal.substr(kSegSize, kSegSize));
  const std::string last = read_file(dir / "000000010000000000000005.partial");
  ASSERT_EQ(last.size(), kSegSize);
  EXPECT_EQ(last.substr(0, wal.size() - 2 * kSegSize), wal.substr(2 * kSegSize));
  EXPECT_EQ(last.find_first_not_of('\0', wal.size() - 2 * kSegSize), std::string::npos);
}

class WalSegmentWriterFaultTest : public ::testing::TestWithParam<SegmentPreallocation> {};

// A filesystem that takes O_DIRECT but refuses the writes gets the segments
// through the page cache, whichever way they were preallocated.
TEST_P(WalSegmentWriterFaultTest, DirectWritesRefusedFallBackToThePageCache) {
  TempDir dir("wal-fault");
  const std::string wal = random_bytes(2 * kSegSize + kSegSize / 2, 9);
  ScopedFault fault("directwrite:1+:EINVAL", dir.path().string());
  ASSERT_NO_THROW(write_wal(dir.path(), true, GetParam(), wal));
  EXPECT_GT(FaultShim::failures(), 0) << "no direct write was attempted";
  expect_wal(dir.path(), wal);
}

// A full disk (every write from the Nth on fails), one failed write (EIO:
// not retried through the page cache either, the fallback is for a refusal
// of O_DIRECT alone), a failing allocation or creation, for every N of the
// run: the error names the segment file.
TEST_P(WalSegmentWriterFaultTest, EveryFailingCallSurfacesNamingItsFile) {
  struct Case {
    const char* kind;
    const char* every_later_call;  // "+": from the Nth call on
    const char* error;
  };
  const std::string wal = random_bytes(2 * kSegSize + kSegSize / 2, 9);
  for (bool direct_io : {true, false}) {
    for (const Case& c : {Case{"writes", "+", "ENOSPC"}, Case{"writes", "", "EIO"},
                          Case{"fallocate", "", "ENOSPC"}, Case{"create", "", "ENOSPC"}}) {
      long count = 0;
      {
        TempDir dir("wal-fault");
        ScopedFault counting(std::string(c.kind) + ":0:" + c.error, dir.path().string());
        write_wal(dir.path(), direct_io, GetParam(), wal);
        count = FaultShim::calls();
        expect_wal(dir.path(), wal);
      }
      for (long n = 1; n <= count; ++n) {
        const std::string spec =
            std::string(c.kind) + ":" + std::to_string(n) + c.every_later_call + ":" + c.error;
        SCOPED_TRACE(spec + (direct_io ? " direct" : " buffered") + ", out of " +
                     std::to_string(count) + " calls");
        TempDir dir("wal-fault");
        ScopedFault fault(spec, dir.path().string());
        expect_error_naming_failed_file([&] { write_wal(dir.path(), direct_io, GetParam(), wal); },
                                        c.error);
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Preallocation, WalSegmentWriterFaultTest,
                         ::testing::Values(SegmentPreallocation::kZeroFill,
                                           SegmentPreallocation::kAllocate));

}  // namespace
}  // namespace walstream::storage
