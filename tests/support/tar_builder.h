// Builds tar archives for tests and benchmarks: ustar headers laid out as the
// server's tarCreateHeader writes them, plus knobs to corrupt any field.
// Needs no test framework, so benchmarks can build their archives with it.
#pragma once

#include <cstdint>
#include <cstdio>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/tar.h"

namespace walstream::test_support {

// POSIX magic "ustar\0" followed by version "00".
inline constexpr std::string_view kPosixTarMagic{
    "ustar\0"
    "00",
    8};
inline constexpr std::int64_t kTarMtime = 1700000000;

struct TarHeaderSpec {
  std::string name{};
  char type = '0';
  std::uint64_t size = 0;
  std::uint32_t mode = 0600;
  std::int64_t mtime = kTarMtime;
  std::string link{};
  std::string prefix{};
  std::string magic{kPosixTarMagic};
  bool base256_size = false;
  bool signed_checksum = false;
  int checksum_delta = 0;                       // != 0 corrupts the checksum
  std::optional<std::string> size_field{};      // raw override of the size field
  std::optional<std::string> checksum_field{};  // raw override of the checksum
};

inline void put_tar_text(std::string& block, std::size_t offset, std::size_t width,
                         std::string_view text) {
  if (text.size() > width) {
    throw std::length_error("tar header field of " + std::to_string(width) +
                            " bytes cannot hold \"" + std::string(text) + "\"");
  }
  block.replace(offset, text.size(), text);
}

// width-1 zero-padded octal digits and a trailing space, as the server writes.
inline void put_tar_octal(std::string& block, std::size_t offset, std::size_t width,
                          std::uint64_t value) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%0*llo ", static_cast<int>(width - 1),
                static_cast<unsigned long long>(value));
  put_tar_text(block, offset, width, buf);
}

// One 512-byte header block.
inline std::string tar_header(const TarHeaderSpec& h) {
  std::string block(protocol::kTarBlockSize, '\0');
  put_tar_text(block, 0, 100, h.name);
  put_tar_octal(block, 100, 8, h.mode);
  put_tar_octal(block, 108, 8, 26);  // uid
  put_tar_octal(block, 116, 8, 26);  // gid
  if (h.size_field) {
    put_tar_text(block, 124, 12, *h.size_field);
  } else if (h.base256_size) {
    block[124] = '\x80';
    std::uint64_t v = h.size;
    for (std::size_t i = 135; i > 124; --i) {
      block[i] = static_cast<char>(v & 0xff);
      v >>= 8;
    }
  } else {
    put_tar_octal(block, 124, 12, h.size);
  }
  put_tar_octal(block, 136, 12, static_cast<std::uint64_t>(h.mtime));
  block[156] = h.type;
  put_tar_text(block, 157, 100, h.link);
  put_tar_text(block, 257, 8, h.magic);
  put_tar_text(block, 265, 32, "postgres");
  put_tar_text(block, 297, 32, "postgres");
  put_tar_text(block, 345, 155, h.prefix);

  block.replace(148, 8, 8, ' ');
  std::int64_t sum = 0;
  for (char c : block) {
    sum += h.signed_checksum ? static_cast<std::int64_t>(static_cast<signed char>(c))
                             : static_cast<std::int64_t>(static_cast<unsigned char>(c));
  }
  sum += h.checksum_delta;
  char buf[16];
  std::snprintf(buf, sizeof buf, "%06llo", static_cast<unsigned long long>(sum));
  std::string field = std::string(buf) + '\0' + ' ';
  if (h.checksum_field) field = *h.checksum_field;
  block.replace(148, 8, field);
  return block;
}

// Accumulates archive bytes and remembers every structural boundary (start of
// header, start of data, start of padding) so tests can cut exactly there.
// Names are written exactly as given: the server ends directory and symlink
// names with '/', so tests that mimic it spell the slash out.
class TarBuilder {
 public:
  TarBuilder& member(const TarHeaderSpec& h, std::string_view data = {}) {
    mark();
    bytes_ += tar_header(h);
    mark();
    bytes_ += data;
    mark();
    bytes_.append(
        (protocol::kTarBlockSize - data.size() % protocol::kTarBlockSize) % protocol::kTarBlockSize,
        '\0');
    return *this;
  }
  TarBuilder& file(std::string name, std::string_view data, std::uint32_t mode = 0600) {
    return member({.name = std::move(name), .size = data.size(), .mode = mode}, data);
  }
  TarBuilder& dir(std::string name, std::uint32_t mode = 0700) {
    return member({.name = std::move(name), .type = '5', .mode = mode});
  }
  TarBuilder& symlink(std::string name, std::string target) {
    return member({.name = std::move(name), .type = '2', .mode = 0777, .link = std::move(target)});
  }
  TarBuilder& zero_blocks(int n) {
    for (int i = 0; i < n; ++i) {
      mark();
      bytes_.append(protocol::kTarBlockSize, '\0');
    }
    return *this;
  }
  TarBuilder& trailer() { return zero_blocks(2); }
  TarBuilder& raw(std::string_view data) {
    mark();
    bytes_ += data;
    return *this;
  }
  TarBuilder& truncate(std::size_t size) {
    bytes_.resize(size);
    return *this;
  }
  // The archive, by default closed with the two-block trailer.
  std::string finish(bool with_trailer = true) {
    if (with_trailer) trailer();
    return bytes_;
  }

  const std::string& bytes() const { return bytes_; }
  std::vector<std::size_t> boundaries() const {
    std::vector<std::size_t> out;
    for (std::size_t b : boundaries_) {
      if (b > 0 && b < bytes_.size()) out.push_back(b);
    }
    return out;
  }

 private:
  void mark() { boundaries_.insert(bytes_.size()); }

  std::string bytes_;
  std::set<std::size_t> boundaries_;
};

}  // namespace walstream::test_support
