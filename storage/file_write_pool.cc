#include "storage/file_write_pool.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "protocol/error.h"

namespace walstream::storage {

struct PooledFileStream::File {
  std::filesystem::path path;
  mode_t mode = 0600;
  // Created by the first writer that needs it, off the receiving thread
  // (creating a file is as costly as writing a megabyte of it). Not
  // std::call_once: a creation that throws must not be tried again, and
  // ThreadSanitizer's call_once leaves a thread waiting forever on a flag
  // whose function threw.
  std::mutex open_mutex;
  bool open_tried = false;
  std::exception_ptr open_error;
  UniqueFd fd;
  std::atomic<bool> direct{false};
  // The appending stream holds one reference, each queued write another;
  // whoever drops the last one finishes the file.
  std::atomic<int> references{1};
  // Set by close(): the file's real size (direct writes pad the last block
  // when it is not a multiple of the alignment).
  std::uint64_t size = 0;
  bool closed = false;
};

struct FileWritePool::Job {
  std::shared_ptr<PooledFileStream::File> file;
  std::unique_ptr<AlignedBuffer> buffer;
  std::size_t length = 0;
  std::uint64_t offset = 0;
};

// --- PooledFileStream ------------------------------------------------------

PooledFileStream::PooledFileStream(PooledFileStream&& other) noexcept
    : pool_(std::exchange(other.pool_, nullptr)),
      file_(std::move(other.file_)),
      buffer_(std::move(other.buffer_)),
      filled_(std::exchange(other.filled_, 0)),
      offset_(std::exchange(other.offset_, 0)) {}

PooledFileStream& PooledFileStream::operator=(PooledFileStream&& other) noexcept {
  if (this != &other) {
    PooledFileStream previous(std::move(*this));  // abandoned when it goes
    pool_ = std::exchange(other.pool_, nullptr);
    file_ = std::move(other.file_);
    buffer_ = std::move(other.buffer_);
    filled_ = std::exchange(other.filled_, 0);
    offset_ = std::exchange(other.offset_, 0);
  }
  return *this;
}

PooledFileStream::~PooledFileStream() {
  if (!pool_) return;
  // Abandoned (an error elsewhere): give the buffer back and let the file
  // close after its queued writes, without claiming a size.
  if (buffer_) pool_->release_buffer(std::move(buffer_));
  if (file_->references.fetch_sub(1) == 1) pool_->finish_file(*file_);
}

void PooledFileStream::append(ByteView data) {
  while (!data.empty()) {
    if (!buffer_) {
      buffer_ = pool_->acquire_buffer();
      filled_ = 0;
    }
    const std::size_t n = std::min(data.size(), buffer_->size() - filled_);
    std::memcpy(buffer_->data() + filled_, data.data(), n);
    filled_ += n;
    data = data.subspan(n);
    if (filled_ == buffer_->size()) queue_current(/*last=*/false);
  }
}

void PooledFileStream::queue_current(bool last) {
  FileWritePool::Job job;
  job.file = file_;
  job.offset = offset_;
  job.length = filled_;
  if (last) {
    file_->size = offset_ + filled_;
    if (pool_->options_.direct_io) {
      // Direct I/O writes whole aligned blocks; the tail is zero-padded and
      // cut off again by the truncate in finish_file.
      job.length = align_up(filled_);
      std::memset(buffer_->data() + filled_, 0, job.length - filled_);
    }
  }
  offset_ += filled_;
  filled_ = 0;
  job.buffer = std::move(buffer_);
  file_->references.fetch_add(1);
  pool_->queue(std::move(job));
}

void PooledFileStream::close() {
  if (!pool_) return;
  if (filled_ > 0) {
    queue_current(/*last=*/true);
  } else {
    if (buffer_) pool_->release_buffer(std::move(buffer_));
    file_->size = offset_;
  }
  file_->closed = true;
  FileWritePool* pool = std::exchange(pool_, nullptr);
  std::shared_ptr<File> file = std::move(file_);
  if (file->references.fetch_sub(1) == 1) pool->finish_file(*file);
}

// --- FileWritePool -----------------------------------------------------------

FileWritePool::FileWritePool(FileWritePoolOptions options) : options_(options) {
  if (options_.buffer_size == 0 || options_.buffer_size % kDirectIoAlignment != 0 ||
      options_.buffer_count == 0 || options_.writer_threads == 0) {
    throw Error(ErrorKind::kInternal, "invalid file write pool options");
  }
  for (std::size_t i = 0; i < options_.buffer_count; ++i) {
    free_buffers_.push_back(std::make_unique<AlignedBuffer>(options_.buffer_size));
  }
  for (unsigned i = 0; i < options_.writer_threads; ++i) {
    writers_.emplace_back([this] { writer_loop(); });
  }
}

FileWritePool::~FileWritePool() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  job_queued_.notify_all();
  for (auto& writer : writers_) writer.join();
}

PooledFileStream FileWritePool::create(std::filesystem::path path, mode_t mode) {
  throw_if_failed();
  auto file = std::make_shared<PooledFileStream::File>();
  file->path = std::move(path);
  file->mode = mode;
  {
    std::lock_guard lock(mutex_);
    ++files_open_;
  }
  PooledFileStream stream;
  stream.pool_ = this;
  stream.file_ = std::move(file);
  return stream;
}

void FileWritePool::open_file(PooledFileStream::File& file) {
  // O_EXCL: never an existing file, never through a symlink.
  constexpr int kFlags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
  int fd;
  do {
    fd = ::open(file.path.c_str(), kFlags, file.mode);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) throw_io_error("create file", file.path, errno);
  file.fd = UniqueFd(fd);
  if (::fchmod(fd, file.mode) != 0) throw_io_error("set permissions on file", file.path, errno);
  // Refused: the filesystem has no direct I/O; write through the page cache.
  if (options_.direct_io) file.direct = set_direct_io(fd, true, file.path);
  std::lock_guard lock(mutex_);
  ++(file.direct ? direct_files_ : buffered_files_);
}

void FileWritePool::ensure_open(PooledFileStream::File& file) {
  std::lock_guard lock(file.open_mutex);
  if (!file.open_tried) {
    file.open_tried = true;
    try {
      open_file(file);
    } catch (...) {
      file.open_error = std::current_exception();
    }
  }
  // Every later write of the file fails with the creation's own error.
  if (file.open_error) std::rethrow_exception(file.open_error);
}

std::unique_ptr<AlignedBuffer> FileWritePool::acquire_buffer() {
  std::unique_lock lock(mutex_);
  buffer_freed_.wait(lock, [this] { return !free_buffers_.empty() || error_; });
  if (error_) std::rethrow_exception(error_);
  auto buffer = std::move(free_buffers_.back());
  free_buffers_.pop_back();
  return buffer;
}

void FileWritePool::release_buffer(std::unique_ptr<AlignedBuffer> buffer) {
  {
    std::lock_guard lock(mutex_);
    free_buffers_.push_back(std::move(buffer));
  }
  buffer_freed_.notify_one();
}

void FileWritePool::queue(Job job) {
  {
    std::lock_guard lock(mutex_);
    jobs_.push_back(std::move(job));
  }
  job_queued_.notify_one();
}

void FileWritePool::writer_loop() {
  for (;;) {
    Job job;
    bool skip = false;
    {
      std::unique_lock lock(mutex_);
      job_queued_.wait(lock, [this] { return !jobs_.empty() || stopping_; });
      if (jobs_.empty()) return;
      job = std::move(jobs_.front());
      jobs_.pop_front();
      ++jobs_running_;
      skip = error_ != nullptr;  // after a failure, only release what is queued
    }
    if (!skip) {
      try {
        write_job(job);
      } catch (...) {
        record_error(std::current_exception());
      }
    }
    auto file = std::move(job.file);
    release_buffer(std::move(job.buffer));
    if (file->references.fetch_sub(1) == 1) finish_file(*file);
    {
      std::lock_guard lock(mutex_);
      --jobs_running_;
    }
    all_done_.notify_all();
  }
}

void FileWritePool::write_job(Job& job) {
  PooledFileStream::File& file = *job.file;
  ensure_open(file);
  const std::byte* data = job.buffer->data();
  std::size_t done = 0;
  while (done < job.length) {
    ssize_t n = ::pwrite(file.fd.get(), data + done, job.length - done,
                         static_cast<off_t>(job.offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EINVAL && file.direct.load()) {
      // The filesystem took O_DIRECT at open but refuses this write (a
      // larger alignment than ours): finish the file through the page cache.
      set_direct_io(file.fd.get(), false, file.path);
      file.direct = false;
      continue;
    }
    if (n < 0) throw_io_error("write to file", file.path, errno);
    if (n == 0) throw_io_error("write to file", file.path, ENOSPC);
    done += static_cast<std::size_t>(n);
  }
  std::lock_guard lock(mutex_);
  bytes_written_ += job.length;
}

void FileWritePool::finish_file(PooledFileStream::File& file) {
  try {
    // An empty file has had no write to open it.
    if (file.closed) ensure_open(file);
    const bool padded = options_.direct_io && file.size % kDirectIoAlignment != 0;
    if (file.closed && padded && ::ftruncate(file.fd.get(), static_cast<off_t>(file.size)) != 0) {
      throw_io_error("truncate file", file.path, errno);
    }
    if (file.fd) file.fd.close(file.path);
  } catch (...) {
    record_error(std::current_exception());
  }
  {
    std::lock_guard lock(mutex_);
    --files_open_;
  }
  all_done_.notify_all();
}

void FileWritePool::record_error(std::exception_ptr error) {
  {
    std::lock_guard lock(mutex_);
    if (!error_) error_ = std::move(error);
  }
  buffer_freed_.notify_all();
}

void FileWritePool::throw_if_failed() {
  std::lock_guard lock(mutex_);
  if (error_) std::rethrow_exception(error_);
}

void FileWritePool::finish() {
  std::unique_lock lock(mutex_);
  all_done_.wait(lock, [this] { return jobs_.empty() && jobs_running_ == 0 && files_open_ == 0; });
  if (error_) std::rethrow_exception(error_);
}

std::uint64_t FileWritePool::bytes_written() const {
  std::lock_guard lock(mutex_);
  return bytes_written_;
}

std::uint64_t FileWritePool::direct_files() const {
  std::lock_guard lock(mutex_);
  return direct_files_;
}

std::uint64_t FileWritePool::buffered_files() const {
  std::lock_guard lock(mutex_);
  return buffered_files_;
}

}  // namespace walstream::storage
