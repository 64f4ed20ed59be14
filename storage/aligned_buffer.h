// Memory for direct I/O (O_DIRECT): buffers, file offsets and lengths must be
// multiples of the device's logical block size.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <new>

namespace walstream::storage {

// The largest logical block size in use (4096); it also satisfies 512-byte
// devices.
inline constexpr std::size_t kDirectIoAlignment = 4096;

constexpr std::uint64_t align_down(std::uint64_t n) {
  return n / kDirectIoAlignment * kDirectIoAlignment;
}
constexpr std::uint64_t align_up(std::uint64_t n) { return align_down(n + kDirectIoAlignment - 1); }

// `size` bytes aligned to kDirectIoAlignment, freed with the buffer.
class AlignedBuffer {
 public:
  explicit AlignedBuffer(std::size_t size)
      : data_(static_cast<std::byte*>(std::aligned_alloc(kDirectIoAlignment, align_up(size)))),
        size_(size) {
    if (!data_) throw std::bad_alloc();
  }
  std::byte* data() const { return data_.get(); }
  std::size_t size() const { return size_; }

 private:
  struct Free {
    void operator()(std::byte* p) const { std::free(p); }
  };
  std::unique_ptr<std::byte, Free> data_;
  std::size_t size_;
};

}  // namespace walstream::storage
