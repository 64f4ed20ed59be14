// Small POSIX helpers with the durability steps spelled out. Every failure
// throws walstream::Error (kIo) whose message names the operation, the path
// and strerror, in PostgreSQL's form: could not fsync file "x": No space left.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "protocol/bytes.h"

namespace walstream::storage {

[[noreturn]] void throw_io_error(std::string_view operation, const std::filesystem::path& path,
                                 int error_number);

// An owned file descriptor; closes on destruction (errors ignored there, so
// call close() explicitly where a close error matters).
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept;
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd();

  int get() const { return fd_; }
  explicit operator bool() const { return fd_ >= 0; }
  int release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }
  void close(const std::filesystem::path& path_for_errors);

 private:
  int fd_ = -1;
};

// Opens `path` read-only.
UniqueFd open_for_reading(const std::filesystem::path& path);
// One read(2) of up to buffer.size() bytes (retrying EINTR); 0 at the end of
// the file.
std::size_t read_up_to(int fd, MutableByteView buffer,
                       const std::filesystem::path& path_for_errors);
// Reads the start of `path` into `buffer` until it is full or the file ends;
// returns the bytes read.
std::size_t read_prefix(const std::filesystem::path& path, MutableByteView buffer);
// Reads all of a small file (a manifest, a timeline history, PG_VERSION).
// Throws walstream::Error (kIo) if it holds more than `max_size` bytes, so a
// wrong path cannot exhaust memory.
std::string read_whole_file(const std::filesystem::path& path, std::uint64_t max_size);

// Writes all of `data` at `offset` (retrying short writes and EINTR).
void pwrite_all(int fd, ByteView data, off_t offset, const std::filesystem::path& path_for_errors);
// Writes all of `data` at the current position.
void write_all(int fd, ByteView data, const std::filesystem::path& path_for_errors);

// Turns O_DIRECT on or off for `fd`. Returns false if turning it on is
// refused (EINVAL: the filesystem has no direct I/O); throws otherwise.
bool set_direct_io(int fd, bool on, const std::filesystem::path& path_for_errors);

void fsync_file(const std::filesystem::path& path);
void fsync_directory(const std::filesystem::path& dir);
// fsync(from); rename(from, to); fsync(parent of to).
void durable_rename(const std::filesystem::path& from, const std::filesystem::path& to);

// Makes everything under `path` durable. Uses syncfs(2) on the filesystem that
// holds `path` (one syscall instead of one fsync per file).
void sync_filesystem(const std::filesystem::path& path);

// True if `dir` does not exist or is an empty directory.
bool is_missing_or_empty_directory(const std::filesystem::path& dir);

// Writes `contents` to `path` (created with `mode`, truncated if it exists).
// Neither follows a symbolic link at `path`: that is an error.
void write_file(const std::filesystem::path& path, std::string_view contents, mode_t mode);
// Appends `contents` to `path`, creating it with `mode` if missing.
void append_file(const std::filesystem::path& path, std::string_view contents, mode_t mode);

}  // namespace walstream::storage
