#include "storage/background_writer.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <string>

#include "protocol/error.h"
#include "storage/file_util.h"
#include "tests/support/sample_data.h"
#include "tests/support/temp_dir.h"

namespace walstream::storage {
namespace {

using test_support::random_bytes;
using test_support::read_file;
using test_support::TempDir;

// Writes land at their offsets, each submit waiting for the one before.
TEST(BackgroundWriterTest, WritesLandAtTheirOffsets) {
  TempDir dir("background-writer");
  const auto path = dir.path() / "f";
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  ASSERT_GE(fd, 0);
  UniqueFd file(fd);
  const std::string a = random_bytes(70000, 1);
  const std::string b = random_bytes(50000, 2);
  BackgroundWriter writer;
  writer.submit(fd, as_bytes(a), 0, path);
  writer.submit(fd, as_bytes(b), 70000, path);
  writer.wait();
  EXPECT_EQ(read_file(path), a + b);
}

// A failed write is reported to the owner, names the file, and stays: every
// later call throws it again.
TEST(BackgroundWriterTest, AFailureIsFinalAndNamesTheFile) {
  TempDir dir("background-writer");
  const auto path = dir.path() / "read-only";
  std::ofstream(path) << "x";
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  UniqueFd file(fd);
  const std::string data = random_bytes(4096, 3);
  BackgroundWriter writer;
  writer.submit(fd, as_bytes(data), 0, path);
  try {
    writer.wait();
    FAIL() << "no exception";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kIo);
    EXPECT_NE(std::string(e.what()).find("read-only"), std::string::npos) << e.what();
  }
  EXPECT_THROW(writer.submit(fd, as_bytes(data), 0, path), Error);
  EXPECT_THROW(writer.wait(), Error);
  EXPECT_EQ(read_file(path), "x");
}

}  // namespace
}  // namespace walstream::storage
