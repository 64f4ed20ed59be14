#include "protocol/backup_archives.h"

#include <charconv>

#include "protocol/error.h"
#include "protocol/quote_untrusted.h"

namespace walstream::protocol {

namespace {

std::string_view without_compression_suffix(std::string_view name) {
  for (std::string_view suffix : {".gz", ".lz4", ".zst"}) {
    if (name.ends_with(suffix)) return name.substr(0, name.size() - suffix.size());
  }
  return name;
}

// "16384" -> 16384; nullopt unless it is all digits and fits (no sign, no
// leading zero, as PostgreSQL prints an oid).
std::optional<std::uint32_t> parse_oid(std::string_view text) {
  if (text.empty() || text.size() > 10 || (text.size() > 1 && text.front() == '0')) return {};
  std::uint32_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size()) return {};
  return value;
}

}  // namespace

BackupArchiveCatalog::BackupArchiveCatalog(const std::vector<TablespaceInfo>& tablespaces) {
  for (const TablespaceInfo& row : tablespaces) {
    if (!row.location) continue;  // the main data directory
    if (!row.oid) {
      throw ProtocolError("the backup's tablespace list names location " +
                          quote_untrusted(*row.location) + " without an oid");
    }
    if (row.location->empty() || row.location->front() != '/') {
      throw ProtocolError("the backup's tablespace list names location " +
                          quote_untrusted(*row.location) + " for tablespace " +
                          std::to_string(*row.oid) + ", which is not an absolute path");
    }
    if (!locations_.emplace(*row.oid, *row.location).second) {
      throw ProtocolError("the backup's tablespace list names tablespace " +
                          std::to_string(*row.oid) + " twice");
    }
  }
}

std::optional<std::uint32_t> BackupArchiveCatalog::begin_archive(std::string_view archive_name,
                                                                 std::string_view tablespace_path) {
  const std::string_view plain = without_compression_suffix(archive_name);
  if (!plain.ends_with(".tar")) {
    throw ProtocolError("unexpected archive name " + quote_untrusted(archive_name));
  }
  const std::string_view stem = plain.substr(0, plain.size() - 4);
  std::optional<std::uint32_t> oid;
  if (stem == "base") {
    if (!tablespace_path.empty()) {
      throw ProtocolError("archive " + quote_untrusted(archive_name) +
                          " is the main archive but names tablespace location " +
                          quote_untrusted(tablespace_path));
    }
  } else {
    oid = parse_oid(stem);
    if (!oid) throw ProtocolError("unexpected archive name " + quote_untrusted(archive_name));
    const std::string* location = location_of(*oid);
    if (location == nullptr) {
      throw ProtocolError("archive " + quote_untrusted(archive_name) + " is for tablespace " +
                          std::to_string(*oid) +
                          ", which the backup's tablespace list does not name");
    }
    if (tablespace_path != *location) {
      throw ProtocolError("archive " + quote_untrusted(archive_name) + " names location " +
                          quote_untrusted(tablespace_path) + ", but the tablespace list names " +
                          quote_untrusted(*location) + " for tablespace " + std::to_string(*oid));
    }
  }
  if (!begun_.emplace(plain).second) {
    throw ProtocolError("the server sent archive " + quote_untrusted(archive_name) + " twice");
  }
  return oid;
}

const std::string* BackupArchiveCatalog::location_of(std::uint32_t oid) const {
  const auto found = locations_.find(oid);
  return found == locations_.end() ? nullptr : &found->second;
}

std::optional<std::uint32_t> tablespace_link_oid(std::string_view member_path) {
  while (!member_path.empty() && member_path.back() == '/') member_path.remove_suffix(1);
  constexpr std::string_view kPrefix = "pg_tblspc/";
  if (!member_path.starts_with(kPrefix)) return {};
  return parse_oid(member_path.substr(kPrefix.size()));
}

}  // namespace walstream::protocol
