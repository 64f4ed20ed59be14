#include "storage/s3_wal_restore.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <optional>

#include "protocol/error.h"
#include "protocol/lsn.h"
#include "protocol/wal_file_names.h"
#include "storage/file_util.h"
#include "storage/zstd_decoder.h"

namespace walstream::storage {
namespace {

namespace fs = std::filesystem;

// The temporary file that becomes `destination` once complete.
class TemporaryFile {
 public:
  explicit TemporaryFile(const fs::path& destination) : destination_(destination) {
    path_ = destination;
    path_ += kRestoreTemporarySuffix;
    const int fd =
        ::open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) throw_io_error("open file", path_, errno);
    fd_ = UniqueFd(fd);
  }
  ~TemporaryFile() {
    if (!committed_) ::unlink(path_.c_str());
  }
  TemporaryFile(const TemporaryFile&) = delete;
  TemporaryFile& operator=(const TemporaryFile&) = delete;

  void write(ByteView data) {
    write_all(fd_.get(), data, path_);
    size_ += data.size();
  }
  std::uint64_t size() const { return size_; }
  // Starts over (a second form of the file is tried).
  void truncate() {
    if (::ftruncate(fd_.get(), 0) != 0 || ::lseek(fd_.get(), 0, SEEK_SET) != 0) {
      throw_io_error("truncate file", path_, errno);
    }
    size_ = 0;
  }
  void commit() {
    fd_.close(path_);
    if (::rename(path_.c_str(), destination_.c_str()) != 0) {
      throw_io_error("rename file \"" + path_.string() + "\" to", destination_, errno);
    }
    committed_ = true;
  }

 private:
  fs::path destination_;
  fs::path path_;
  UniqueFd fd_;
  std::uint64_t size_ = 0;
  bool committed_ = false;
};

}  // namespace

RestoreOutcome restore_wal_file_from_s3(S3Client& client, const protocol::S3Location& location,
                                        const std::string& file_name, const fs::path& destination) {
  const auto requested = protocol::parse_wal_file_name(file_name, protocol::kAnySegmentSize);
  const bool is_segment = requested && requested->kind == protocol::WalFileKind::kSegment;
  const std::string compressed_key = location.prefix + protocol::compressed_file_name(file_name);
  const std::string plain_key = location.prefix + file_name;
  const std::string where = "s3://" + location.bucket + "/";

  TemporaryFile output(destination);
  // walstream's S3 archive holds compressed segments; a plain object is
  // served too (uploaded by hand, or a history file).
  ZstdDecoder decoder("object \"" + where + compressed_key + "\"", ErrorKind::kIo);
  const auto found_compressed =
      client.get_object(location.bucket, compressed_key, [&](ByteView piece) {
        decoder.feed(piece, [&](ByteView plain) {
          output.write(plain);
          return true;
        });
      });
  std::string served = compressed_key;
  if (found_compressed) {
    decoder.finish();
  } else {
    output.truncate();
    const auto found_plain =
        client.get_object(location.bucket, plain_key, [&](ByteView piece) { output.write(piece); });
    if (!found_plain) return RestoreOutcome::kNotFound;
    served = plain_key;
  }
  if (is_segment && !protocol::is_valid_wal_segment_size(output.size())) {
    throw Error(ErrorKind::kIo,
                "object \"" + where + served + "\" holds " + std::to_string(output.size()) +
                    " bytes, not a WAL segment size",
                "the archive is damaged or holds something else under this name");
  }
  output.commit();
  return RestoreOutcome::kRestored;
}

}  // namespace walstream::storage
