// Fuzz target for the backup_manifest parser (versions 1 and 2). The input
// is one manifest. Parsing must either throw walstream::Error (kProtocol)
// with a printable one-line message, or return a manifest that keeps every
// promise of the header: non-empty relative paths without NUL, each once;
// digests as long as their algorithm's; WAL ranges that do not end before
// they start, on a real timeline; a 32-byte manifest checksum; a system
// identifier exactly in version 2. Written back out (as PostgreSQL lays a
// manifest out) it parses to the same manifest. The checksum range, when
// found, ends just before the last "Manifest-Checksum" line.
#include <cstddef>
#include <cstdint>
#include <set>
#include <span>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "protocol/backup_manifest.h"
#include "protocol/error.h"
#include "protocol/hex.h"
#include "protocol/lsn.h"
#include "tests/fuzz/fuzz_support.h"

namespace {

using walstream::fuzz::check;
using walstream::fuzz::check_error;
using namespace walstream::protocol;

void check_manifest(const BackupManifest& manifest) {
  check(manifest.version == 1 || manifest.version == 2);
  check(manifest.system_id.has_value() == (manifest.version == 2));
  check(manifest.manifest_checksum.size() == 32);
  std::set<std::string> paths;
  for (const ManifestFile& file : manifest.files) {
    check(!file.path.empty() && file.path.front() != '/');
    check(file.path.find('\0') == std::string::npos);
    check(paths.insert(file.path).second);
    check(file.checksum.size() == checksum_length(file.algorithm));
  }
  for (const ManifestWalRange& range : manifest.wal_ranges) {
    check(range.timeline != 0);
    check(range.start <= range.end);
  }
}

// The manifest as PostgreSQL writes it: one file per line. Paths always go
// out hex-encoded: one that came from "Encoded-Path" need not be UTF-8, which
// JSON strings must be.
std::string write_manifest(const BackupManifest& manifest) {
  using Json = nlohmann::ordered_json;
  std::string out =
      "{ \"PostgreSQL-Backup-Manifest-Version\": " + std::to_string(manifest.version) + ",\n";
  if (manifest.system_id) {
    out += "\"System-Identifier\": " + std::to_string(*manifest.system_id) + ",\n";
  }
  out += "\"Files\": [";
  for (std::size_t i = 0; i < manifest.files.size(); ++i) {
    const ManifestFile& file = manifest.files[i];
    Json entry;
    entry["Encoded-Path"] = to_hex(
        std::span(reinterpret_cast<const std::uint8_t*>(file.path.data()), file.path.size()));
    entry["Size"] = file.size;
    entry["Last-Modified"] = file.last_modified;
    if (file.algorithm != ChecksumAlgorithm::kNone) {
      entry["Checksum-Algorithm"] = std::string(checksum_algorithm_name(file.algorithm));
      entry["Checksum"] = to_hex(file.checksum);
    }
    out += (i == 0 ? "\n" : ",\n") + entry.dump();
  }
  out += "\n],\n\"WAL-Ranges\": [";
  for (std::size_t i = 0; i < manifest.wal_ranges.size(); ++i) {
    const ManifestWalRange& range = manifest.wal_ranges[i];
    out += (i == 0 ? "\n" : ",\n") + std::string("{ \"Timeline\": ") +
           std::to_string(range.timeline) + ", \"Start-LSN\": \"" + to_string(range.start) +
           "\", \"End-LSN\": \"" + to_string(range.end) + "\" }";
  }
  out += "\n],\n\"Manifest-Checksum\": \"" + to_hex(manifest.manifest_checksum) + "\"}\n";
  return out;
}

void check_same(const BackupManifest& a, const BackupManifest& b) {
  check(a.version == b.version && a.system_id == b.system_id);
  check(a.manifest_checksum == b.manifest_checksum);
  check(a.files.size() == b.files.size());
  for (std::size_t i = 0; i < a.files.size(); ++i) {
    const ManifestFile& x = a.files[i];
    const ManifestFile& y = b.files[i];
    check(x.path == y.path && x.size == y.size && x.last_modified == y.last_modified);
    check(x.algorithm == y.algorithm && x.checksum == y.checksum);
  }
  check(a.wal_ranges.size() == b.wal_ranges.size());
  for (std::size_t i = 0; i < a.wal_ranges.size(); ++i) {
    const ManifestWalRange& x = a.wal_ranges[i];
    const ManifestWalRange& y = b.wal_ranges[i];
    check(x.timeline == y.timeline && x.start == y.start && x.end == y.end);
  }
}

void check_checksum_range(std::string_view text) {
  constexpr std::string_view kLine = "\"Manifest-Checksum\"";
  std::size_t covered = 0;
  try {
    covered = manifest_checksum_range(text);
  } catch (const walstream::Error& e) {
    check_error(e, walstream::ErrorKind::kProtocol);
    check(text.find("\n" + std::string(kLine)) == std::string_view::npos);
    return;
  }
  check(covered >= 1 && covered <= text.size());
  check(text[covered - 1] == '\n');
  check(text.substr(covered).starts_with(kLine));
  check(text.find("\n" + std::string(kLine), covered) == std::string_view::npos);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  check_checksum_range(text);
  BackupManifest manifest;
  try {
    manifest = parse_backup_manifest(text);
  } catch (const walstream::Error& e) {
    check_error(e, walstream::ErrorKind::kProtocol);
    return 0;
  }
  check_manifest(manifest);
  const std::string written = write_manifest(manifest);
  check_same(parse_backup_manifest(written), manifest);
  check(manifest_checksum_range(written) == written.rfind("\n\"Manifest-Checksum\"") + 1);
  return 0;
}
