// `walstream verify DIR`: checks a plain-format backup against its
// backup_manifest the way pg_verifybackup does — the manifest's own SHA-256,
// the system identifier (version 2), that exactly the listed files are there
// with their sizes and checksums, and that the WAL the backup needs is in
// pg_wal and parses (protocol::WalReader) from Start-LSN to End-LSN.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace walstream::storage {

struct BackupVerifyOptions {
  std::filesystem::path directory;
  bool parse_wal = true;
  // The server major the WAL was written by; default: the backup's
  // PG_VERSION file.
  std::optional<int> server_major;
};

// Paths (relative, '/'-separated) never compared with the manifest: they
// are not in it, or are expected to change after the backup (like
// pg_verifybackup's default ignore list, plus recovery.conf of servers < 12).
// A directory's entry covers everything below it.
const std::vector<std::string>& backup_verify_ignored_paths();

// Every problem found, one message each, naming the file or LSN; empty when
// the backup verified. Throws walstream::Error only when nothing can be
// checked: no readable backup_manifest, or one that does not parse.
std::vector<std::string> verify_backup(const BackupVerifyOptions& options);

}  // namespace walstream::storage
