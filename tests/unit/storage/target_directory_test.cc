#include "storage/target_directory.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "protocol/error.h"

namespace fs = std::filesystem;
using walstream::storage::TargetDirectory;

namespace {

class TargetDirectoryTest : public testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "walstream-target-XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    root_ = pattern;
  }
  void TearDown() override { fs::remove_all(root_); }

  static mode_t mode_of(const fs::path& p) {
    struct stat st {};
    EXPECT_EQ(::stat(p.c_str(), &st), 0);
    return st.st_mode & 07777;
  }

  fs::path root_;
};

TEST_F(TargetDirectoryTest, CreatesMissingDirectoryWithModeAndRemovesItAgain) {
  fs::path target = root_ / "a" / "b" / "clone";
  TargetDirectory dir(target);
  dir.create(0750);
  EXPECT_EQ(mode_of(target), 0750u);
  std::ofstream(target / "PG_VERSION") << "15\n";
  dir.remove_created();
  EXPECT_FALSE(fs::exists(root_ / "a"));  // parents it made go too
  EXPECT_TRUE(fs::exists(root_));
}

TEST_F(TargetDirectoryTest, EmptyExistingDirectoryIsEmptiedButKept) {
  fs::path target = root_ / "clone";
  fs::create_directory(target);
  TargetDirectory dir(target);
  dir.create(0700);
  fs::create_directory(target / "base");
  std::ofstream(target / "base" / "1") << "x";
  dir.remove_created();
  EXPECT_TRUE(fs::exists(target));
  EXPECT_TRUE(fs::is_empty(target));
}

TEST_F(TargetDirectoryTest, NonEmptyDirectoryIsRefusedAndUntouched) {
  fs::path target = root_ / "clone";
  fs::create_directory(target);
  std::ofstream(target / "keep.txt") << "precious";
  try {
    TargetDirectory dir(target);
    FAIL() << "expected an error";
  } catch (const walstream::Error& e) {
    EXPECT_NE(std::string(e.what()).find("not empty"), std::string::npos);
    // The user chose it: a usage error (exit 2), not an I/O failure.
    EXPECT_EQ(e.kind(), walstream::ErrorKind::kUsage);
  }
  EXPECT_TRUE(fs::exists(target / "keep.txt"));
}

TEST_F(TargetDirectoryTest, FileInsteadOfDirectoryIsRefused) {
  fs::path target = root_ / "file";
  std::ofstream(target) << "x";
  try {
    TargetDirectory dir(target);
    FAIL() << "expected an error";
  } catch (const walstream::Error& e) {
    EXPECT_EQ(e.kind(), walstream::ErrorKind::kUsage);
  }
  EXPECT_TRUE(fs::is_regular_file(target));
}

TEST_F(TargetDirectoryTest, RemoveBeforeCreateTouchesNothing) {
  fs::path target = root_ / "clone";
  fs::create_directory(target);
  TargetDirectory dir(target);
  std::ofstream(target / "late.txt") << "someone else's";
  dir.remove_created();
  EXPECT_TRUE(fs::exists(target / "late.txt"));
}

}  // namespace
