// The one zstd streaming decoder: server-compressed backup archives
// (ArchiveDecompressor) and .zst WAL segments (storage/zstd_file.h) both
// decode through it. Compressed bytes go in as they arrive, in any chunking;
// plain bytes come out through one fixed 256 kB buffer, so memory stays
// bounded whatever the content size. Concatenated frames decode as one
// stream.
#pragma once

#include <zstd.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "protocol/bytes.h"
#include "protocol/error.h"

namespace walstream::storage {

// Receives plain bytes (valid only during the call); returns false when it
// wants no more, which ends decoding early without an error.
using ZstdOutput = std::function<bool(ByteView)>;

class ZstdDecoder {
 public:
  // Errors read "could not decompress <what>: <reason>", of kind `kind`
  // (e.g. what = "file \"x.zst\"", kind = kIo).
  ZstdDecoder(std::string what, ErrorKind kind);

  // Decodes `compressed`, handing out everything it yields before returning.
  // Returns false once `out` has asked to stop (later calls do nothing).
  // Throws walstream::Error on corrupt input.
  bool feed(ByteView compressed, const ZstdOutput& out);
  // End of input. Throws unless it ended at the end of a frame (an empty
  // input is truncated too), or `out` asked to stop earlier.
  void finish();

 private:
  [[noreturn]] void fail(const std::string& reason) const;

  struct ContextFree {
    void operator()(ZSTD_DCtx* context) const { ZSTD_freeDCtx(context); }
  };

  std::string what_;
  ErrorKind kind_;
  std::unique_ptr<ZSTD_DCtx, ContextFree> context_;
  std::vector<std::byte> output_;
  bool any_input_ = false;
  bool at_frame_end_ = false;
  bool stopped_ = false;
};

}  // namespace walstream::storage
