// Fuzz target for the START_REPLICATION CopyData decoder. Any input must either
// decode or throw walstream::Error (kProtocol, a printable single line);
// anything else (a crash, another exception, a payload view outside the
// input) is a bug.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <variant>

#include "protocol/error.h"
#include "protocol/replication_messages.h"
#include "tests/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const walstream::ByteView input(reinterpret_cast<const std::byte*>(data), size);
  try {
    const auto message = walstream::protocol::decode_server_copy_message(input);
    if (const auto* xlog = std::get_if<walstream::protocol::XLogData>(&message)) {
      // The payload must be exactly the bytes after the 25-byte header.
      if (size < 25 || xlog->payload.data() != input.data() + 25 ||
          xlog->payload.size() != size - 25) {
        std::abort();
      }
    }
  } catch (const walstream::Error& e) {
    // Rejected input: expected for most fuzz inputs.
    walstream::fuzz::check_error(e, walstream::ErrorKind::kProtocol);
  }
  return 0;
}
