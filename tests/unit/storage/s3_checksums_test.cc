#include "storage/s3_checksums.h"

#include <fcntl.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "protocol/error.h"

using namespace walstream::storage;
using walstream::ByteView;
using walstream::Error;

namespace {

ByteView bytes_of(const std::string& text) {
  return ByteView(reinterpret_cast<const std::byte*>(text.data()), text.size());
}

// Known digests of "The quick brown fox jumps over the lazy dog".
constexpr const char* kFox = "The quick brown fox jumps over the lazy dog";
constexpr const char* kFoxSha256Hex =
    "d7a8fbb307d7809469ca9abcb0082e4f8d5651e46d3cdb762d02d0bf37c9e592";
constexpr const char* kFoxSha256Base64 = "16j7swfXgJRpypq8sAguT41WUeRtPNt2LQLQvzfJ5ZI=";
constexpr const char* kFoxMd5Hex = "9e107d9d372bb6826bd81d3542a419d6";
constexpr const char* kFoxMd5Base64 = "nhB9nTcrtoJr2B01QqQZ1g==";

TEST(S3ChecksumsTest, FormsOfTheDigests) {
  const S3Checksums checksums = s3_checksums(bytes_of(kFox));
  EXPECT_EQ(checksums.sha256_hex(), kFoxSha256Hex);
  EXPECT_EQ(checksums.sha256_base64(), kFoxSha256Base64);
  EXPECT_EQ(checksums.md5_hex(), kFoxMd5Hex);
  EXPECT_EQ(checksums.md5_base64(), kFoxMd5Base64);
  EXPECT_EQ(s3_checksums(ByteView()).sha256_hex(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(S3ChecksumsTest, PiecesAndFilesGiveTheSameDigests) {
  std::string content(3 * 1024 * 1024 + 17, '\0');
  for (std::size_t i = 0; i < content.size(); ++i) content[i] = static_cast<char>(i * 7919 % 251);
  const S3Checksums whole = s3_checksums(bytes_of(content));

  S3ChecksumAccumulator pieces;
  for (std::size_t at = 0; at < content.size(); at += 100000) {
    pieces.update(bytes_of(content.substr(at, 100000)));
  }
  EXPECT_EQ(pieces.finish(), whole);

  const std::filesystem::path file =
      std::filesystem::temp_directory_path() / ("s3-checksums-" + std::to_string(::getpid()));
  {
    std::ofstream out(file, std::ios::binary);
    out << "prefix" << content << "suffix";
  }
  const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  EXPECT_EQ(s3_checksums(fd, 6, content.size(), file), whole);
  // The file ends before the bytes asked for.
  EXPECT_THROW(s3_checksums(fd, 6, content.size() + 7, file), Error);
  ::close(fd);
  std::filesystem::remove(file);
}

TEST(S3ChecksumsTest, ComparesWithTheStoredChecksumFirst) {
  const S3Checksums ours = s3_checksums(bytes_of(kFox));
  const std::uint64_t size = std::string(kFox).size();
  EXPECT_EQ(compare_s3_content(ours, size, {size, "\"whatever\"", kFoxSha256Base64}),
            S3ContentMatch::kSame);
  EXPECT_EQ(compare_s3_content(ours, size,
                               {size, std::string("\"") + kFoxMd5Hex + "\"",
                                "AAAAswfXgJRpypq8sAguT41WUeRtPNt2LQLQvzfJ5ZI="}),
            S3ContentMatch::kDifferent);
}

TEST(S3ChecksumsTest, FallsBackToASinglePartETag) {
  const S3Checksums ours = s3_checksums(bytes_of(kFox));
  const std::uint64_t size = std::string(kFox).size();
  EXPECT_EQ(compare_s3_content(ours, size, {size, std::string("\"") + kFoxMd5Hex + "\"", ""}),
            S3ContentMatch::kSame);
  EXPECT_EQ(compare_s3_content(ours, size, {size, "9E107D9D372BB6826BD81D3542A419D6", ""}),
            S3ContentMatch::kSame);
  EXPECT_EQ(compare_s3_content(ours, size, {size, "\"9e107d9d372bb6826bd81d3542a419d7\"", ""}),
            S3ContentMatch::kDifferent);
  // A different size is enough to tell.
  EXPECT_EQ(compare_s3_content(ours, size + 1, {size, "\"x-2\"", ""}), S3ContentMatch::kDifferent);
  // A multipart ETag, or one of an encrypted object, says nothing.
  EXPECT_EQ(compare_s3_content(ours, size, {size, "\"0123456789abcdef0123456789abcd-2\"", ""}),
            S3ContentMatch::kUnknown);
  EXPECT_EQ(
      compare_s3_content(ours, size, {size, "\"0123456789abcdef0123456789abcdef\"", "", false}),
      S3ContentMatch::kUnknown);
}

}  // namespace
