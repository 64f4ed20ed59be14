// What the fuzz targets share: a check that aborts (libFuzzer reports an
// abort as a crash and keeps the input; the replay runner fails its ctest
// case), the rules every error message from a decoder of untrusted bytes
// follows, and a small deterministic reader that turns the fuzz input into
// the parameters and values a target needs (the same bytes always make the
// same case, so every corpus file replays the same way).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

#include "protocol/bytes.h"
#include "protocol/error.h"

namespace walstream::fuzz {

inline void check(bool condition) {
  if (!condition) std::abort();
}

// Messages compose a few quoted values (quote_untrusted caps each at 200
// characters) with fixed text: anything longer let untrusted text through
// unbounded.
inline constexpr std::size_t kMaxErrorMessageLength = 1000;

// An error about untrusted input: of the expected kind, with a message that
// is one line of printable ASCII and of bounded length, so that no server or
// file can garble the terminal or flood the log it ends up in (untrusted
// text in messages goes through protocol::quote_untrusted).
inline void check_error(const Error& error, ErrorKind expected_kind) {
  check(error.kind() == expected_kind);
  const std::string_view message = error.what();
  check(!message.empty() && message.size() <= kMaxErrorMessageLength);
  for (char c : message) check(c >= 0x20 && c < 0x7f);
  for (char c : error.hint()) check(c >= 0x20 && c < 0x7f);
}

// Reads parameters off the front of the input; once it is used up every read
// returns zeros or empty values, so any input makes a case.
class FuzzInput {
 public:
  FuzzInput(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) {}

  std::uint8_t byte() { return pos_ < size_ ? data_[pos_++] : 0; }

  bool flag() { return (byte() & 1) != 0; }

  // Little-endian, from as many bytes as the type has.
  template <typename T>
  T number() {
    std::uint64_t value = 0;
    for (std::size_t i = 0; i < sizeof(T); ++i) value |= std::uint64_t{byte()} << (8 * i);
    return static_cast<T>(value);
  }

  // A value in [0, count): one byte, so that mutations of it stay small.
  std::size_t pick(std::size_t count) { return count == 0 ? 0 : byte() % count; }

  // A string of at most `max_length` bytes, its length in the first byte.
  std::string text(std::size_t max_length = 255) {
    const std::size_t length = std::min<std::size_t>(byte(), max_length);
    const std::size_t n = std::min(length, size_ - pos_);
    std::string out(reinterpret_cast<const char*>(data_ + pos_), n);
    pos_ += n;
    return out;
  }

  // Everything not read yet.
  ByteView rest() {
    const ByteView out(reinterpret_cast<const std::byte*>(data_ + pos_), size_ - pos_);
    pos_ = size_;
    return out;
  }
  std::string_view rest_text() { return as_chars(rest()); }

  bool empty() const { return pos_ == size_; }

 private:
  const std::uint8_t* data_;
  std::size_t size_;
  std::size_t pos_ = 0;
};

}  // namespace walstream::fuzz
