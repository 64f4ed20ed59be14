// `walstream verify --wal ARCHIVE`: reads a WAL archive (walstream receive's
// or pg_receivewal's layout) in LSN order, following timelines through the
// .history files (protocol/timeline_history.h), and checks that no segment
// is missing and that every page and record is valid (protocol::WalReader).
// Also the helper that feeds one WAL file into a reader, shared with the
// backup verifier.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "protocol/lsn.h"
#include "protocol/wal_reader.h"

namespace walstream::storage {

class WalArchiveSource;

// Feeds `path` (plain, or zstd-compressed when `compressed`) into `reader`
// from byte `offset` on, in bounded chunks, until the file ends or the reader
// stops. Throws walstream::Error (kIo) on read or decompression errors.
void feed_wal_file(protocol::WalReader& reader, const std::filesystem::path& path, bool compressed,
                   std::uint64_t offset = 0);

struct WalArchiveVerifyOptions {
  std::filesystem::path directory;
  std::optional<protocol::Lsn> from;  // default: start of the oldest segment
  std::optional<protocol::Lsn> to;    // default: the end of the archived WAL
};

struct WalArchiveVerifyResult {
  protocol::Lsn from;  // where checking began
  protocol::Lsn to;    // end of the last valid record checked (or --to)
  int server_major = 0;
  std::uint64_t records = 0;
  // Empty when the archive verified; otherwise the first problem (naming
  // the LSN and file) and anything else found before it.
  std::vector<std::string> problems;
};

// Throws walstream::Error (kIo) when the directory cannot be read at all.
WalArchiveVerifyResult verify_wal_archive(const WalArchiveVerifyOptions& options);

// The same checks and messages for an archive read from `source`. Damage is
// reported in the result; errors reaching the source (kConnection, kServer)
// are thrown.
WalArchiveVerifyResult verify_wal_archive(WalArchiveSource& source,
                                          std::optional<protocol::Lsn> from,
                                          std::optional<protocol::Lsn> to);

}  // namespace walstream::storage
