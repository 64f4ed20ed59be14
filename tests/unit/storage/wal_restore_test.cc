#include "storage/wal_restore.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "protocol/error.h"
#include "storage/zstd_archiver.h"
#include "tests/support/sample_data.h"
#include "tests/support/temp_dir.h"

namespace walstream::storage {
namespace {

namespace fs = std::filesystem;
using test_support::read_file;
using test_support::TempDir;

constexpr std::uint64_t kSegSize = 1024 * 1024;
const std::string kName = "000000010000000000000003";

class WalRestoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fs::create_directory(archive());
    fs::create_directory(pg_wal());
  }
  fs::path archive() const { return dir_.path() / "archive"; }
  fs::path pg_wal() const { return dir_.path() / "pg_wal"; }
  // What the server passes as %p.
  fs::path destination() const { return pg_wal() / "RECOVERYXLOG"; }

  void put(const std::string& name, const std::string& contents) const {
    std::ofstream out(archive() / name, std::ios::binary | std::ios::trunc);
    out << contents;
  }

  TempDir dir_{"restore"};
};

TEST_F(WalRestoreTest, PlainSegment) {
  const std::string segment = test_support::half_random(kSegSize, 1);
  put(kName, segment);
  EXPECT_EQ(restore_wal_file(archive(), kName, destination()), RestoreOutcome::kRestored);
  EXPECT_EQ(read_file(destination()), segment);
  // The archive keeps its copy; no temporary file is left.
  EXPECT_TRUE(fs::exists(archive() / kName));
  EXPECT_FALSE(fs::exists(pg_wal() / "RECOVERYXLOG.walstream-tmp"));
}

TEST_F(WalRestoreTest, ReplacesAnExistingDestination) {
  const std::string segment = test_support::half_random(kSegSize, 2);
  put(kName, segment);
  {
    std::ofstream out(destination(), std::ios::binary);
    out << "stale";
  }
  EXPECT_EQ(restore_wal_file(archive(), kName, destination()), RestoreOutcome::kRestored);
  EXPECT_EQ(read_file(destination()), segment);
}

// pg_wal is the server's; a link planted at the temporary name is never
// written through, for a plain or a compressed segment.
TEST_F(WalRestoreTest, ALinkAtTheTemporaryNameIsNotFollowed) {
  const std::string segment = test_support::half_random(kSegSize, 4);
  put(kName, segment);
  const fs::path outside = dir_.path() / "outside";
  { std::ofstream(outside) << "keep"; }
  fs::create_symlink(outside, pg_wal() / "RECOVERYXLOG.walstream-tmp");
  EXPECT_THROW(restore_wal_file(archive(), kName, destination()), Error);
  // The failed restore removed the link (the temporary name is ours).
  EXPECT_FALSE(fs::exists(fs::symlink_status(pg_wal() / "RECOVERYXLOG.walstream-tmp")));
  fs::create_symlink(outside, pg_wal() / "RECOVERYXLOG.walstream-tmp");
  compress_segment_file(archive(), kName, 1);
  EXPECT_THROW(restore_wal_file(archive(), kName, destination()), Error);
  EXPECT_TRUE(read_file(outside) == "keep") << "the segment was written through the link";
}

TEST_F(WalRestoreTest, CompressedSegment) {
  const std::string segment = test_support::half_random(kSegSize, 3);
  put(kName, segment);
  compress_segment_file(archive(), kName, 3);
  ASSERT_FALSE(fs::exists(archive() / kName));
  EXPECT_EQ(restore_wal_file(archive(), kName, destination()), RestoreOutcome::kRestored);
  EXPECT_EQ(read_file(destination()), segment);
  EXPECT_TRUE(fs::exists(archive() / (kName + ".zst")));
  EXPECT_FALSE(fs::exists(pg_wal() / "RECOVERYXLOG.walstream-tmp"));
}

TEST_F(WalRestoreTest, PlainIsPreferredOverCompressed) {
  put(kName, test_support::half_random(kSegSize, 4));
  compress_segment_file(archive(), kName, 3);
  const std::string plain = test_support::half_random(kSegSize, 5);
  put(kName, plain);
  EXPECT_EQ(restore_wal_file(archive(), kName, destination()), RestoreOutcome::kRestored);
  EXPECT_EQ(read_file(destination()), plain);
}

TEST_F(WalRestoreTest, HistoryFile) {
  const std::string history = "1\t0/3000000\tno recovery target specified\n";
  put("00000002.history", history);
  EXPECT_EQ(restore_wal_file(archive(), "00000002.history", pg_wal() / "RECOVERYHISTORY"),
            RestoreOutcome::kRestored);
  EXPECT_EQ(read_file(pg_wal() / "RECOVERYHISTORY"), history);
}

TEST_F(WalRestoreTest, CompressedHistoryFileHasNoSizeRequirement) {
  const std::string history = "1\t0/3000000\tno recovery target specified\n";
  put("00000002.history", history);
  compress_segment_file(archive(), "00000002.history", 3);
  EXPECT_EQ(restore_wal_file(archive(), "00000002.history", destination()),
            RestoreOutcome::kRestored);
  EXPECT_EQ(read_file(destination()), history);
}

TEST_F(WalRestoreTest, MissingFileIsNotFound) {
  EXPECT_EQ(restore_wal_file(archive(), kName, destination()), RestoreOutcome::kNotFound);
  EXPECT_EQ(restore_wal_file(archive(), "00000005.history", destination()),
            RestoreOutcome::kNotFound);
  EXPECT_FALSE(fs::exists(destination()));
  // A .partial is not served under the complete name.
  put(kName + ".partial", "partial");
  EXPECT_EQ(restore_wal_file(archive(), kName, destination()), RestoreOutcome::kNotFound);
  EXPECT_TRUE(fs::is_empty(pg_wal()));
}

TEST_F(WalRestoreTest, BadNamesAreRejected) {
  put(kName, "x");
  put("README", "x");
  put(kName + ".partial", "x");
  put("00000002.history.tmp", "x");
  // The server asks for segments and timeline histories only: a name that is
  // neither is a wrong restore_command, even where such a file exists.
  const std::vector<std::string> names = {"",
                                          "../archive/" + kName,
                                          "sub/" + kName,
                                          ".hidden",
                                          "..",
                                          std::string("a\0b", 3),
                                          "README",
                                          "RECOVERYXLOG",
                                          kName + ".partial",
                                          kName + ".zst",
                                          "00000002.history.tmp",
                                          "00000001000000000000000a",
                                          "0000000100000000000000003",
                                          "000000010000000000000003.00000028.backup"};
  for (const std::string& name : names) {
    try {
      restore_wal_file(archive(), name, destination());
      FAIL() << "no exception for " << name;
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::kUsage) << name;
    }
  }
  EXPECT_FALSE(fs::exists(destination()));
}

TEST_F(WalRestoreTest, SegmentNamesOfEverySegmentSizeAreServed) {
  // 0xFFF is a segment of one xlogid only with 1 MiB segments.
  const std::string name = "000000010000000000000FFF";
  const std::string segment = test_support::half_random(kSegSize, 7);
  put(name, segment);
  compress_segment_file(archive(), name, 1);
  EXPECT_EQ(restore_wal_file(archive(), name, destination()), RestoreOutcome::kRestored);
  EXPECT_EQ(read_file(destination()), segment);
}

TEST_F(WalRestoreTest, CorruptCompressedSegmentLeavesNoDestination) {
  put(kName, test_support::half_random(kSegSize, 6));
  compress_segment_file(archive(), kName, 3);
  std::string compressed = read_file(archive() / (kName + ".zst"));
  // Cut it short: the frame still records 1 MiB.
  put(kName + ".zst", compressed.substr(0, compressed.size() / 2));
  try {
    restore_wal_file(archive(), kName, destination());
    FAIL() << "no exception";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kIo);
  }
  EXPECT_TRUE(fs::is_empty(pg_wal()));

  put(kName + ".zst", "garbage, not zstd");
  EXPECT_THROW(restore_wal_file(archive(), kName, destination()), Error);
  EXPECT_TRUE(fs::is_empty(pg_wal()));
}

TEST_F(WalRestoreTest, UnwritableDestinationIsAnError) {
  put(kName, "x");
  try {
    restore_wal_file(archive(), kName, dir_.path() / "missing" / "RECOVERYXLOG");
    FAIL() << "no exception";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kIo);
    EXPECT_NE(std::string(e.what()).find("No such file or directory"), std::string::npos);
  }
}

}  // namespace
}  // namespace walstream::storage
