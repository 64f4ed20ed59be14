#include "storage/backup_verifier.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "protocol/hex.h"
#include "protocol/wal_file_names.h"
#include "tests/support/temp_dir.h"
#include "tests/support/wal_builder.h"

using namespace walstream;
using namespace walstream::test;
using walstream::test_support::TempDir;

namespace {

namespace fs = std::filesystem;

// A version 1 manifest listing no files and one WAL range, with a correct
// Manifest-Checksum (SHA-256 of everything before that line).
std::string manifest_for_wal(Lsn start, Lsn end) {
  std::string text =
      "{ \"PostgreSQL-Backup-Manifest-Version\": 1,\n"
      "\"Files\": [\n],\n"
      "\"WAL-Ranges\": [\n"
      "{ \"Timeline\": 1, \"Start-LSN\": \"" +
      protocol::to_string(start) + "\", \"End-LSN\": \"" + protocol::to_string(end) +
      "\" }\n"
      "],\n";
  std::vector<std::uint8_t> digest(EVP_MAX_MD_SIZE);
  unsigned int length = 0;
  EVP_Digest(text.data(), text.size(), digest.data(), &length, EVP_sha256(), nullptr);
  digest.resize(length);
  return text + "\"Manifest-Checksum\": \"" + protocol::to_hex(digest) + "\"}\n";
}

void write_bytes(const fs::path& path, const std::byte* data, std::size_t size) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
}

class BackupWalTest : public testing::TestWithParam<protocol::SegmentNo> {};

// The WAL a backup needs is found in pg_wal whatever its segment number:
// with 1 MiB segments names run up to ...00000FFF in each xlogid, beyond the
// ...000000FF that 16 MiB segments end at.
TEST_P(BackupWalTest, WalOfOneMiBSegmentsVerifies) {
  const protocol::SegmentNo segno = GetParam();
  TempDir dir{"backup-verifier"};
  WalBuilder builder(protocol::segment_start_lsn(segno, kSegmentSize));
  const Lsn start = builder.add_record(100);
  while (builder.end().value < builder.start().value + 300 * 1024) builder.add_record(777);
  std::vector<std::byte> segment = builder.bytes();
  segment.resize(kSegmentSize);
  fs::create_directories(dir.path() / "pg_wal");
  write_bytes(dir.path() / "pg_wal" / protocol::wal_segment_file_name(1, segno, kSegmentSize),
              segment.data(), segment.size());
  std::ofstream(dir.path() / "backup_manifest") << manifest_for_wal(start, builder.end());

  const auto problems = storage::verify_backup({dir.path(), true, 15});
  EXPECT_TRUE(problems.empty()) << problems.front();
}

INSTANTIATE_TEST_SUITE_P(SegmentNumbers, BackupWalTest,
                         testing::Values(protocol::SegmentNo{3}, protocol::SegmentNo{0xFF},
                                         protocol::SegmentNo{0x100}, protocol::SegmentNo{0xFFF},
                                         protocol::SegmentNo{0x1000}));

}  // namespace
