#include "protocol/backup_manifest.h"

#include <gtest/gtest.h>

#include <string>

#include "protocol/error.h"
#include "protocol/hex.h"

using namespace walstream;
using namespace walstream::protocol;

namespace {

// Laid out exactly as PostgreSQL 15 writes it (one file per line).
const std::string kVersion1 =
    "{ \"PostgreSQL-Backup-Manifest-Version\": 1,\n"
    "\"Files\": [\n"
    "{ \"Path\": \"backup_label\", \"Size\": 225, \"Last-Modified\": \"2024-01-02 03:04:05 GMT\", "
    "\"Checksum-Algorithm\": \"CRC32C\", \"Checksum\": \"839206e3\" },\n"
    "{ \"Path\": \"base/1/1259\", \"Size\": 8192, \"Last-Modified\": \"2024-01-02 03:04:05 GMT\", "
    "\"Checksum-Algorithm\": \"SHA256\", \"Checksum\": "
    "\"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\" },\n"
    "{ \"Encoded-Path\": \"626173652f312f6e6f6e65\", \"Size\": 0, \"Last-Modified\": \"2024-01-02 "
    "03:04:05 GMT\" }\n"
    "],\n"
    "\"WAL-Ranges\": [\n"
    "{ \"Timeline\": 2, \"Start-LSN\": \"0/5000060\", \"End-LSN\": \"0/6000100\" },\n"
    "{ \"Timeline\": 1, \"Start-LSN\": \"0/2000028\", \"End-LSN\": \"0/5000060\" }\n"
    "],\n"
    "\"Manifest-Checksum\": "
    "\"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\"}\n";

std::string version2() {
  std::string text = kVersion1;
  text.replace(text.find("1,\n"), 3, "2,\n\"System-Identifier\": 7301234567890123456,\n");
  return text;
}

std::string replaced(std::string text, const std::string& from, const std::string& to) {
  const auto at = text.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  if (at != std::string::npos) text.replace(at, from.size(), to);
  return text;
}

void expect_invalid(const std::string& text, const std::string& words) {
  try {
    parse_backup_manifest(text);
    ADD_FAILURE() << "accepted; expected: " << words;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(words), std::string::npos) << e.what();
  }
}

TEST(BackupManifestTest, ParsesVersion1) {
  const BackupManifest manifest = parse_backup_manifest(kVersion1);
  EXPECT_EQ(manifest.version, 1);
  EXPECT_FALSE(manifest.system_id);
  ASSERT_EQ(manifest.files.size(), 3U);
  EXPECT_EQ(manifest.files[0].path, "backup_label");
  EXPECT_EQ(manifest.files[0].size, 225U);
  EXPECT_EQ(manifest.files[0].algorithm, ChecksumAlgorithm::kCrc32c);
  EXPECT_EQ(to_hex(manifest.files[0].checksum), "839206e3");
  EXPECT_EQ(manifest.files[1].algorithm, ChecksumAlgorithm::kSha256);
  EXPECT_EQ(manifest.files[1].checksum.size(), 32U);
  EXPECT_EQ(manifest.files[2].path, "base/1/none");
  EXPECT_EQ(manifest.files[2].algorithm, ChecksumAlgorithm::kNone);
  ASSERT_EQ(manifest.wal_ranges.size(), 2U);
  EXPECT_EQ(manifest.wal_ranges[0].timeline, 2U);
  EXPECT_EQ(manifest.wal_ranges[0].start, Lsn{0x5000060});
  EXPECT_EQ(manifest.wal_ranges[0].end, Lsn{0x6000100});
  EXPECT_EQ(manifest.wal_ranges[1].timeline, 1U);
  EXPECT_EQ(to_hex(manifest.manifest_checksum),
            "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
}

TEST(BackupManifestTest, ParsesVersion2WithSystemIdentifier) {
  const BackupManifest manifest = parse_backup_manifest(version2());
  EXPECT_EQ(manifest.version, 2);
  EXPECT_EQ(manifest.system_id, 7301234567890123456ULL);
}

TEST(BackupManifestTest, ChecksumRangeEndsBeforeTheChecksumLine) {
  const std::size_t covered = manifest_checksum_range(kVersion1);
  EXPECT_EQ(kVersion1.substr(covered).rfind("\"Manifest-Checksum\"", 0), 0U);
  EXPECT_EQ(kVersion1[covered - 1], '\n');
  EXPECT_EQ(kVersion1.substr(covered - 3, 3), "],\n");
  EXPECT_THROW(manifest_checksum_range("{ \"Files\": [] }"), Error);
}

TEST(BackupManifestTest, RejectsBadStructure) {
  expect_invalid("{ not json", "not valid JSON");
  expect_invalid(replaced(kVersion1, "Version\": 1", "Version\": 3"), "unsupported version 3");
  expect_invalid(replaced(version2(), "\"System-Identifier\": 7301234567890123456,\n", ""),
                 "System-Identifier");
  expect_invalid(replaced(kVersion1, "\"Checksum\": \"839206e3\"", "\"Checksum\": \"8392\""),
                 "CRC32C checksum has 2 bytes");
  expect_invalid(replaced(kVersion1, "839206e3", "83920zz3"), "not hex");
  expect_invalid(replaced(kVersion1, "CRC32C", "MD5"), "unknown checksum algorithm");
  expect_invalid(replaced(kVersion1, "\"Size\": 225", "\"Size\": -1"), "Size");
  expect_invalid(replaced(kVersion1, "base/1/1259", "backup_label"), "duplicate path");
  expect_invalid(replaced(kVersion1, "\"0/6000100\"", "\"zz\""), "invalid end LSN");
  expect_invalid(
      replaced(kVersion1, "\"Start-LSN\": \"0/5000060\"", "\"Start-LSN\": \"0/7000000\""),
      "ends before it starts");
  expect_invalid(replaced(kVersion1, "\"Size\": 225,", "\"Size\": 225, \"Color\": 1,"),
                 "unexpected key \"Color\"");
  expect_invalid(replaced(kVersion1, "\"Path\": \"backup_label\"", "\"Path\": \"/etc/passwd\""),
                 "not a relative path");
  expect_invalid(replaced(kVersion1, "0123456789abcdef0123", "0123"), "SHA-256");
}

// A manifest comes from a server or from a backup on disk: what it says
// reaches the terminal only escaped, one line, bounded.
TEST(BackupManifestTest, UntrustedTextInErrorsIsEscaped) {
  const std::string long_key(5000, 'k');
  const struct {
    std::string manifest;
    std::string escaped;  // how the untrusted text shows in the message
  } cases[] = {
      {replaced(replaced(kVersion1, "base/1/1259", "a\\nb\\u001b[2J"), "backup_label",
                "a\\nb\\u001b[2J"),
       R"("a\x0ab\x1b[2J")"},
      {replaced(replaced(kVersion1, "626173652f312f6e6f6e65", "610a62"), "\"Size\": 0",
                "\"Size\": -1"),
       R"(file "a\x0ab")"},
      {replaced(kVersion1, "\"Size\": 225,", "\"Size\": 225, \"Color\\u0007\": 1,"),
       R"("Color\x07")"},
      {replaced(kVersion1, "CRC32C", "CRC\\u009b32"), R"("CRC\xc2\x9b32")"},
      {replaced(kVersion1, "\"0/6000100\"", "\"0/6\\r\""), R"("0/6\x0d")"},
      {replaced(kVersion1, "backup_label", "\xff\xfe"), R"(\xff)"},
      {replaced(kVersion1, "\"Size\": 225,", "\"Size\": 225, \"" + long_key + "\": 1,"), "kkk..."},
  };
  for (const auto& c : cases) {
    try {
      parse_backup_manifest(c.manifest);
      ADD_FAILURE() << "accepted: " << c.manifest;
    } catch (const Error& e) {
      const std::string message = e.what();
      EXPECT_NE(message.find(c.escaped), std::string::npos) << message;
      EXPECT_LE(message.size(), 1000U);
      for (char ch : message) {
        EXPECT_TRUE(ch >= 0x20 && ch < 0x7f) << "unescaped byte in: " << message;
      }
    }
  }
}

TEST(BackupManifestTest, AlgorithmNamesAndLengths) {
  EXPECT_EQ(checksum_algorithm_name(ChecksumAlgorithm::kSha512), "SHA512");
  EXPECT_EQ(checksum_length(ChecksumAlgorithm::kSha384), 48U);
  EXPECT_EQ(checksum_length(ChecksumAlgorithm::kSha224), 28U);
}

}  // namespace
