// What a base backup may contain, from its tablespace list (the header rows
// BASE_BACKUP sends first): one main archive, one archive per listed
// tablespace, each tablespace at the absolute location its row names, and in
// the main archive a symbolic link pg_tblspc/<oid> to that location, and no
// other link. The server's bytes are untrusted: a clone writes where these
// rules allow and nowhere else.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/replication_commands.h"

namespace walstream::protocol {

class BackupArchiveCatalog {
 public:
  // Throws ProtocolError for a row that names a location without an oid or a
  // location that is not an absolute path, or two rows for one oid.
  explicit BackupArchiveCatalog(const std::vector<TablespaceInfo>& tablespaces);

  // Checks that an archive may begin: "base.tar" (path "") or "<oid>.tar"
  // for a listed tablespace at exactly that path (either possibly followed
  // by a compression suffix), each at most once. Returns the tablespace's
  // oid, or nullopt for the main archive. Throws ProtocolError otherwise.
  std::optional<std::uint32_t> begin_archive(std::string_view archive_name,
                                             std::string_view tablespace_path);

  // The location the header row of `oid` named; nullptr if none did.
  const std::string* location_of(std::uint32_t oid) const;

  // The links the main archive may hold: oid -> server-side location.
  const std::map<std::uint32_t, std::string>& tablespace_locations() const { return locations_; }

 private:
  std::map<std::uint32_t, std::string> locations_;
  std::set<std::string> begun_;  // archive names without compression suffix
};

// "pg_tblspc/<oid>" (as a tar member path, any trailing '/' removed) ->
// oid; nullopt for any other path.
std::optional<std::uint32_t> tablespace_link_oid(std::string_view member_path);

}  // namespace walstream::protocol
