// Test data: bytes shaped like a partly used WAL segment (random, then zeros:
// compresses somewhat, spans several zstd blocks) and plain random bytes.
#pragma once

#include <cstddef>
#include <random>
#include <string>

namespace walstream::test_support {

inline std::string half_random(std::size_t size, unsigned seed) {
  std::string data(size, '\0');
  std::mt19937 random(seed);
  for (std::size_t i = 0; i < size / 2; ++i) data[i] = static_cast<char>(random() & 0xff);
  return data;
}

// `size` random bytes; the same seed gives the same bytes.
inline std::string random_bytes(std::size_t size, unsigned seed) {
  std::string data(size, '\0');
  std::mt19937 random(seed);
  for (char& c : data) c = static_cast<char>(random() & 0xff);
  return data;
}

}  // namespace walstream::test_support
