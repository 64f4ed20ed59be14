// The digests that go with an upload, computed in one pass: SHA-256 (signed
// as x-amz-content-sha256, so any SigV4 server checks the body against it,
// and sent as x-amz-checksum-sha256, which servers with additional checksums
// store and return) and MD5 (Content-MD5, checked by every S3 server, and the
// ETag of a single-part upload). Also the one comparison of an existing
// object with bytes we meant to upload.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "protocol/bytes.h"

namespace walstream::storage {

struct S3Checksums {
  std::array<std::uint8_t, 32> sha256{};
  std::array<std::uint8_t, 16> md5{};

  std::string sha256_hex() const;     // x-amz-content-sha256
  std::string sha256_base64() const;  // x-amz-checksum-sha256
  std::string md5_base64() const;     // Content-MD5
  std::string md5_hex() const;        // a single-part upload's ETag, unquoted

  bool operator==(const S3Checksums&) const = default;
};

// The same, fed piece by piece (a download as it arrives).
class S3ChecksumAccumulator {
 public:
  S3ChecksumAccumulator();
  ~S3ChecksumAccumulator();
  S3ChecksumAccumulator(const S3ChecksumAccumulator&) = delete;
  S3ChecksumAccumulator& operator=(const S3ChecksumAccumulator&) = delete;

  void update(ByteView data);
  // Once, after the last update.
  S3Checksums finish();

 private:
  struct Contexts;
  std::unique_ptr<Contexts> contexts_;
};

S3Checksums s3_checksums(ByteView data);
// Of `length` bytes of `fd` from `offset` (pread: the file position does not
// move). Throws walstream::Error (kIo) naming `path_for_errors` on a read
// error or when the file ends early.
S3Checksums s3_checksums(int fd, std::uint64_t offset, std::uint64_t length,
                         const std::filesystem::path& path_for_errors);

// What a stored object tells about its content.
struct S3StoredDigest {
  std::uint64_t size = 0;
  std::string etag;             // as the server sent it, quotes included
  std::string checksum_sha256;  // base64; empty when the server keeps none
  // False when the object is encrypted with KMS or a customer key: its ETag
  // is then not the MD5 of its bytes, even for a single-part upload.
  bool etag_may_be_md5 = true;
};

enum class S3ContentMatch {
  kSame,       // sizes equal and the SHA-256 (or the single-part ETag) equal
  kDifferent,  // the size or a digest differs
  kUnknown,    // same size, but no digest to compare (a multipart ETag, say)
};

S3ContentMatch compare_s3_content(const S3Checksums& ours, std::uint64_t our_size,
                                  const S3StoredDigest& stored);

}  // namespace walstream::storage
