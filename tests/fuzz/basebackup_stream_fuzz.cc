// Fuzz target for the BASE_BACKUP stream decoder. The input is a sequence of
// CopyData messages, each framed as a 2-byte big-endian length and the bytes.
// Archive data is also fed to a tar parser, as the real pipeline does. Any
// input must be accepted or rejected with walstream::Error (kProtocol, a
// printable single line).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string_view>

#include "protocol/basebackup_stream.h"
#include "protocol/error.h"
#include "protocol/tar.h"
#include "tests/fuzz/fuzz_support.h"

namespace {

using walstream::ByteView;

class NullMemberSink : public walstream::protocol::TarMemberSink {
 public:
  void member_begin(const walstream::protocol::TarMember&) override {}
  void member_data(ByteView) override {}
  void member_end() override {}
  void archive_end() override {}
};

class TarHandler : public walstream::protocol::BackupStreamHandler {
 public:
  void archive_begin(std::string_view, std::string_view) override {
    if (open_) std::abort();  // the decoder must have closed the previous one
    open_ = true;
    parser_ = std::make_unique<walstream::protocol::TarParser>(
        sink_, walstream::protocol::TarParser::Trailer::kRequired);
  }
  void archive_data(ByteView data) override {
    if (!open_ || data.empty()) std::abort();
    parser_->feed(data);
  }
  void archive_end() override {
    if (!open_) std::abort();
    open_ = false;
    parser_->finish();
  }
  void manifest_begin() override {
    if (open_ || manifest_) std::abort();
    manifest_ = true;
  }
  void manifest_data(ByteView data) override {
    if (!manifest_ || data.empty()) std::abort();
  }
  void manifest_end() override {
    if (!manifest_) std::abort();
  }
  void progress(std::uint64_t) override {}

 private:
  NullMemberSink sink_;
  std::unique_ptr<walstream::protocol::TarParser> parser_;
  bool open_ = false;
  bool manifest_ = false;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  TarHandler handler;
  walstream::protocol::BackupStreamDecoder decoder(handler);
  try {
    std::size_t pos = 0;
    while (pos + 2 <= size) {
      const std::size_t length = (std::size_t{data[pos]} << 8) | data[pos + 1];
      pos += 2;
      const std::size_t n = std::min(length, size - pos);
      decoder.feed(ByteView(reinterpret_cast<const std::byte*>(data + pos), n));
      pos += n;
    }
    decoder.finish();
  } catch (const walstream::Error& e) {
    // Rejected input: expected for most fuzz inputs.
    walstream::fuzz::check_error(e, walstream::ErrorKind::kProtocol);
  }
  return 0;
}
