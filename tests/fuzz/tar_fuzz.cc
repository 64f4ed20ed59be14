// Fuzz target for the streaming tar parser. The input is one archive. It is
// parsed twice, in one piece and cut into small uneven chunks; both runs must
// either fail with the same walstream::Error message or report the same
// events. Member data must always be a view into the input (no copies).
// Errors are about the archive (kProtocol) and printable single lines.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <iterator>
#include <string>

#include "protocol/error.h"
#include "protocol/tar.h"
#include "tests/fuzz/fuzz_support.h"

namespace {

using walstream::ByteView;
using walstream::protocol::TarMember;
using walstream::protocol::TarParser;

// Folds every event into a hash, so the two runs can be compared cheaply.
class DigestSink : public walstream::protocol::TarMemberSink {
 public:
  explicit DigestSink(ByteView input) : input_(input) {}

  void member_begin(const TarMember& member) override {
    mix('b');
    mix(member.path);
    mix(static_cast<std::uint64_t>(member.type));
    mix(member.mode);
    mix(member.size);
    mix(static_cast<std::uint64_t>(member.mtime));
    mix(member.link_target);
  }
  void member_data(ByteView data) override {
    if (data.empty() || data.data() < input_.data() ||
        data.data() + data.size() > input_.data() + input_.size()) {
      std::abort();
    }
    // Not split-invariant to mark piece boundaries, so hash only the bytes.
    for (std::byte b : data) mix(static_cast<std::uint64_t>(b));
  }
  void member_end() override { mix('e'); }
  void archive_end() override {
    mix('z');
    ++archive_ends;
  }

  std::uint64_t digest = 0xcbf29ce484222325;
  int archive_ends = 0;

 private:
  void mix(std::uint64_t v) { digest = (digest ^ v) * 0x100000001b3; }
  void mix(const std::string& s) {
    mix(s.size());
    for (char c : s) mix(static_cast<std::uint64_t>(static_cast<unsigned char>(c)));
  }

  ByteView input_;
};

struct Outcome {
  std::uint64_t digest;
  std::string error;
};

Outcome run(ByteView input, TarParser::Trailer trailer, bool split) {
  DigestSink sink(input);
  TarParser parser(sink, trailer);
  std::string error;
  try {
    if (split) {
      // Uneven chunk sizes that land on and around block boundaries.
      static constexpr std::size_t kSizes[] = {1, 511, 2, 513, 7, 1024, 3};
      std::size_t pos = 0;
      for (std::size_t i = 0; pos < input.size(); ++i) {
        const std::size_t n = std::min(kSizes[i % std::size(kSizes)], input.size() - pos);
        parser.feed(input.subspan(pos, n));
        pos += n;
      }
    } else {
      parser.feed(input);
    }
    parser.finish();
    if (sink.archive_ends != 1) std::abort();
  } catch (const walstream::Error& e) {
    walstream::fuzz::check_error(e, walstream::ErrorKind::kProtocol);
    error = e.what();
  }
  return {sink.digest, error};
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const ByteView input(reinterpret_cast<const std::byte*>(data), size);
  for (auto trailer : {TarParser::Trailer::kRequired, TarParser::Trailer::kOptional}) {
    const Outcome whole = run(input, trailer, false);
    const Outcome pieces = run(input, trailer, true);
    if (whole.digest != pieces.digest || whole.error != pieces.error) std::abort();
  }
  return 0;
}
