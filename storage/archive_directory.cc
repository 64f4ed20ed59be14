#include "storage/archive_directory.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <system_error>

#include "protocol/error.h"
#include "protocol/wal_file_names.h"
#include "storage/file_util.h"

namespace walstream::storage {

namespace fs = std::filesystem;

void ensure_archive_directory(const fs::path& dir) {
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    throw_io_error("create directory", dir, errno);
  }
  if (::access(dir.c_str(), W_OK | X_OK) != 0) {
    throw Error(ErrorKind::kIo,
                "could not write to directory \"" + dir.string() + "\": " + std::strerror(errno),
                "make the archive directory writable for the user running walstream");
  }
}

int remove_interrupted_compressions(const fs::path& dir) {
  int removed = 0;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const auto parsed =
        protocol::parse_wal_file_name(it->path().filename().string(), protocol::kAnySegmentSize);
    if (!parsed || parsed->kind != protocol::WalFileKind::kCompressionTemporary) continue;
    std::error_code remove_ec;
    fs::remove(it->path(), remove_ec);
    if (remove_ec) throw_io_error("remove file", it->path(), remove_ec.value());
    ++removed;
  }
  if (ec) throw_io_error("read directory", dir, ec.value());
  return removed;
}

}  // namespace walstream::storage
