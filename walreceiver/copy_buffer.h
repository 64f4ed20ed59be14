// Owner of one CopyData payload as libpq returned it from PQgetCopyData. The
// payload is never copied by our code: decoders take spans into it and storage
// writes from those spans; the memory goes back to libpq (PQfreemem) when the
// buffer is dropped.
#pragma once

#include <libpq-fe.h>

#include <cstddef>
#include <utility>

#include "protocol/bytes.h"

namespace walstream::walreceiver {

class CopyBuffer {
 public:
  CopyBuffer() = default;
  CopyBuffer(char* data, int size) : data_(data), size_(static_cast<std::size_t>(size)) {}
  CopyBuffer(CopyBuffer&& other) noexcept
      : data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)) {}
  CopyBuffer& operator=(CopyBuffer&& other) noexcept {
    if (this != &other) {
      reset();
      data_ = std::exchange(other.data_, nullptr);
      size_ = std::exchange(other.size_, 0);
    }
    return *this;
  }
  CopyBuffer(const CopyBuffer&) = delete;
  CopyBuffer& operator=(const CopyBuffer&) = delete;
  ~CopyBuffer() { reset(); }

  ByteView bytes() const { return {reinterpret_cast<const std::byte*>(data_), size_}; }

 private:
  void reset() {
    if (data_ != nullptr) PQfreemem(data_);
    data_ = nullptr;
    size_ = 0;
  }

  char* data_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace walstream::walreceiver
