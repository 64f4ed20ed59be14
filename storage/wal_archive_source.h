// Where `walstream verify --wal` reads a WAL archive from: a directory
// (DirectoryWalSource, here) or an S3 prefix (storage/s3_wal_source.h). The
// verifier asks for the same few things of both: the names, a scan with the
// archive scan's rules, the first bytes of a segment, a small history file,
// and a segment's content streamed in pieces (never whole in memory).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "protocol/bytes.h"
#include "storage/archive_scan.h"
#include "storage/zstd_decoder.h"

namespace walstream::storage {

class WalArchiveSource {
 public:
  virtual ~WalArchiveSource() = default;

  // The archive as the user named it, for messages.
  virtual std::string display_name() const = 0;
  // The names of the archive's files (segments, .partial, .zst, .history and
  // anything else), in any order.
  virtual std::vector<std::string> list_names() = 0;
  // Lists and checks the archive as scan_archive does (storage/archive_scan.h),
  // with its messages.
  virtual ArchiveContents scan(std::uint64_t segment_size) = 0;
  // The first plain bytes of `name` (decompressed when `compressed`) into
  // `out`; returns how many, fewer only when the content is shorter.
  virtual std::size_t read_prefix(const std::string& name, bool compressed,
                                  MutableByteView out) = 0;
  // The whole content of `name`, refused when longer than `max_size`.
  virtual std::string read_small_file(const std::string& name, std::uint64_t max_size) = 0;
  // Hands the plain content of `name` from byte `offset` on to `out` in
  // bounded pieces, until it ends or `out` returns false. Throws
  // walstream::Error: kIo for a damaged file; a source that is remote also
  // kConnection and kServer, which say nothing about the archive's contents.
  virtual void read_content(const std::string& name, bool compressed, std::uint64_t offset,
                            const ZstdOutput& out) = 0;
};

// An archive directory (walstream receive's or pg_receivewal's layout).
class DirectoryWalSource : public WalArchiveSource {
 public:
  // Throws walstream::Error (kIo) when `directory` is not a directory.
  explicit DirectoryWalSource(std::filesystem::path directory);

  std::string display_name() const override { return directory_.string(); }
  std::vector<std::string> list_names() override;
  ArchiveContents scan(std::uint64_t segment_size) override;
  std::size_t read_prefix(const std::string& name, bool compressed, MutableByteView out) override;
  std::string read_small_file(const std::string& name, std::uint64_t max_size) override;
  void read_content(const std::string& name, bool compressed, std::uint64_t offset,
                    const ZstdOutput& out) override;

 private:
  std::filesystem::path directory_;
};

}  // namespace walstream::storage
