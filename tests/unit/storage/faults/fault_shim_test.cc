// The fault shim itself (tests/fault/fault_shim.c): which calls it counts,
// that the Nth fails with the chosen errno and does nothing, and that a
// failed sync with :lose puts the file back as it was at its last sync. The
// storage fault tests rely on each of these.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <string>

#include "tests/support/fault_shim_control.h"
#include "tests/support/sample_data.h"
#include "tests/support/temp_dir.h"

namespace walstream {
namespace {

namespace fs = std::filesystem;
using test_support::FaultShim;
using test_support::random_bytes;
using test_support::read_file;
using test_support::ScopedFault;
using test_support::TempDir;

int create(const fs::path& path, int extra_flags = 0) {
  return ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | extra_flags, 0600);
}

TEST(FaultShimTest, TheNthMatchingCallFailsWithTheErrnoAndWritesNothing) {
  TempDir dir("shim");
  const int fd = create(dir.path() / "f");
  ASSERT_GE(fd, 0);
  ScopedFault fault("pwrite:2:ENOSPC", dir.path().string());
  EXPECT_EQ(::pwrite(fd, "a", 1, 0), 1);
  errno = 0;
  EXPECT_EQ(::pwrite(fd, "b", 1, 1), -1);
  EXPECT_EQ(errno, ENOSPC);
  EXPECT_EQ(::pwrite(fd, "c", 1, 1), 1);  // only the 2nd
  EXPECT_EQ(::write(fd, "d", 1), 1);      // another kind: not counted
  EXPECT_EQ(FaultShim::calls(), 3);
  EXPECT_EQ(FaultShim::failures(), 1);
  EXPECT_EQ(FaultShim::failed_path(), (dir.path() / "f").string());
  ::close(fd);
  EXPECT_EQ(read_file(dir.path() / "f"), "dc");
}

TEST(FaultShimTest, EveryCallFromTheNthFailsWithPlus) {
  TempDir dir("shim");
  const int fd = create(dir.path() / "f");
  ScopedFault fault("writes:2+:EIO", dir.path().string());
  EXPECT_EQ(::write(fd, "a", 1), 1);
  EXPECT_EQ(::pwrite(fd, "b", 1, 1), -1);
  EXPECT_EQ(::write(fd, "c", 1), -1);
  EXPECT_EQ(FaultShim::failures(), 2);
  ::close(fd);
}

TEST(FaultShimTest, OnlyPathsContainingTheFilterCount) {
  TempDir dir("shim");
  fs::create_directory(dir.path() / "in");
  fs::create_directory(dir.path() / "out");
  ScopedFault fault("create:1:EDQUOT", (dir.path() / "in").string());
  const int outside = create(dir.path() / "out" / "f");
  EXPECT_GE(outside, 0);
  EXPECT_EQ(create(dir.path() / "in" / "f"), -1);
  EXPECT_EQ(errno, EDQUOT);
  EXPECT_FALSE(fs::exists(dir.path() / "in" / "f"));
  // An open without O_CREAT is no creation.
  const int reading = ::open((dir.path() / "out" / "f").c_str(), O_RDONLY | O_CLOEXEC);
  EXPECT_GE(reading, 0);
  EXPECT_EQ(FaultShim::calls(), 1);
  ::close(outside);
  ::close(reading);
}

TEST(FaultShimTest, FsyncOfADirectoryIsItsOwnKind) {
  TempDir dir("shim");
  const int file = create(dir.path() / "f");
  const int directory = ::open(dir.path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  ASSERT_GE(directory, 0);
  {
    ScopedFault fault("fsyncdir:1:EIO", dir.path().string());
    EXPECT_EQ(::fsync(file), 0);
    EXPECT_EQ(::fsync(directory), -1);
    EXPECT_EQ(errno, EIO);
  }
  {
    ScopedFault fault("fsync:1:EIO", dir.path().string());
    EXPECT_EQ(::fsync(directory), 0);
    EXPECT_EQ(::fdatasync(file), 0);
    EXPECT_EQ(::fsync(file), -1);
  }
  ::close(file);
  ::close(directory);
}

TEST(FaultShimTest, RenameFailsAndLeavesTheName) {
  TempDir dir("shim");
  ::close(create(dir.path() / "a"));
  ScopedFault fault("rename:1:EIO", dir.path().string());
  EXPECT_EQ(std::rename((dir.path() / "a").c_str(), (dir.path() / "b").c_str()), -1);
  EXPECT_TRUE(fs::exists(dir.path() / "a"));
  EXPECT_EQ(std::rename((dir.path() / "a").c_str(), (dir.path() / "b").c_str()), 0);
}

TEST(FaultShimTest, DirectWritesAreOnlyThoseOnODirectDescriptors) {
  TempDir dir("shim");
  const int buffered = create(dir.path() / "buffered");
  const int direct = create(dir.path() / "direct", O_DIRECT);
  if (direct < 0) GTEST_SKIP() << "no O_DIRECT in " << dir.path();
  ScopedFault fault("directwrite:1+:EINVAL", dir.path().string());
  alignas(4096) static char block[4096] = {};
  EXPECT_EQ(::pwrite(buffered, block, sizeof block, 0), 4096);
  EXPECT_EQ(::pwrite(direct, block, sizeof block, 0), -1);
  EXPECT_EQ(errno, EINVAL);
  EXPECT_EQ(FaultShim::calls(), 1);
  ::close(buffered);
  ::close(direct);
}

// What a failed sync with :lose leaves: the file as of its last successful
// sync, a block rewritten since included (its old bytes come back) and its
// size; what another file holds is not touched.
TEST(FaultShimTest, AFailedSyncLosesTheWritesSinceTheLastSync) {
  TempDir dir("shim");
  const int fd = create(dir.path() / "f");
  const int other = create(dir.path() / "other");
  const std::string synced = random_bytes(8192, 1);
  const std::string later = random_bytes(8192, 2);
  ScopedFault fault("fdatasync:2:EIO:lose", dir.path().string());
  ASSERT_EQ(::pwrite(fd, synced.data(), synced.size(), 0), 8192);
  ASSERT_EQ(::fdatasync(fd), 0);
  ASSERT_EQ(::pwrite(fd, later.data(), later.size(), 4096), 8192);  // rewrites, then grows
  ASSERT_EQ(::write(other, "kept", 4), 4);
  EXPECT_EQ(::fdatasync(fd), -1);
  EXPECT_EQ(read_file(dir.path() / "f"), synced);
  EXPECT_EQ(read_file(dir.path() / "other"), "kept");
  ::close(fd);
  ::close(other);
}

}  // namespace
}  // namespace walstream
