#include "storage/zstd_decoder.h"

#include <utility>

namespace walstream::storage {
namespace {

constexpr std::size_t kOutputBufferSize = 256 * 1024;

}  // namespace

ZstdDecoder::ZstdDecoder(std::string what, ErrorKind kind)
    : what_(std::move(what)), kind_(kind), context_(ZSTD_createDCtx()), output_(kOutputBufferSize) {
  if (!context_) throw Error(ErrorKind::kInternal, "out of memory creating a zstd context");
}

bool ZstdDecoder::feed(ByteView compressed, const ZstdOutput& out) {
  // Nothing to do without input; a call would only ask for the next frame
  // and forget that the last one ended.
  if (stopped_ || compressed.empty()) return !stopped_;
  any_input_ = true;
  ZSTD_inBuffer input{compressed.data(), compressed.size(), 0};
  for (;;) {
    ZSTD_outBuffer output{output_.data(), output_.size(), 0};
    const std::size_t result = ZSTD_decompressStream(context_.get(), &output, &input);
    if (ZSTD_isError(result)) fail(ZSTD_getErrorName(result));
    at_frame_end_ = result == 0;
    if (output.pos > 0 && !out(ByteView(output_.data(), output.pos))) {
      stopped_ = true;
      return false;
    }
    // Done once the input is consumed and the context holds no more output:
    // the buffer was not filled, or a frame just ended.
    if (input.pos == input.size && (output.pos < output.size || at_frame_end_)) return true;
  }
}

void ZstdDecoder::finish() {
  if (stopped_) return;
  if (!any_input_ || !at_frame_end_) fail("compressed data is truncated");
}

void ZstdDecoder::fail(const std::string& reason) const {
  throw Error(kind_, "could not decompress " + what_ + ": " + reason);
}

}  // namespace walstream::storage
