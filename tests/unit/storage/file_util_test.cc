#include "storage/file_util.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <span>
#include <string>
#include <vector>

#include "protocol/error.h"
#include "tests/support/temp_dir.h"

namespace walstream::storage {
namespace {

namespace fs = std::filesystem;

using test_support::mode_of;
using test_support::read_file;
using test_support::TempDir;
using test_support::UmaskGuard;

TEST(ThrowIoErrorTest, MessageHasPostgresForm) {
  try {
    throw_io_error("open file", "/x/y", EACCES);
    FAIL() << "no exception";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kIo);
    EXPECT_STREQ(e.what(), "could not open file \"/x/y\": Permission denied");
  }
}

TEST(UniqueFdTest, ClosesOnDestructionAndMove) {
  TempDir dir;
  fs::path path = dir.path() / "f";
  int raw = ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
  ASSERT_GE(raw, 0);
  {
    UniqueFd a(raw);
    UniqueFd b(std::move(a));
    EXPECT_FALSE(a);
    EXPECT_TRUE(b);
    EXPECT_EQ(b.get(), raw);
    UniqueFd c;
    c = std::move(b);
    EXPECT_EQ(c.get(), raw);
  }
  // The descriptor is closed now.
  EXPECT_EQ(::fcntl(raw, F_GETFD), -1);
  EXPECT_EQ(errno, EBADF);
}

TEST(UniqueFdTest, ExplicitCloseReportsErrors) {
  UniqueFd fd(::dup(STDERR_FILENO));
  ASSERT_TRUE(fd);
  fd.close("stderr");
  EXPECT_FALSE(fd);
  fd.close("stderr");  // no-op once closed

  // A descriptor that is not open: close fails with EBADF.
  UniqueFd bogus(1000000);
  try {
    bogus.close("/bogus");
    FAIL() << "no exception";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kIo);
    EXPECT_STREQ(e.what(), "could not close file \"/bogus\": Bad file descriptor");
  }
  EXPECT_FALSE(bogus);
}

TEST(WriteTest, PwriteAllWritesAtOffset) {
  TempDir dir;
  fs::path path = dir.path() / "f";
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  ASSERT_TRUE(fd);
  pwrite_all(fd.get(), as_bytes("hello"), 10, path);
  pwrite_all(fd.get(), as_bytes("XY"), 0, path);
  fd.close(path);
  std::string expected = "XY" + std::string(8, '\0') + "hello";
  EXPECT_EQ(read_file(path), expected);
}

TEST(WriteTest, WriteAllAppendsLargeBuffers) {
  TempDir dir;
  fs::path path = dir.path() / "f";
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600));
  ASSERT_TRUE(fd);
  std::string big(3 * 1024 * 1024 + 17, '\0');
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 31 + 7);
  write_all(fd.get(), as_bytes(big), path);
  write_all(fd.get(), as_bytes("tail"), path);
  fd.close(path);
  EXPECT_EQ(read_file(path), big + "tail");
}

TEST(WriteTest, WriteToReadOnlyDescriptorFails) {
  TempDir dir;
  fs::path path = dir.path() / "f";
  write_file(path, "x", 0600);
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  ASSERT_TRUE(fd);
  try {
    write_all(fd.get(), as_bytes("abc"), path);
    FAIL() << "no exception";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()),
              "could not write to file \"" + path.string() + "\": Bad file descriptor");
  }
  EXPECT_THROW(pwrite_all(fd.get(), as_bytes("abc"), 0, path), Error);
}

TEST(SyncTest, FsyncFileAndDirectory) {
  TempDir dir;
  fs::path path = dir.path() / "f";
  write_file(path, "data", 0600);
  EXPECT_NO_THROW(fsync_file(path));
  EXPECT_NO_THROW(fsync_directory(dir.path()));
  EXPECT_NO_THROW(sync_filesystem(dir.path()));
}

TEST(SyncTest, MissingPathsThrow) {
  TempDir dir;
  fs::path missing = dir.path() / "missing";
  try {
    fsync_file(missing);
    FAIL() << "no exception";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kIo);
    EXPECT_EQ(std::string(e.what()),
              "could not open file \"" + missing.string() + "\": No such file or directory");
  }
  EXPECT_THROW(fsync_directory(missing), Error);
  EXPECT_THROW(sync_filesystem(missing), Error);
  // sync_filesystem wants a directory.
  write_file(dir.path() / "f", "", 0600);
  EXPECT_THROW(sync_filesystem(dir.path() / "f"), Error);
}

TEST(DurableRenameTest, RenamesAndReplaces) {
  TempDir dir;
  fs::path from = dir.path() / "a.tmp";
  fs::path to = dir.path() / "a";
  write_file(to, "old", 0600);
  write_file(from, "new", 0600);
  durable_rename(from, to);
  EXPECT_FALSE(fs::exists(from));
  EXPECT_EQ(read_file(to), "new");
  EXPECT_THROW(durable_rename(from, to), Error);
}

TEST(DirectoryTest, MissingOrEmpty) {
  TempDir dir;
  EXPECT_TRUE(is_missing_or_empty_directory(dir.path() / "nope"));
  EXPECT_TRUE(is_missing_or_empty_directory(dir.path()));
  fs::create_directory(dir.path() / "sub");
  EXPECT_FALSE(is_missing_or_empty_directory(dir.path()));
  EXPECT_TRUE(is_missing_or_empty_directory(dir.path() / "sub"));
  write_file(dir.path() / "sub" / ".hidden", "", 0600);
  EXPECT_FALSE(is_missing_or_empty_directory(dir.path() / "sub"));
  // A regular file is not an empty directory.
  EXPECT_FALSE(is_missing_or_empty_directory(dir.path() / "sub" / ".hidden"));
}

TEST(WriteFileTest, CreatesWithExactModeAndTruncates) {
  UmaskGuard umask_guard(077);
  TempDir dir;
  fs::path path = dir.path() / "f";
  write_file(path, "first contents", 0640);
  EXPECT_EQ(read_file(path), "first contents");
  EXPECT_EQ(mode_of(path), 0640u);
  write_file(path, "second", 0640);
  EXPECT_EQ(read_file(path), "second");
  write_file(path, "", 0640);
  EXPECT_EQ(read_file(path), "");
}

TEST(WriteFileTest, DoesNotLeakDescriptorsAcrossExec) {
  // O_CLOEXEC: nothing observable besides no leak; check the count of open
  // descriptors is unchanged after many writes.
  TempDir dir;
  auto count_fds = [] {
    std::size_t n = 0;
    for ([[maybe_unused]] const auto& entry : fs::directory_iterator("/proc/self/fd")) ++n;
    return n;
  };
  std::size_t before = count_fds();
  for (int i = 0; i < 50; ++i) {
    write_file(dir.path() / "f", "x", 0600);
    append_file(dir.path() / "g", "y", 0600);
  }
  EXPECT_EQ(count_fds(), before);
}

TEST(AppendFileTest, CreatesThenAppends) {
  UmaskGuard umask_guard(022);
  TempDir dir;
  fs::path path = dir.path() / "log";
  append_file(path, "a\n", 0600);
  append_file(path, "b\n", 0644);  // mode only applies on creation
  EXPECT_EQ(read_file(path), "a\nb\n");
  EXPECT_EQ(mode_of(path), 0600u);
}

TEST(AppendFileTest, FailsInMissingDirectory) {
  TempDir dir;
  fs::path path = dir.path() / "missing" / "log";
  try {
    append_file(path, "a", 0600);
    FAIL() << "no exception";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()),
              "could not open file \"" + path.string() + "\": No such file or directory");
  }
  EXPECT_THROW(write_file(path, "a", 0600), Error);
}

// A link in a target is something a server's archive may have planted:
// neither write_file nor append_file goes through it, and a dangling one is an
// error at once (it used to be retried for ever).
TEST(WriteFileTest, NeverFollowsASymbolicLink) {
  TempDir dir;
  const fs::path outside = dir.path() / "outside";
  write_file(outside, "keep", 0600);
  fs::create_symlink(outside, dir.path() / "link");
  fs::create_symlink(dir.path() / "missing", dir.path() / "dangling");
  for (const char* name : {"link", "dangling"}) {
    for (int append = 0; append < 2; ++append) {
      const fs::path path = dir.path() / name;
      try {
        if (append) {
          append_file(path, "x", 0600);
        } else {
          write_file(path, "x", 0600);
        }
        FAIL() << name << " was written";
      } catch (const Error& e) {
        EXPECT_EQ(e.kind(), ErrorKind::kIo);
        EXPECT_EQ(std::string(e.what()), "\"" + path.string() + "\" is a symbolic link");
        EXPECT_FALSE(e.hint().empty());
      }
    }
  }
  EXPECT_EQ(read_file(outside), "keep");
  EXPECT_FALSE(fs::exists(dir.path() / "missing"));
}

TEST(ReadWholeFileTest, ReadsUpToTheCap) {
  TempDir dir;
  const fs::path path = dir.path() / "f";
  const std::string contents(100000, 'x');  // more than one read
  write_file(path, contents, 0600);
  EXPECT_EQ(read_whole_file(path, contents.size()), contents);
  write_file(path, "", 0600);
  EXPECT_EQ(read_whole_file(path, 0), "");
}

TEST(ReadWholeFileTest, LargerThanTheCapIsAnErrorNamingTheFile) {
  TempDir dir;
  const fs::path path = dir.path() / "f";
  write_file(path, "12345", 0600);
  try {
    read_whole_file(path, 4);
    FAIL() << "no exception";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kIo);
    EXPECT_EQ(std::string(e.what()),
              "file \"" + path.string() + "\" is too large: more than 4 bytes");
    EXPECT_NE(e.hint(), "");
  }
  // A file without a size (procfs says 0) is capped as it is read.
  EXPECT_THROW(read_whole_file("/proc/self/maps", 10), Error);
}

TEST(ReadWholeFileTest, MissingFileIsNamed) {
  TempDir dir;
  const fs::path path = dir.path() / "missing";
  try {
    read_whole_file(path, 100);
    FAIL() << "no exception";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()),
              "could not open file \"" + path.string() + "\": No such file or directory");
  }
}

TEST(ReadPrefixTest, FillsTheBufferOrStopsAtTheEnd) {
  TempDir dir;
  const fs::path path = dir.path() / "f";
  write_file(path, "abcdef", 0600);
  std::string buffer(4, '\0');
  EXPECT_EQ(read_prefix(path, std::as_writable_bytes(std::span(buffer))), 4u);
  EXPECT_EQ(buffer, "abcd");
  std::string longer(10, '\0');
  EXPECT_EQ(read_prefix(path, std::as_writable_bytes(std::span(longer))), 6u);
  EXPECT_EQ(longer.substr(0, 6), "abcdef");
  EXPECT_THROW(read_prefix(dir.path() / "missing", std::as_writable_bytes(std::span(buffer))),
               Error);
}

}  // namespace
}  // namespace walstream::storage
