#include "storage/background_writer.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

#include "storage/file_util.h"

namespace walstream::storage {

bool pwrite_all_direct(int fd, ByteView data, off_t offset,
                       const std::filesystem::path& path_for_errors) {
  bool direct = true;
  while (!data.empty()) {
    const ssize_t n = ::pwrite(fd, data.data(), data.size(), offset);
    if (n < 0) {
      const int error = errno;
      if (error == EINTR) continue;
      if (error == EINVAL && direct) {
        const int flags = ::fcntl(fd, F_GETFL);
        if (flags >= 0 && (flags & O_DIRECT) != 0) {
          set_direct_io(fd, false, path_for_errors);
          direct = false;
          continue;
        }
      }
      throw_io_error("write to file", path_for_errors, error);
    }
    // A zero-byte write of a non-empty buffer only happens when the device is full.
    if (n == 0) throw_io_error("write to file", path_for_errors, ENOSPC);
    data = data.subspan(static_cast<std::size_t>(n));
    offset += n;
  }
  return direct;
}

BackgroundWriter::BackgroundWriter() : thread_([this] { run(); }) {}

BackgroundWriter::~BackgroundWriter() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_all();
  thread_.join();
}

void BackgroundWriter::submit(int fd, ByteView data, off_t offset,
                              const std::filesystem::path& path_for_errors) {
  std::unique_lock lock(mutex_);
  wait_locked(lock);
  job_ = Job{fd, data, offset, path_for_errors};
  lock.unlock();
  changed_.notify_all();
}

void BackgroundWriter::wait() {
  std::unique_lock lock(mutex_);
  wait_locked(lock);
}

void BackgroundWriter::wait_locked(std::unique_lock<std::mutex>& lock) {
  changed_.wait(lock, [this] { return !job_ || error_; });
  if (error_) std::rethrow_exception(error_);
}

void BackgroundWriter::run() {
  std::unique_lock lock(mutex_);
  for (;;) {
    changed_.wait(lock, [this] { return job_ || stopping_; });
    if (!job_) return;  // stopping, nothing in flight
    Job job = *job_;
    lock.unlock();
    std::exception_ptr error;
    try {
      pwrite_all_direct(job.fd, job.data, job.offset, job.path);
    } catch (...) {
      error = std::current_exception();
    }
    lock.lock();
    if (error && !error_) error_ = error;
    job_.reset();
    changed_.notify_all();
  }
}

}  // namespace walstream::storage
