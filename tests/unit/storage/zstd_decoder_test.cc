// ZstdDecoder, and its two users agreeing on what it decides: backup
// archives (ArchiveDecompressor, kProtocol errors) and .zst files
// (zstd_file.h, kIo errors naming the file).
#include "storage/zstd_decoder.h"

#include <gtest/gtest.h>
#include <zstd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "protocol/error.h"
#include "storage/archive_decompressor.h"
#include "storage/zstd_file.h"
#include "tests/support/sample_data.h"
#include "tests/support/temp_dir.h"

namespace walstream::storage {
namespace {

namespace fs = std::filesystem;
using test_support::read_file;
using test_support::TempDir;

constexpr std::size_t kMaxPiece = 256 * 1024;

// One frame with its content size and a content checksum, as walstream
// receive writes them.
std::string compress(const std::string& data) {
  ZSTD_CCtx* context = ZSTD_createCCtx();
  ZSTD_CCtx_setParameter(context, ZSTD_c_checksumFlag, 1);
  std::string out(ZSTD_compressBound(data.size()), '\0');
  out.resize(ZSTD_compress2(context, out.data(), out.size(), data.data(), data.size()));
  ZSTD_freeCCtx(context);
  return out;
}

struct Decoded {
  std::string plain;
  std::size_t largest_piece = 0;
};

Decoded decode(const std::string& compressed, std::size_t chunk) {
  ZstdDecoder decoder("test input", ErrorKind::kIo);
  Decoded result;
  auto collect = [&result](ByteView piece) {
    result.plain.append(as_chars(piece));
    result.largest_piece = std::max(result.largest_piece, piece.size());
    return true;
  };
  for (std::size_t pos = 0; pos < compressed.size(); pos += chunk) {
    decoder.feed(as_bytes(std::string_view(compressed).substr(pos, chunk)), collect);
  }
  decoder.finish();
  return result;
}

std::string through_archive_decompressor(const std::string& compressed) {
  auto decompressor = make_archive_decompressor("base.tar.zst");
  std::string plain;
  auto collect = [&plain](ByteView piece) { plain.append(as_chars(piece)); };
  decompressor->feed(as_bytes(compressed), collect);
  decompressor->finish(collect);
  return plain;
}

class ZstdFileFixture : public testing::Test {
 protected:
  fs::path write(const std::string& name, const std::string& contents) const {
    const fs::path path = dir_.path() / name;
    std::ofstream(path, std::ios::binary) << contents;
    return path;
  }
  TempDir dir_{"zstd-decoder"};
};

TEST(ZstdDecoderTest, AnyChunkingGivesTheSameBytesInBoundedPieces) {
  const std::string data = test_support::half_random(1500 * 1000, 1);
  const std::string compressed = compress(data);
  for (std::size_t chunk :
       {compressed.size(), std::size_t{65536}, std::size_t{4097}, std::size_t{7}}) {
    const Decoded decoded = decode(compressed, chunk);
    EXPECT_EQ(decoded.plain, data) << chunk;
    EXPECT_LE(decoded.largest_piece, kMaxPiece) << chunk;
  }
}

TEST(ZstdDecoderTest, StoppingEarlyEndsWithoutAnError) {
  const std::string compressed = compress(test_support::half_random(2 * kMaxPiece + 10, 2));
  ZstdDecoder decoder("test input", ErrorKind::kIo);
  int pieces = 0;
  auto one_piece = [&pieces](ByteView) {
    ++pieces;
    return false;
  };
  // Only half the input: finish() would call it truncated, had it not stopped.
  EXPECT_FALSE(decoder.feed(as_bytes(compressed).first(compressed.size() / 2), one_piece));
  EXPECT_FALSE(decoder.feed(as_bytes(compressed).subspan(compressed.size() / 2), one_piece));
  EXPECT_NO_THROW(decoder.finish());
  EXPECT_EQ(pieces, 1);
}

TEST(ZstdDecoderTest, EmptyInputIsTruncated) {
  ZstdDecoder decoder("test input", ErrorKind::kIo);
  EXPECT_TRUE(decoder.feed({}, [](ByteView) { return true; }));
  try {
    decoder.finish();
    FAIL() << "no exception";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()),
              "could not decompress test input: compressed data is truncated");
  }
}

TEST_F(ZstdFileFixture, ConcatenatedFramesAreOneStreamForBothUsers) {
  const std::string first = test_support::half_random(300 * 1000, 3);
  const std::string second = test_support::half_random(1000, 4);
  const std::string compressed = compress(first) + compress(second);
  EXPECT_EQ(through_archive_decompressor(compressed), first + second);
  const fs::path source = write("two.zst", compressed);
  decompress_file(source, dir_.path() / "out", first.size() + second.size());
  EXPECT_EQ(read_file(dir_.path() / "out"), first + second);
}

// Cut anywhere (in the frame header, in a block, before the checksum), the
// input is truncated for both users, each naming what it was decoding.
TEST_F(ZstdFileFixture, EveryTruncationIsAnErrorForBothUsers) {
  const std::string compressed = compress(test_support::half_random(600 * 1000, 5));
  for (std::size_t keep : {std::size_t{0}, std::size_t{3}, std::size_t{10}, compressed.size() / 2,
                           compressed.size() - 4, compressed.size() - 1}) {
    const std::string cut = compressed.substr(0, keep);
    try {
      through_archive_decompressor(cut);
      ADD_FAILURE() << "archive: no exception at " << keep;
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::kProtocol);
      EXPECT_EQ(std::string(e.what()),
                "could not decompress zstd archive: compressed data is truncated")
          << keep;
    }
    const fs::path source = write("cut.zst", cut);
    try {
      decompress_file(source, dir_.path() / "out", std::nullopt);
      ADD_FAILURE() << "file: no exception at " << keep;
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::kIo);
      EXPECT_EQ(std::string(e.what()), "could not decompress file \"" + source.string() +
                                           "\": compressed data is truncated")
          << keep;
    }
    EXPECT_FALSE(fs::exists(dir_.path() / "out"));
  }
}

TEST_F(ZstdFileFixture, CorruptInputIsAnErrorForBothUsers) {
  std::string compressed = compress(test_support::half_random(600 * 1000, 6));
  for (std::size_t i = 0; i < 64; ++i) compressed[compressed.size() / 3 + i] ^= 0x5A;
  try {
    through_archive_decompressor(compressed);
    ADD_FAILURE() << "archive: no exception";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kProtocol);
    EXPECT_EQ(std::string(e.what()).rfind("could not decompress zstd archive: ", 0), 0U)
        << e.what();
  }
  const fs::path source = write("bad.zst", compressed);
  std::string plain;
  try {
    decompress_zstd_file(source, [&plain](ByteView piece) {
      plain.append(as_chars(piece));
      return true;
    });
    ADD_FAILURE() << "file: no exception";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kIo);
    EXPECT_EQ(
        std::string(e.what()).rfind("could not decompress file \"" + source.string() + "\": ", 0),
        0U)
        << e.what();
  }
}

}  // namespace
}  // namespace walstream::storage
