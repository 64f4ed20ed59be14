#include "storage/zstd_file.h"

#include <fcntl.h>
#include <unistd.h>
#include <zstd.h>

#include <algorithm>
#include <string>
#include <vector>

#include "protocol/error.h"
#include "storage/file_util.h"

namespace walstream::storage {
namespace {

namespace fs = std::filesystem;

// ZSTD_FRAMEHEADERSIZE_MAX, which zstd.h only exports with ZSTD_STATIC_LINKING_ONLY.
constexpr std::size_t kMaxFrameHeaderSize = 18;

}  // namespace

void decompress_zstd_file(const fs::path& path, const ZstdOutput& out) {
  UniqueFd in = open_for_reading(path);
  ZstdDecoder decoder("file \"" + path.string() + "\"", ErrorKind::kIo);
  std::vector<std::byte> buffer(ZSTD_DStreamInSize());
  for (;;) {
    const std::size_t n = read_up_to(in.get(), buffer, path);
    if (n == 0) break;
    if (!decoder.feed(ByteView(buffer).first(n), out)) return;
  }
  decoder.finish();
}

void decompress_file(const fs::path& source, const fs::path& destination,
                     std::optional<std::uint64_t> expected_size) {
  const int raw =
      ::open(destination.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (raw < 0) throw_io_error("open file", destination, errno);
  UniqueFd out(raw);
  try {
    std::uint64_t total = 0;
    decompress_zstd_file(source, [&](ByteView chunk) {
      total += chunk.size();
      if (expected_size && total > *expected_size) {
        throw Error(ErrorKind::kIo, "decompressed file \"" + source.string() +
                                        "\" is larger than " + std::to_string(*expected_size) +
                                        " bytes");
      }
      write_all(out.get(), chunk, destination);
      return true;
    });
    if (expected_size && total != *expected_size) {
      throw Error(ErrorKind::kIo, "decompressed file \"" + source.string() + "\" has " +
                                      std::to_string(total) + " bytes, expected " +
                                      std::to_string(*expected_size));
    }
    out.close(destination);
  } catch (...) {
    out = UniqueFd();
    ::unlink(destination.c_str());
    throw;
  }
}

std::optional<std::uint64_t> zstd_content_size(const fs::path& file) {
  std::byte header[kMaxFrameHeaderSize];
  const std::size_t have = read_prefix(file, header);
  const unsigned long long size = ZSTD_getFrameContentSize(header, have);
  if (size == ZSTD_CONTENTSIZE_ERROR) {
    throw Error(ErrorKind::kIo, "file \"" + file.string() + "\" does not start with a zstd frame");
  }
  if (size == ZSTD_CONTENTSIZE_UNKNOWN) return std::nullopt;
  return static_cast<std::uint64_t>(size);
}

std::size_t decompress_prefix(const fs::path& file, MutableByteView out) {
  std::size_t produced = 0;
  if (out.empty()) return 0;
  decompress_zstd_file(file, [&](ByteView chunk) {
    const std::size_t n = std::min(chunk.size(), out.size() - produced);
    std::copy_n(chunk.begin(), n, out.begin() + static_cast<std::ptrdiff_t>(produced));
    produced += n;
    return produced < out.size();
  });
  return produced;
}

}  // namespace walstream::storage
