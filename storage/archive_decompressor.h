// Server-side compressed base backups (PostgreSQL 15+: base.tar.zst,
// base.tar.lz4, base.tar.gz) are decompressed as they stream in, so the tar
// parser sees the plain archive and nothing is staged on disk. Output goes
// through one fixed-size buffer, whatever the archive size.
#pragma once

#include <functional>
#include <memory>
#include <string_view>

#include "protocol/bytes.h"

namespace walstream::storage {

// Receives plain bytes; the view is valid only during the call.
using PlainBytesSink = std::function<void(ByteView)>;

class ArchiveDecompressor {
 public:
  virtual ~ArchiveDecompressor() = default;
  // Decompresses `compressed`, calling `out` as plain bytes become available.
  // Throws walstream::Error (kProtocol) on corrupt input.
  virtual void feed(ByteView compressed, const PlainBytesSink& out) = 0;
  // End of input; throws if the compressed stream is incomplete.
  virtual void finish(const PlainBytesSink& out) = 0;
};

// The decompressor for an archive name's suffix (.zst, .lz4, .gz), or nullptr
// for a plain .tar.
std::unique_ptr<ArchiveDecompressor> make_archive_decompressor(std::string_view archive_name);

}  // namespace walstream::storage
