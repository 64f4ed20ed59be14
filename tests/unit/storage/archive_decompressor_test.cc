#include "storage/archive_decompressor.h"

#include <gtest/gtest.h>
#include <lz4frame.h>
#include <zlib.h>
#include <zstd.h>

#include <random>
#include <string>
#include <vector>

#include "protocol/error.h"

namespace walstream::storage {
namespace {

std::string sample_data() {
  std::string data;
  std::mt19937 random(7);
  for (int i = 0; i < 300000; ++i) {
    // Compressible but not trivial: words with random digits.
    data += "block " + std::to_string(random() % 1000) + ' ';
  }
  return data;
}

std::string zstd_compress(const std::string& in) {
  std::string out(ZSTD_compressBound(in.size()), '\0');
  out.resize(ZSTD_compress(out.data(), out.size(), in.data(), in.size(), 3));
  return out;
}

// With a content checksum: without one, LZ4 cannot tell corrupt data from
// valid data (the backup manifest's checksums catch that case).
std::string lz4_compress(const std::string& in) {
  LZ4F_preferences_t preferences{};
  preferences.frameInfo.contentChecksumFlag = LZ4F_contentChecksumEnabled;
  std::string out(LZ4F_compressFrameBound(in.size(), &preferences), '\0');
  out.resize(LZ4F_compressFrame(out.data(), out.size(), in.data(), in.size(), &preferences));
  return out;
}

std::string gzip_compress(const std::string& in) {
  z_stream stream{};
  deflateInit2(&stream, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&stream, static_cast<uLong>(in.size())) + 64, '\0');
  stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  stream.avail_in = static_cast<uInt>(in.size());
  stream.next_out = reinterpret_cast<Bytef*>(out.data());
  stream.avail_out = static_cast<uInt>(out.size());
  deflate(&stream, Z_FINISH);
  out.resize(stream.total_out);
  deflateEnd(&stream);
  return out;
}

// Feeds `compressed` in chunks of `chunk` bytes and collects the output.
std::string decompress(const std::string& name, const std::string& compressed, std::size_t chunk) {
  auto decompressor = make_archive_decompressor(name);
  EXPECT_NE(decompressor, nullptr);
  std::string plain;
  auto collect = [&plain](ByteView bytes) { plain.append(as_chars(bytes)); };
  for (std::size_t pos = 0; pos < compressed.size(); pos += chunk) {
    decompressor->feed(as_bytes(std::string_view(compressed).substr(pos, chunk)), collect);
  }
  decompressor->finish(collect);
  return plain;
}

struct Codec {
  const char* archive_name;
  std::string (*compress)(const std::string&);
};

class ArchiveDecompressorTest : public testing::TestWithParam<Codec> {};

TEST_P(ArchiveDecompressorTest, RoundTripsAtAnyChunkSize) {
  const std::string data = sample_data();
  const std::string compressed = GetParam().compress(data);
  for (std::size_t chunk :
       {std::size_t{1} << 20, std::size_t{4096}, std::size_t{333}, std::size_t{1}}) {
    if (chunk == 1 && compressed.size() > 200000) continue;  // keep the test fast
    EXPECT_EQ(decompress(GetParam().archive_name, compressed, chunk), data) << chunk;
  }
}

TEST_P(ArchiveDecompressorTest, TruncatedInputIsAnError) {
  const std::string compressed = GetParam().compress(sample_data());
  EXPECT_THROW(
      decompress(GetParam().archive_name, compressed.substr(0, compressed.size() / 2), 65536),
      walstream::Error);
}

TEST_P(ArchiveDecompressorTest, CorruptInputIsAnError) {
  std::string compressed = GetParam().compress(sample_data());
  for (std::size_t i = 0; i < 64; ++i) compressed[compressed.size() / 3 + i] ^= 0x5A;
  EXPECT_THROW(decompress(GetParam().archive_name, compressed, 65536), walstream::Error);
}

INSTANTIATE_TEST_SUITE_P(Codecs, ArchiveDecompressorTest,
                         testing::Values(Codec{"base.tar.zst", zstd_compress},
                                         Codec{"16384.tar.lz4", lz4_compress},
                                         Codec{"base.tar.gz", gzip_compress}));

TEST(ArchiveDecompressorNameTest, PlainTarNeedsNone) {
  EXPECT_EQ(make_archive_decompressor("base.tar"), nullptr);
}

}  // namespace
}  // namespace walstream::storage
