// One thread that performs one pwrite at a time for its owner, so the owner
// can fill its next buffer while the disk takes the previous one. Used for
// direct (O_DIRECT) writes, which block until the device has the data: on
// the receiving thread they would stop the socket from being read meanwhile.
// A filesystem that takes O_DIRECT at open but refuses the writes gets them
// through the page cache (pwrite_all_direct).
#pragma once

#include <condition_variable>
#include <exception>
#include <filesystem>
#include <mutex>
#include <optional>
#include <thread>

#include "protocol/bytes.h"

namespace walstream::storage {

// Writes all of `data` at `offset` as pwrite_all does, except that a write
// refused with EINVAL while `fd` has O_DIRECT set (the filesystem took the
// flag at open but not the write) clears O_DIRECT on `fd` and is made again
// through the page cache. Returns false if it cleared O_DIRECT.
bool pwrite_all_direct(int fd, ByteView data, off_t offset,
                       const std::filesystem::path& path_for_errors);

class BackgroundWriter {
 public:
  BackgroundWriter();
  // Waits for the write in flight; its error, if any, is dropped.
  ~BackgroundWriter();
  BackgroundWriter(const BackgroundWriter&) = delete;
  BackgroundWriter& operator=(const BackgroundWriter&) = delete;

  // Waits for the previous write, then starts writing all of `data` at
  // `offset` of `fd`. `data` must stay valid and unchanged until the next
  // submit() or wait() returns. Throws the error of an earlier write.
  void submit(int fd, ByteView data, off_t offset, const std::filesystem::path& path_for_errors);
  // Waits until no write is in flight; throws the first write error (a
  // failure is final: later calls throw it again).
  void wait();

 private:
  struct Job {
    int fd;
    ByteView data;
    off_t offset;
    std::filesystem::path path;
  };
  void run();
  void wait_locked(std::unique_lock<std::mutex>& lock);

  std::mutex mutex_;
  std::condition_variable changed_;
  std::optional<Job> job_;
  bool stopping_ = false;
  std::exception_ptr error_;
  std::thread thread_;
};

}  // namespace walstream::storage
