// The backup_manifest file (versions 1 and 2): which files a backup holds,
// with sizes and checksums, which WAL it needs, and a SHA-256 over the
// manifest itself. Parsing only; hashing files is storage/'s job.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/lsn.h"

namespace walstream::protocol {

enum class ChecksumAlgorithm { kNone, kCrc32c, kSha224, kSha256, kSha384, kSha512 };

// "CRC32C", "SHA256", ... as written in the manifest.
std::string_view checksum_algorithm_name(ChecksumAlgorithm algorithm);
// Digest length in bytes (0 for kNone).
std::size_t checksum_length(ChecksumAlgorithm algorithm);

struct ManifestFile {
  std::string path;  // relative to the data directory, '/'-separated
  std::uint64_t size = 0;
  std::string last_modified;
  ChecksumAlgorithm algorithm = ChecksumAlgorithm::kNone;
  // The digest as raw bytes. For CRC32C, PostgreSQL writes the 4 bytes of
  // the final CRC in host (little-endian) order.
  std::vector<std::uint8_t> checksum;
};

struct ManifestWalRange {
  TimelineId timeline = 0;
  Lsn start;
  Lsn end;
};

struct BackupManifest {
  int version = 0;
  std::optional<std::uint64_t> system_id;  // version 2 only
  std::vector<ManifestFile> files;
  std::vector<ManifestWalRange> wal_ranges;     // as listed: newest timeline first
  std::vector<std::uint8_t> manifest_checksum;  // SHA-256, 32 bytes
};

// The number of leading bytes Manifest-Checksum covers: everything before
// the line that starts with "Manifest-Checksum". Throws walstream::Error
// (kProtocol) if there is no such line.
std::size_t manifest_checksum_range(std::string_view manifest);

// Parses and checks the structure (keys, types, hex, lengths, duplicate
// paths). Does not check the manifest checksum, which needs SHA-256.
// Throws walstream::Error (kProtocol) naming the problem.
BackupManifest parse_backup_manifest(std::string_view manifest);

}  // namespace walstream::protocol
