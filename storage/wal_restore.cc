#include "storage/wal_restore.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <optional>
#include <vector>

#include "protocol/error.h"
#include "protocol/quote_untrusted.h"
#include "protocol/s3_location.h"
#include "protocol/wal_file_names.h"
#include "storage/file_util.h"
#include "storage/s3_wal_restore.h"
#include "storage/zstd_file.h"

namespace walstream::storage {

namespace {

namespace fs = std::filesystem;

constexpr std::size_t kCopyChunk = 1024 * 1024;

// True if `path` exists as a regular file (following symlinks).
bool is_file(const fs::path& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) return S_ISREG(st.st_mode);
  if (errno == ENOENT || errno == ENOTDIR) return false;
  throw_io_error("stat file", path, errno);
}

void copy_contents(const fs::path& source, const fs::path& destination) {
  int raw_in = ::open(source.c_str(), O_RDONLY | O_CLOEXEC);
  if (raw_in < 0) throw_io_error("open file", source, errno);
  UniqueFd in(raw_in);
  int raw_out =
      ::open(destination.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (raw_out < 0) throw_io_error("open file", destination, errno);
  UniqueFd out(raw_out);

  // copy_file_range keeps the data in the kernel (and may reflink); where it
  // is not supported, fall back to read/write.
  bool kernel_copy = true;
  std::vector<std::byte> buffer;
  for (;;) {
    if (kernel_copy) {
      ssize_t n = ::copy_file_range(in.get(), nullptr, out.get(), nullptr, kCopyChunk, 0);
      if (n > 0) continue;
      if (n == 0) break;
      if (errno == EINTR) continue;
      if (errno != EXDEV && errno != ENOSYS && errno != EOPNOTSUPP && errno != EINVAL &&
          errno != EPERM) {
        throw_io_error("copy file \"" + source.string() + "\" to", destination, errno);
      }
      kernel_copy = false;
      buffer.resize(kCopyChunk);
    }
    ssize_t n = ::read(in.get(), buffer.data(), buffer.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_io_error("read file", source, errno);
    }
    if (n == 0) break;
    write_all(out.get(), ByteView(buffer).first(static_cast<std::size_t>(n)), destination);
  }
  out.close(destination);
}

}  // namespace

RestoreOutcome restore_wal_file(const fs::path& archive, const std::string& file_name,
                                const fs::path& destination) {
  // The server asks for segments and timeline histories only; anything else
  // (a path, %p instead of %f) is a mistake in restore_command.
  const auto requested = protocol::parse_wal_file_name(file_name, protocol::kAnySegmentSize);
  if (!requested || (requested->kind != protocol::WalFileKind::kSegment &&
                     requested->kind != protocol::WalFileKind::kHistory)) {
    throw Error(ErrorKind::kUsage, "invalid WAL file name " + protocol::quote_untrusted(file_name),
                "pass the %f placeholder of restore_command, e.g. 000000010000000000000003");
  }
  if (protocol::is_s3_url(archive.native())) {
    const protocol::S3Location location = protocol::parse_s3_location(archive.native());
    S3Client client(s3_client_options_from_environment(), resolve_s3_credentials());
    return restore_wal_file_from_s3(client, location, file_name, destination);
  }
  const fs::path plain = archive / file_name;
  const fs::path compressed = archive / protocol::compressed_file_name(file_name);
  // Written under a temporary name and renamed: the server must never see a
  // partially restored file under the name it asked for.
  fs::path temporary = destination;
  temporary += kRestoreTemporarySuffix;

  try {
    if (is_file(plain)) {
      copy_contents(plain, temporary);
    } else if (is_file(compressed)) {
      std::optional<std::uint64_t> expected;
      if (requested->kind == protocol::WalFileKind::kSegment) {
        // A segment's size is known to the frame (walstream records it).
        expected = zstd_content_size(compressed);
        if (!expected) {
          throw Error(ErrorKind::kIo, "compressed WAL segment \"" + compressed.string() +
                                          "\" does not record its size");
        }
      }
      decompress_file(compressed, temporary, expected);
    } else {
      return RestoreOutcome::kNotFound;
    }
    if (::rename(temporary.c_str(), destination.c_str()) != 0) {
      throw_io_error("rename file \"" + temporary.string() + "\" to", destination, errno);
    }
  } catch (...) {
    ::unlink(temporary.c_str());
    throw;
  }
  return RestoreOutcome::kRestored;
}

}  // namespace walstream::storage
