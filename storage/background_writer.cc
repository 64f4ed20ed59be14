#include "storage/background_writer.h"

#include <utility>

#include "storage/file_util.h"

namespace walstream::storage {

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
      pwrite_all(job.fd, job.data, job.offset, job.path);
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
