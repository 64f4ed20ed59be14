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
#include <string>
#include <thread>

namespace walstream::storage {

// Compresses dir/name into dir/name.zst durably, then unlinks dir/name.
// Throws walstream::Error (kIo).
void compress_segment_file(const std::filesystem::path& dir, const std::string& name, int level);

class ZstdArchiver {
 public:
  // `on_compressed` (may be empty) is told each segment name once its
  // NAME.zst is durable, on the archiver thread.
  ZstdArchiver(std::filesystem::path dir, int level,
               std::function<void(std::exception_ptr)> on_failure,
               std::function<void(const std::string&)> on_compressed = {});
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
  std::function<void(const std::string&)> on_compressed_;
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
