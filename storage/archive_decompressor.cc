#include "storage/archive_decompressor.h"

#include <lz4frame.h>
#include <zlib.h>

#include <array>
#include <string>

#include "protocol/error.h"
#include "storage/zstd_decoder.h"

namespace walstream::storage {
namespace {

constexpr std::size_t kOutputBufferSize = 256 * 1024;

bool ends_with(std::string_view text, std::string_view suffix) {
  return text.size() >= suffix.size() && text.substr(text.size() - suffix.size()) == suffix;
}

// zstd archives decode through the same ZstdDecoder as .zst WAL segments.
class ZstdDecompressor : public ArchiveDecompressor {
 public:
  void feed(ByteView compressed, const PlainBytesSink& out) override {
    decoder_.feed(compressed, [&out](ByteView plain) {
      out(plain);
      return true;
    });
  }

  // The decoder hands out everything it can in feed(); nothing is left.
  void finish(const PlainBytesSink&) override { decoder_.finish(); }

 private:
  ZstdDecoder decoder_{"zstd archive", ErrorKind::kProtocol};
};

class Lz4Decompressor : public ArchiveDecompressor {
 public:
  Lz4Decompressor() {
    if (LZ4F_isError(LZ4F_createDecompressionContext(&context_, LZ4F_VERSION))) {
      throw Error(ErrorKind::kInternal, "out of memory (lz4)");
    }
  }
  ~Lz4Decompressor() override { LZ4F_freeDecompressionContext(context_); }

  void feed(ByteView compressed, const PlainBytesSink& out) override {
    const std::byte* next = compressed.data();
    std::size_t left = compressed.size();
    while (left > 0) {
      std::size_t out_size = output_.size();
      std::size_t in_size = left;
      std::size_t hint =
          LZ4F_decompress(context_, output_.data(), &out_size, next, &in_size, nullptr);
      if (LZ4F_isError(hint)) {
        throw ProtocolError(std::string("could not decompress lz4 archive: ") +
                            LZ4F_getErrorName(hint));
      }
      next += in_size;
      left -= in_size;
      frame_done_ = hint == 0;
      if (out_size > 0) out(ByteView(output_.data(), out_size));
    }
  }

  void finish(const PlainBytesSink& out) override {
    // LZ4F keeps no output back once its input is consumed; drain defensively.
    for (;;) {
      std::size_t out_size = output_.size();
      std::size_t in_size = 0;
      std::size_t hint =
          LZ4F_decompress(context_, output_.data(), &out_size, nullptr, &in_size, nullptr);
      if (LZ4F_isError(hint)) {
        throw ProtocolError(std::string("could not decompress lz4 archive: ") +
                            LZ4F_getErrorName(hint));
      }
      if (out_size > 0) out(ByteView(output_.data(), out_size));
      if (out_size == 0) break;
    }
    if (!frame_done_) throw ProtocolError("lz4 archive ends in the middle of a frame");
  }

 private:
  LZ4F_dctx* context_ = nullptr;
  bool frame_done_ = false;
  std::array<std::byte, kOutputBufferSize> output_{};
};

class GzipDecompressor : public ArchiveDecompressor {
 public:
  GzipDecompressor() {
    // 16 + MAX_WBITS: expect a gzip header and trailer.
    if (inflateInit2(&stream_, 16 + MAX_WBITS) != Z_OK) {
      throw Error(ErrorKind::kInternal, "out of memory (zlib)");
    }
  }
  ~GzipDecompressor() override { inflateEnd(&stream_); }

  void feed(ByteView compressed, const PlainBytesSink& out) override {
    stream_.next_in = reinterpret_cast<Bytef*>(const_cast<std::byte*>(compressed.data()));
    stream_.avail_in = static_cast<uInt>(compressed.size());
    while (stream_.avail_in > 0 && !stream_done_) {
      stream_.next_out = reinterpret_cast<Bytef*>(output_.data());
      stream_.avail_out = static_cast<uInt>(output_.size());
      int result = inflate(&stream_, Z_NO_FLUSH);
      if (result != Z_OK && result != Z_STREAM_END && result != Z_BUF_ERROR) {
        throw ProtocolError(std::string("could not decompress gzip archive: ") +
                            (stream_.msg != nullptr ? stream_.msg : "corrupt data"));
      }
      std::size_t produced = output_.size() - stream_.avail_out;
      if (produced > 0) out(ByteView(output_.data(), produced));
      if (result == Z_STREAM_END) stream_done_ = true;
      if (result == Z_BUF_ERROR && produced == 0) break;
    }
    if (stream_done_ && stream_.avail_in > 0) {
      throw ProtocolError("gzip archive has data after its end");
    }
  }

  void finish(const PlainBytesSink&) override {
    if (!stream_done_) throw ProtocolError("gzip archive ends before its trailer");
  }

 private:
  z_stream stream_{};
  bool stream_done_ = false;
  std::array<std::byte, kOutputBufferSize> output_{};
};

}  // namespace

std::unique_ptr<ArchiveDecompressor> make_archive_decompressor(std::string_view archive_name) {
  if (ends_with(archive_name, ".zst")) return std::make_unique<ZstdDecompressor>();
  if (ends_with(archive_name, ".lz4")) return std::make_unique<Lz4Decompressor>();
  if (ends_with(archive_name, ".gz")) return std::make_unique<GzipDecompressor>();
  return nullptr;
}

}  // namespace walstream::storage
