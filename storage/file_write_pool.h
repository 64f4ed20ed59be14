// Writes the contents of many files on background threads, so the thread that
// receives a base backup never waits for the disk and the disk is busy from
// the first file on.
//
// The receiving thread appends each file's bytes into pooled buffers (one copy,
// into memory aligned for direct I/O); full buffers go through a queue to
// writer threads, which pwrite them at their offsets, in any order. With
// direct I/O (O_DIRECT) the data bypasses the page cache: on the machines we
// measured, write-back of a page-cache copy ran at a quarter of the disk's
// direct-write rate, and a final sync then waited for all of it
// (docs/PERFORMANCE.md). A file's last block is written padded to the I/O
// alignment and the file truncated to its real size after its last write.
// Filesystems without O_DIRECT (tmpfs) get ordinary writes, same threads.
//
// Durability is not this class's job: direct writes are on the device, but
// the files' metadata and the device cache still need the caller's syncfs.
// Memory is bounded: buffer_count buffers of buffer_size bytes, no more.
#pragma once

#include <sys/types.h>

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <exception>
#include <filesystem>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "protocol/bytes.h"
#include "storage/aligned_buffer.h"
#include "storage/file_util.h"

namespace walstream::storage {

struct FileWritePoolOptions {
  std::size_t buffer_size = std::size_t{1} << 20;  // a multiple of kDirectIoAlignment
  std::size_t buffer_count = 16;
  unsigned writer_threads = 2;
  bool direct_io = true;
};

class FileWritePool;

// One file being written through the pool, appended to in order by one
// thread. Destroying it without close() abandons the file (it is closed
// after its queued writes, and its size may be short).
class PooledFileStream {
 public:
  PooledFileStream() = default;
  PooledFileStream(PooledFileStream&&) noexcept;
  PooledFileStream& operator=(PooledFileStream&&) noexcept;
  PooledFileStream(const PooledFileStream&) = delete;
  PooledFileStream& operator=(const PooledFileStream&) = delete;
  ~PooledFileStream();

  explicit operator bool() const { return pool_ != nullptr; }
  // Copies `data` into the current buffer, queueing each full one. Waits
  // while every buffer is queued; throws the first writer error.
  void append(ByteView data);
  // Queues what is left; the file gets its final size and is closed after
  // its last write.
  void close();

 private:
  friend class FileWritePool;
  struct File;
  void queue_current(bool last);

  FileWritePool* pool_ = nullptr;
  std::shared_ptr<File> file_;
  std::unique_ptr<AlignedBuffer> buffer_;
  std::size_t filled_ = 0;
  std::uint64_t offset_ = 0;
};

class FileWritePool {
 public:
  explicit FileWritePool(FileWritePoolOptions options);
  // Stops the writers after the queued writes; errors are dropped (call
  // finish() to see them).
  ~FileWritePool();
  FileWritePool(const FileWritePool&) = delete;
  FileWritePool& operator=(const FileWritePool&) = delete;

  // A new file at `path`, created with exactly `mode` on a writer thread
  // (O_EXCL, O_NOFOLLOW: never an existing file or a symlink); its directory
  // must exist. Creation errors surface like write errors.
  PooledFileStream create(std::filesystem::path path, mode_t mode);
  // Waits until every queued write is done and every closed file closed;
  // throws the first error any writer met.
  void finish();

  std::uint64_t bytes_written() const;
  // Files that were written with direct I/O, and without (their filesystem
  // refused O_DIRECT).
  std::uint64_t direct_files() const;
  std::uint64_t buffered_files() const;

 private:
  friend class PooledFileStream;
  struct Job;

  std::unique_ptr<AlignedBuffer> acquire_buffer();
  void release_buffer(std::unique_ptr<AlignedBuffer> buffer);
  void queue(Job job);
  void writer_loop();
  void write_job(Job& job);
  void open_file(PooledFileStream::File& file);
  void ensure_open(PooledFileStream::File& file);
  void record_error(std::exception_ptr error);
  void throw_if_failed();
  // A file's last reference is gone: give it its size and close it.
  void finish_file(PooledFileStream::File& file);

  FileWritePoolOptions options_;
  mutable std::mutex mutex_;
  std::condition_variable buffer_freed_;
  std::condition_variable job_queued_;
  std::condition_variable all_done_;
  std::vector<std::unique_ptr<AlignedBuffer>> free_buffers_;
  std::deque<Job> jobs_;
  std::size_t jobs_running_ = 0;
  std::size_t files_open_ = 0;
  bool stopping_ = false;
  std::exception_ptr error_;
  std::uint64_t bytes_written_ = 0;
  std::uint64_t direct_files_ = 0;
  std::uint64_t buffered_files_ = 0;
  std::vector<std::thread> writers_;
};

}  // namespace walstream::storage
