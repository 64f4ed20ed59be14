// A WAL archive in an S3 bucket as `walstream verify --wal s3://BUCKET/PREFIX`
// reads it: the prefix listed page by page, each object streamed through the
// verifier as it arrives (.zst decompressed on the way), nothing staged on
// disk and no object held whole in memory. The archive scan's rules
// (storage/archive_scan.h) are checked on the listed sizes and the first
// page of each segment.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "protocol/s3_location.h"
#include "storage/s3_client.h"
#include "storage/wal_archive_source.h"

namespace walstream::storage {

class S3WalSource : public WalArchiveSource {
 public:
  S3WalSource(S3Client& client, protocol::S3Location location);

  std::string display_name() const override { return protocol::to_string(location_); }
  std::vector<std::string> list_names() override;
  ArchiveContents scan(std::uint64_t segment_size) override;
  std::size_t read_prefix(const std::string& name, bool compressed, MutableByteView out) override;
  std::string read_small_file(const std::string& name, std::uint64_t max_size) override;
  void read_content(const std::string& name, bool compressed, std::uint64_t offset,
                    const ZstdOutput& out) override;

 private:
  // Streams the raw bytes of `name` to `raw` until it returns false. Throws
  // walstream::Error (kIo) when the object is gone.
  void get(const std::string& name, const std::function<bool(ByteView)>& raw);
  std::string url_of(const std::string& name) const;

  S3Client& client_;
  protocol::S3Location location_;
  // Archive file name -> object size, from the listing.
  std::optional<std::map<std::string, std::uint64_t>> listing_;
};

}  // namespace walstream::storage
