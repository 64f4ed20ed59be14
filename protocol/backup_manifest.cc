#include "protocol/backup_manifest.h"

#include <nlohmann/json.hpp>
#include <set>

#include "protocol/error.h"
#include "protocol/hex.h"
#include "protocol/quote_untrusted.h"

namespace walstream::protocol {
namespace {

using Json = nlohmann::json;

// Everything in a manifest is untrusted (it comes from a server or from a
// backup on disk): what it says appears in messages only through
// quote_untrusted.
[[noreturn]] void fail(const std::string& message) {
  throw ProtocolError("invalid backup manifest: " + message);
}

// nlohmann's message without its "[json.exception.<kind>.<id>] " prefix; it
// quotes what it last read, raw.
[[noreturn]] void fail_json(const std::string& what, const Json::exception& e) {
  std::string_view reason = e.what();
  if (const std::size_t end = reason.find("] ");
      reason.starts_with("[json.") && end != reason.npos) {
    reason.remove_prefix(end + 2);
  }
  fail(what + quote_untrusted(reason));
}

std::optional<ChecksumAlgorithm> parse_algorithm(std::string_view name) {
  for (auto algorithm :
       {ChecksumAlgorithm::kNone, ChecksumAlgorithm::kCrc32c, ChecksumAlgorithm::kSha224,
        ChecksumAlgorithm::kSha256, ChecksumAlgorithm::kSha384, ChecksumAlgorithm::kSha512}) {
    if (checksum_algorithm_name(algorithm) == name) return algorithm;
  }
  return std::nullopt;
}

const std::string& string_field(const Json& object, const char* key, const std::string& where) {
  const Json& value = object.at(key);
  if (!value.is_string()) fail(where + ": \"" + key + "\" is not a string");
  return value.get_ref<const std::string&>();
}

std::uint64_t unsigned_field(const Json& object, const char* key, const std::string& where) {
  const Json& value = object.at(key);
  if (!value.is_number_unsigned()) fail(where + ": \"" + key + "\" is not an unsigned integer");
  return value.get<std::uint64_t>();
}

void check_keys(const Json& object, std::initializer_list<const char*> allowed,
                const std::string& where) {
  for (const auto& item : object.items()) {
    bool known = false;
    for (const char* key : allowed) known = known || item.key() == key;
    if (!known) fail(where + ": unexpected key " + quote_untrusted(item.key()));
  }
}

ManifestFile parse_file(const Json& entry, std::size_t index) {
  std::string where = "file entry " + std::to_string(index + 1);
  if (!entry.is_object()) fail(where + " is not an object");
  check_keys(entry,
             {"Path", "Encoded-Path", "Size", "Last-Modified", "Checksum-Algorithm", "Checksum"},
             where);
  ManifestFile file;
  const bool has_path = entry.contains("Path");
  if (has_path == entry.contains("Encoded-Path")) {
    fail(where + ": needs exactly one of \"Path\" and \"Encoded-Path\"");
  }
  if (has_path) {
    file.path = string_field(entry, "Path", where);
  } else {
    auto decoded = parse_hex_bytes(string_field(entry, "Encoded-Path", where));
    if (!decoded) fail(where + ": \"Encoded-Path\" is not hex");
    file.path.assign(decoded->begin(), decoded->end());
  }
  if (file.path.empty()) fail(where + ": empty path");
  where = "file " + quote_untrusted(file.path);
  if (file.path.front() == '/' || file.path.find('\0') != std::string::npos) {
    fail(where + ": not a relative path");
  }
  if (!entry.contains("Size")) fail(where + ": missing \"Size\"");
  file.size = unsigned_field(entry, "Size", where);
  if (entry.contains("Last-Modified")) {
    file.last_modified = string_field(entry, "Last-Modified", where);
  }
  if (entry.contains("Checksum-Algorithm")) {
    const std::string& name = string_field(entry, "Checksum-Algorithm", where);
    auto algorithm = parse_algorithm(name);
    if (!algorithm) fail(where + ": unknown checksum algorithm " + quote_untrusted(name));
    file.algorithm = *algorithm;
  }
  if (entry.contains("Checksum")) {
    if (file.algorithm == ChecksumAlgorithm::kNone) {
      fail(where + ": \"Checksum\" without \"Checksum-Algorithm\"");
    }
    auto digest = parse_hex_bytes(string_field(entry, "Checksum", where));
    if (!digest) fail(where + ": checksum is not hex");
    if (digest->size() != checksum_length(file.algorithm)) {
      fail(where + ": " + std::string(checksum_algorithm_name(file.algorithm)) + " checksum has " +
           std::to_string(digest->size()) + " bytes");
    }
    file.checksum = std::move(*digest);
  } else if (file.algorithm != ChecksumAlgorithm::kNone) {
    fail(where + ": missing \"Checksum\"");
  }
  return file;
}

ManifestWalRange parse_wal_range(const Json& entry, std::size_t index) {
  const std::string where = "WAL range " + std::to_string(index + 1);
  if (!entry.is_object()) fail(where + " is not an object");
  check_keys(entry, {"Timeline", "Start-LSN", "End-LSN"}, where);
  for (const char* key : {"Timeline", "Start-LSN", "End-LSN"}) {
    if (!entry.contains(key)) fail(where + ": missing \"" + key + "\"");
  }
  ManifestWalRange range;
  const std::uint64_t timeline = unsigned_field(entry, "Timeline", where);
  if (timeline == 0 || timeline > 0xFFFFFFFFu) fail(where + ": invalid timeline");
  range.timeline = static_cast<TimelineId>(timeline);
  const std::string& start = string_field(entry, "Start-LSN", where);
  const std::string& end = string_field(entry, "End-LSN", where);
  auto start_lsn = parse_lsn(start);
  auto end_lsn = parse_lsn(end);
  if (!start_lsn) fail(where + ": invalid start LSN " + quote_untrusted(start));
  if (!end_lsn) fail(where + ": invalid end LSN " + quote_untrusted(end));
  if (*end_lsn < *start_lsn) fail(where + ": ends before it starts");
  range.start = *start_lsn;
  range.end = *end_lsn;
  return range;
}

}  // namespace

std::string_view checksum_algorithm_name(ChecksumAlgorithm algorithm) {
  switch (algorithm) {
    case ChecksumAlgorithm::kNone:
      return "NONE";
    case ChecksumAlgorithm::kCrc32c:
      return "CRC32C";
    case ChecksumAlgorithm::kSha224:
      return "SHA224";
    case ChecksumAlgorithm::kSha256:
      return "SHA256";
    case ChecksumAlgorithm::kSha384:
      return "SHA384";
    case ChecksumAlgorithm::kSha512:
      return "SHA512";
  }
  return "?";
}

std::size_t checksum_length(ChecksumAlgorithm algorithm) {
  switch (algorithm) {
    case ChecksumAlgorithm::kNone:
      return 0;
    case ChecksumAlgorithm::kCrc32c:
      return 4;
    case ChecksumAlgorithm::kSha224:
      return 28;
    case ChecksumAlgorithm::kSha256:
      return 32;
    case ChecksumAlgorithm::kSha384:
      return 48;
    case ChecksumAlgorithm::kSha512:
      return 64;
  }
  return 0;
}

std::size_t manifest_checksum_range(std::string_view manifest) {
  constexpr std::string_view kKey = "\n\"Manifest-Checksum\"";
  const std::size_t at = manifest.rfind(kKey);
  if (at == std::string_view::npos) fail("no \"Manifest-Checksum\" line");
  return at + 1;  // up to and including the newline before it
}

BackupManifest parse_backup_manifest(std::string_view text) {
  Json root;
  try {
    root = Json::parse(text.begin(), text.end());
  } catch (const Json::exception& e) {
    fail_json("not valid JSON: ", e);
  }
  if (!root.is_object()) fail("not a JSON object");
  try {
    check_keys(root,
               {"PostgreSQL-Backup-Manifest-Version", "System-Identifier", "Files", "WAL-Ranges",
                "Manifest-Checksum"},
               "manifest");
    BackupManifest manifest;
    if (!root.contains("PostgreSQL-Backup-Manifest-Version")) fail("missing version");
    const std::uint64_t version =
        unsigned_field(root, "PostgreSQL-Backup-Manifest-Version", "manifest");
    if (version != 1 && version != 2) fail("unsupported version " + std::to_string(version));
    manifest.version = static_cast<int>(version);
    if (root.contains("System-Identifier")) {
      if (version == 1) fail("\"System-Identifier\" in a version 1 manifest");
      manifest.system_id = unsigned_field(root, "System-Identifier", "manifest");
    } else if (version == 2) {
      fail("missing \"System-Identifier\"");
    }

    if (!root.contains("Files") || !root.at("Files").is_array()) fail("missing \"Files\" list");
    std::set<std::string_view> paths;
    const Json& files = root.at("Files");
    manifest.files.reserve(files.size());
    for (std::size_t i = 0; i < files.size(); ++i) {
      manifest.files.push_back(parse_file(files[i], i));
    }
    for (const auto& file : manifest.files) {
      if (!paths.insert(file.path).second) fail("duplicate path " + quote_untrusted(file.path));
    }

    if (!root.contains("WAL-Ranges") || !root.at("WAL-Ranges").is_array()) {
      fail("missing \"WAL-Ranges\" list");
    }
    const Json& ranges = root.at("WAL-Ranges");
    for (std::size_t i = 0; i < ranges.size(); ++i) {
      manifest.wal_ranges.push_back(parse_wal_range(ranges[i], i));
    }

    if (!root.contains("Manifest-Checksum")) fail("missing \"Manifest-Checksum\"");
    auto checksum = parse_hex_bytes(string_field(root, "Manifest-Checksum", "manifest"));
    if (!checksum || checksum->size() != 32) fail("\"Manifest-Checksum\" is not a SHA-256 in hex");
    manifest.manifest_checksum = std::move(*checksum);
    return manifest;
  } catch (const Json::exception& e) {
    fail_json("", e);
  }
}

}  // namespace walstream::protocol
