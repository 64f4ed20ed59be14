#include "storage/wal_archive_source.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>

#include "protocol/error.h"
#include "storage/file_util.h"
#include "storage/zstd_file.h"

namespace walstream::storage {
namespace {

namespace fs = std::filesystem;

constexpr std::size_t kReadChunk = 1 << 20;

}  // namespace

DirectoryWalSource::DirectoryWalSource(fs::path directory) : directory_(std::move(directory)) {
  std::error_code ec;
  if (!fs::is_directory(directory_, ec)) {
    throw Error(ErrorKind::kIo,
                "could not open WAL archive \"" + directory_.string() + "\": not a directory");
  }
}

std::vector<std::string> DirectoryWalSource::list_names() {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(directory_)) {
    if (entry.is_regular_file(ec)) names.push_back(entry.path().filename().string());
  }
  return names;
}

ArchiveContents DirectoryWalSource::scan(std::uint64_t segment_size) {
  return scan_archive(directory_, segment_size);
}

std::size_t DirectoryWalSource::read_prefix(const std::string& name, bool compressed,
                                            MutableByteView out) {
  const fs::path path = directory_ / name;
  return compressed ? decompress_prefix(path, out) : storage::read_prefix(path, out);
}

std::string DirectoryWalSource::read_small_file(const std::string& name, std::uint64_t max_size) {
  return read_whole_file(directory_ / name, max_size);
}

void DirectoryWalSource::read_content(const std::string& name, bool compressed,
                                      std::uint64_t offset, const ZstdOutput& out) {
  const fs::path path = directory_ / name;
  if (compressed) {
    decompress_zstd_file(path, [&](ByteView produced) {
      const std::size_t skipped =
          static_cast<std::size_t>(std::min<std::uint64_t>(offset, produced.size()));
      offset -= skipped;
      return out(produced.subspan(skipped));
    });
    return;
  }
  UniqueFd fd = open_for_reading(path);
  std::vector<std::byte> buffer(kReadChunk);
  for (;;) {
    const ssize_t n = ::pread(fd.get(), buffer.data(), buffer.size(), static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_io_error("read file", path, errno);
    }
    if (n == 0) return;
    if (!out(ByteView(buffer.data(), static_cast<std::size_t>(n)))) return;
    offset += static_cast<std::uint64_t>(n);
  }
}

}  // namespace walstream::storage
