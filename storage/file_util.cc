#include "storage/file_util.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "protocol/error.h"

namespace walstream::storage {

namespace {

// strerror_r comes in two flavours (GNU returns a pointer, XSI an int);
// overloads pick the right reading without #ifdefs.
[[maybe_unused]] const char* strerror_result(const char* result, const char*) { return result; }
[[maybe_unused]] const char* strerror_result(int result, const char* buffer) {
  return result == 0 ? buffer : "unknown error";
}

std::string error_text(int error_number) {
  char buffer[256] = {};
  return strerror_result(strerror_r(error_number, buffer, sizeof buffer), buffer);
}

int open_or_throw(const std::filesystem::path& path, int flags, mode_t mode,
                  std::string_view operation) {
  for (;;) {
    int fd = ::open(path.c_str(), flags, mode);
    if (fd >= 0) return fd;
    if (errno != EINTR) throw_io_error(operation, path, errno);
  }
}

void fchmod_or_throw(int fd, mode_t mode, const std::filesystem::path& path) {
  if (::fchmod(fd, mode) != 0) throw_io_error("set permissions on file", path, errno);
}

// Opens `path` for writing, creating it with exactly `mode` (fchmod, so the
// umask does not matter) if it does not exist yet. Never through a symbolic
// link: in a target, a link is something a server's archive may have planted.
UniqueFd open_for_write(const std::filesystem::path& path, int extra_flags, mode_t mode) {
  for (;;) {
    int fd = ::open(path.c_str(),
                    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | extra_flags, mode);
    if (fd >= 0) {
      UniqueFd file(fd);
      fchmod_or_throw(file.get(), mode, path);
      return file;
    }
    if (errno == EINTR) continue;
    if (errno != EEXIST) throw_io_error("open file", path, errno);
    fd = ::open(path.c_str(), O_WRONLY | O_NOFOLLOW | O_CLOEXEC | extra_flags);
    if (fd >= 0) return UniqueFd(fd);
    if (errno == ELOOP) {
      throw Error(ErrorKind::kIo, "\"" + path.string() + "\" is a symbolic link",
                  "walstream writes only regular files it owns there; remove the link");
    }
    // Removed between the two opens: try creating it again.
    if (errno != ENOENT && errno != EINTR) throw_io_error("open file", path, errno);
  }
}

[[noreturn]] void throw_too_large(const std::filesystem::path& path, std::uint64_t max_size) {
  throw Error(ErrorKind::kIo,
              "file \"" + path.string() + "\" is too large: more than " + std::to_string(max_size) +
                  " bytes",
              "check that the path names the intended file");
}

}  // namespace

void throw_io_error(std::string_view operation, const std::filesystem::path& path,
                    int error_number) {
  std::string message = "could not ";
  message += operation;
  message += " \"";
  message += path.string();
  message += "\": ";
  message += error_text(error_number);
  throw Error(ErrorKind::kIo, std::move(message));
}

UniqueFd& UniqueFd::operator=(UniqueFd&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = other.release();
  }
  return *this;
}

UniqueFd::~UniqueFd() {
  if (fd_ >= 0) ::close(fd_);
}

void UniqueFd::close(const std::filesystem::path& path_for_errors) {
  if (fd_ < 0) return;
  // On Linux the descriptor is gone even when close fails (EINTR included),
  // so never retry; the error still means written data may be lost.
  if (::close(release()) != 0) throw_io_error("close file", path_for_errors, errno);
}

UniqueFd open_for_reading(const std::filesystem::path& path) {
  return UniqueFd(open_or_throw(path, O_RDONLY | O_CLOEXEC, 0, "open file"));
}

std::size_t read_up_to(int fd, MutableByteView buffer,
                       const std::filesystem::path& path_for_errors) {
  for (;;) {
    const ssize_t n = ::read(fd, buffer.data(), buffer.size());
    if (n >= 0) return static_cast<std::size_t>(n);
    if (errno != EINTR) throw_io_error("read file", path_for_errors, errno);
  }
}

std::size_t read_prefix(const std::filesystem::path& path, MutableByteView buffer) {
  UniqueFd fd = open_for_reading(path);
  std::size_t have = 0;
  while (have < buffer.size()) {
    const std::size_t n = read_up_to(fd.get(), buffer.subspan(have), path);
    if (n == 0) break;
    have += n;
  }
  return have;
}

std::string read_whole_file(const std::filesystem::path& path, std::uint64_t max_size) {
  UniqueFd fd = open_for_reading(path);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) throw_io_error("stat file", path, errno);
  std::string content;
  if (S_ISREG(st.st_mode)) {
    if (static_cast<std::uint64_t>(st.st_size) > max_size) throw_too_large(path, max_size);
    content.reserve(static_cast<std::size_t>(st.st_size));
  }
  std::byte buffer[65536];
  for (;;) {
    const std::size_t n = read_up_to(fd.get(), buffer, path);
    if (n == 0) break;
    // Counted as read too: the file may grow meanwhile, or have no size
    // (a pipe).
    if (content.size() + n > max_size) throw_too_large(path, max_size);
    content.append(reinterpret_cast<const char*>(buffer), n);
  }
  return content;
}

void pwrite_all(int fd, ByteView data, off_t offset, const std::filesystem::path& path_for_errors) {
  while (!data.empty()) {
    ssize_t n = ::pwrite(fd, data.data(), data.size(), offset);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_io_error("write to file", path_for_errors, errno);
    }
    // A zero-byte write of a non-empty buffer only happens when the device is full.
    if (n == 0) throw_io_error("write to file", path_for_errors, ENOSPC);
    data = data.subspan(static_cast<std::size_t>(n));
    offset += n;
  }
}

void write_all(int fd, ByteView data, const std::filesystem::path& path_for_errors) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_io_error("write to file", path_for_errors, errno);
    }
    if (n == 0) throw_io_error("write to file", path_for_errors, ENOSPC);
    data = data.subspan(static_cast<std::size_t>(n));
  }
}

void fsync_file(const std::filesystem::path& path) {
  UniqueFd fd(open_or_throw(path, O_RDONLY | O_CLOEXEC, 0, "open file"));
  if (::fsync(fd.get()) != 0) throw_io_error("fsync file", path, errno);
  fd.close(path);
}

void fsync_directory(const std::filesystem::path& dir) {
  UniqueFd fd(open_or_throw(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0, "open directory"));
  // Some filesystems cannot fsync a directory (EINVAL); there is nothing to
  // make durable then.
  if (::fsync(fd.get()) != 0 && errno != EINVAL) throw_io_error("fsync directory", dir, errno);
  fd.close(dir);
}

void durable_rename(const std::filesystem::path& from, const std::filesystem::path& to) {
  fsync_file(from);
  if (::rename(from.c_str(), to.c_str()) != 0) {
    throw_io_error("rename file \"" + from.string() + "\" to", to, errno);
  }
  std::filesystem::path parent = to.parent_path();
  fsync_directory(parent.empty() ? std::filesystem::path(".") : parent);
}

bool set_direct_io(int fd, bool on, const std::filesystem::path& path_for_errors) {
  const int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0) throw_io_error("get flags of file", path_for_errors, errno);
  if (::fcntl(fd, F_SETFL, on ? flags | O_DIRECT : flags & ~O_DIRECT) == 0) return true;
  if (on && errno == EINVAL) return false;
  throw_io_error(on ? "set O_DIRECT on file" : "clear O_DIRECT on file", path_for_errors, errno);
}

void sync_filesystem(const std::filesystem::path& path) {
  UniqueFd fd(open_or_throw(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0, "open directory"));
  if (::syncfs(fd.get()) != 0) throw_io_error("synchronize file system for", path, errno);
  fd.close(path);
}

bool is_missing_or_empty_directory(const std::filesystem::path& dir) {
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) {
    if (errno == ENOENT) return true;
    throw_io_error("stat", dir, errno);
  }
  if (!S_ISDIR(st.st_mode)) return false;

  DIR* stream = ::opendir(dir.c_str());
  if (stream == nullptr) throw_io_error("open directory", dir, errno);
  bool empty = true;
  errno = 0;
  while (const dirent* entry = ::readdir(stream)) {
    if (std::strcmp(entry->d_name, ".") != 0 && std::strcmp(entry->d_name, "..") != 0) {
      empty = false;
      break;
    }
  }
  int read_error = errno;
  ::closedir(stream);
  if (empty && read_error != 0) throw_io_error("read directory", dir, read_error);
  return empty;
}

void write_file(const std::filesystem::path& path, std::string_view contents, mode_t mode) {
  UniqueFd fd = open_for_write(path, O_TRUNC, mode);
  write_all(fd.get(), as_bytes(contents), path);
  fd.close(path);
}

void append_file(const std::filesystem::path& path, std::string_view contents, mode_t mode) {
  UniqueFd fd = open_for_write(path, O_APPEND, mode);
  write_all(fd.get(), as_bytes(contents), path);
  fd.close(path);
}

}  // namespace walstream::storage
