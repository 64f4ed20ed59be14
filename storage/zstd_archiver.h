// Compresses completed segments into NAME.zst on a background thread so that
// receiving never waits for compression. Each file is made durable
// (NAME.zst.tmp written, fsynced, renamed, directory fsynced) before the
// uncompressed NAME is removed; a crash in between leaves both, never neither.
#pragma once

#include <condition_variable>
#include <deque>
#include <exception>
#include <filesystem>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "protocol/bytes.h"

namespace walstream::storage {

// Compresses dir/name into dir/name.zst durably, then unlinks dir/name.
// Throws walstream::Error (kIo).
void compress_segment_file(const std::filesystem::path& dir, const std::string& name, int level);

// Decompresses `source` (.zst) into `destination`; throws on corrupt input or
// if the result is not `expected_size` bytes (when given).
void decompress_file(const std::filesystem::path& source, const std::filesystem::path& destination,
                     std::optional<std::uint64_t> expected_size);

// Size of the content of a .zst file as recorded in its frame header, or
// nullopt if the frame does not record it.
// Throws walstream::Error (kIo) if the file does not start with a zstd frame.
std::optional<std::uint64_t> zstd_content_size(const std::filesystem::path& file);

// Decompresses the beginning of a .zst file into `out` (e.g. a segment's first
// page) without decompressing the rest; returns the bytes produced, fewer than
// out.size() only if the content is shorter. Throws on corrupt input.
std::size_t decompress_prefix(const std::filesystem::path& file, MutableByteView out);

class ZstdArchiver {
 public:
  ZstdArchiver(std::filesystem::path dir, int level,
               std::function<void(std::exception_ptr)> on_failure);
  // Finishes the queued files, then stops the thread.
  ~ZstdArchiver();
  void enqueue(std::string segment_name);
  // Blocks until the queue is empty; rethrows a failure.
  void drain();

 private:
  void run();

  std::filesystem::path dir_;
  int level_;
  std::function<void(std::exception_ptr)> on_failure_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable idle_;
  std::deque<std::string> queue_;
  bool busy_ = false;
  bool stopping_ = false;
  std::exception_ptr failure_;
  std::thread thread_;
};

}  // namespace walstream::storage
