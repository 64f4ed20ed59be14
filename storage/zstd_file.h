// Reading .zst files: WAL segments compressed by walstream receive (one zstd
// frame that records the content size), decoded for restore-wal, the archive
// scan and verify --wal. Everything goes through ZstdDecoder with one input
// buffer, so a segment is never held whole in memory.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>

#include "protocol/bytes.h"
#include "storage/zstd_decoder.h"

namespace walstream::storage {

// Decodes the .zst file `path`, handing the plain bytes to `out` in pieces
// of at most 256 kB. When `out` returns false the rest of the file is
// neither read nor checked. Throws walstream::Error (kIo) naming the file on
// a read error or corrupt or truncated data.
void decompress_zstd_file(const std::filesystem::path& path, const ZstdOutput& out);

// Decompresses `source` (.zst) into `destination`; throws on corrupt input or
// if the result is not `expected_size` bytes (when given), leaving no
// destination behind.
void decompress_file(const std::filesystem::path& source, const std::filesystem::path& destination,
                     std::optional<std::uint64_t> expected_size);

// Size of the content of a .zst file as recorded in its frame header, or
// nullopt if the frame does not record it.
// Throws walstream::Error (kIo) if the file does not start with a zstd frame.
std::optional<std::uint64_t> zstd_content_size(const std::filesystem::path& file);

// Decompresses the beginning of a .zst file into `out` (e.g. a segment's first
// page) without decompressing the rest; returns the bytes produced, fewer than
// out.size() only if the content is shorter. Throws on corrupt input.
std::size_t decompress_prefix(const std::filesystem::path& file, MutableByteView out);

}  // namespace walstream::storage
