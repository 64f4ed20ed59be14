#include "storage/s3_checksums.h"

#include <openssl/evp.h>
#include <unistd.h>

#include <cerrno>
#include <memory>
#include <span>
#include <vector>

#include "protocol/error.h"
#include "protocol/hex.h"
#include "storage/file_util.h"

namespace walstream::storage {
namespace {

constexpr std::size_t kReadChunk = 1024 * 1024;

std::string base64(std::span<const std::uint8_t> bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3), '\0');
  const int written = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), bytes.data(),
                                      static_cast<int>(bytes.size()));
  out.resize(static_cast<std::size_t>(written));
  return out;
}

struct ContextFree {
  void operator()(EVP_MD_CTX* context) const { EVP_MD_CTX_free(context); }
};
using DigestContext = std::unique_ptr<EVP_MD_CTX, ContextFree>;

}  // namespace

// SHA-256 and MD5 side by side.
struct S3ChecksumAccumulator::Contexts {
  DigestContext sha256{EVP_MD_CTX_new()};
  DigestContext md5{EVP_MD_CTX_new()};
};

S3ChecksumAccumulator::S3ChecksumAccumulator() : contexts_(std::make_unique<Contexts>()) {
  if (!contexts_->sha256 || !contexts_->md5 ||
      EVP_DigestInit_ex(contexts_->sha256.get(), EVP_sha256(), nullptr) != 1 ||
      EVP_DigestInit_ex(contexts_->md5.get(), EVP_md5(), nullptr) != 1) {
    throw Error(ErrorKind::kInternal, "could not initialize SHA-256 and MD5 (OpenSSL)");
  }
}

S3ChecksumAccumulator::~S3ChecksumAccumulator() = default;

void S3ChecksumAccumulator::update(ByteView data) {
  if (EVP_DigestUpdate(contexts_->sha256.get(), data.data(), data.size()) != 1 ||
      EVP_DigestUpdate(contexts_->md5.get(), data.data(), data.size()) != 1) {
    throw Error(ErrorKind::kInternal, "SHA-256 or MD5 failed (OpenSSL)");
  }
}

S3Checksums S3ChecksumAccumulator::finish() {
  S3Checksums out;
  unsigned int sha256_length = 0;
  unsigned int md5_length = 0;
  if (EVP_DigestFinal_ex(contexts_->sha256.get(), out.sha256.data(), &sha256_length) != 1 ||
      EVP_DigestFinal_ex(contexts_->md5.get(), out.md5.data(), &md5_length) != 1 ||
      sha256_length != out.sha256.size() || md5_length != out.md5.size()) {
    throw Error(ErrorKind::kInternal, "SHA-256 or MD5 failed (OpenSSL)");
  }
  return out;
}

std::string S3Checksums::sha256_hex() const { return protocol::to_hex(sha256); }
std::string S3Checksums::sha256_base64() const { return base64(sha256); }
std::string S3Checksums::md5_base64() const { return base64(md5); }
std::string S3Checksums::md5_hex() const { return protocol::to_hex(md5); }

S3Checksums s3_checksums(ByteView data) {
  S3ChecksumAccumulator digests;
  digests.update(data);
  return digests.finish();
}

S3Checksums s3_checksums(int fd, std::uint64_t offset, std::uint64_t length,
                         const std::filesystem::path& path_for_errors) {
  S3ChecksumAccumulator digests;
  std::vector<std::byte> buffer(std::min<std::uint64_t>(length, kReadChunk));
  std::uint64_t done = 0;
  while (done < length) {
    const std::size_t want = std::min<std::uint64_t>(buffer.size(), length - done);
    const ssize_t n = ::pread(fd, buffer.data(), want, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_io_error("read file", path_for_errors, errno);
    }
    if (n == 0) {
      throw Error(ErrorKind::kIo, "file \"" + path_for_errors.string() + "\" ended at byte " +
                                      std::to_string(offset + done) + ", before byte " +
                                      std::to_string(offset + length));
    }
    digests.update(ByteView(buffer).first(static_cast<std::size_t>(n)));
    done += static_cast<std::uint64_t>(n);
  }
  return digests.finish();
}

S3ContentMatch compare_s3_content(const S3Checksums& ours, std::uint64_t our_size,
                                  const S3StoredDigest& stored) {
  if (stored.size != our_size) return S3ContentMatch::kDifferent;
  if (!stored.checksum_sha256.empty()) {
    return stored.checksum_sha256 == ours.sha256_base64() ? S3ContentMatch::kSame
                                                          : S3ContentMatch::kDifferent;
  }
  // A single-part upload's ETag is the hex MD5 of its bytes; a multipart
  // one's has a "-N" suffix and says nothing about them.
  std::string_view etag = stored.etag;
  if (etag.size() >= 2 && etag.front() == '"' && etag.back() == '"') {
    etag = etag.substr(1, etag.size() - 2);
  }
  if (stored.etag_may_be_md5 && etag.size() == 32 && etag.find('-') == std::string_view::npos) {
    std::string lowered(etag);
    for (char& c : lowered) {
      if (c >= 'A' && c <= 'F') c = static_cast<char>(c - 'A' + 'a');
    }
    return lowered == ours.md5_hex() ? S3ContentMatch::kSame : S3ContentMatch::kDifferent;
  }
  return S3ContentMatch::kUnknown;
}

}  // namespace walstream::storage
