#include "storage/zstd_archiver.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include <algorithm>
#include <cerrno>
#include <memory>
#include <utility>
#include <vector>

#include "protocol/error.h"
#include "protocol/wal_file_names.h"
#include "storage/file_util.h"

namespace walstream::storage {

namespace {

namespace fs = std::filesystem;

struct CCtxDeleter {
  void operator()(ZSTD_CCtx* ctx) const { ZSTD_freeCCtx(ctx); }
};
using CCtxPtr = std::unique_ptr<ZSTD_CCtx, CCtxDeleter>;

UniqueFd open_or_throw(const fs::path& path, int flags, mode_t mode = 0) {
  for (;;) {
    int fd = ::open(path.c_str(), flags | O_CLOEXEC, mode);
    if (fd >= 0) return UniqueFd(fd);
    if (errno != EINTR) throw_io_error("open file", path, errno);
  }
}

std::size_t read_some(int fd, std::vector<std::byte>& buffer, const fs::path& path) {
  for (;;) {
    ssize_t n = ::read(fd, buffer.data(), buffer.size());
    if (n >= 0) return static_cast<std::size_t>(n);
    if (errno != EINTR) throw_io_error("read file", path, errno);
  }
}

void unlink_quietly(const fs::path& path) { ::unlink(path.c_str()); }

[[noreturn]] void throw_zstd_error(std::string_view operation, const fs::path& path,
                                   std::size_t code) {
  throw Error(ErrorKind::kIo, "could not " + std::string(operation) + " file \"" + path.string() +
                                  "\": " + ZSTD_getErrorName(code));
}

std::size_t check_compress(std::size_t rc, const fs::path& path) {
  if (ZSTD_isError(rc)) throw_zstd_error("compress", path, rc);
  return rc;
}

}  // namespace

void compress_segment_file(const fs::path& dir, const std::string& name, int level) {
  const fs::path source = dir / name;
  const fs::path target = dir / protocol::compressed_file_name(name);
  const fs::path tmp = dir / protocol::compression_temporary_file_name(name);

  UniqueFd in = open_or_throw(source, O_RDONLY);
  struct stat st {};
  if (::fstat(in.get(), &st) != 0) throw_io_error("stat file", source, errno);
  const mode_t mode = st.st_mode & 07777;
  const auto size = static_cast<std::uint64_t>(st.st_size);

  // A leftover from a crash may be read-only; start afresh.
  unlink_quietly(tmp);
  UniqueFd out = open_or_throw(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, mode);
  bool renamed = false;
  try {
    if (::fchmod(out.get(), mode) != 0) throw_io_error("set permissions on file", tmp, errno);

    CCtxPtr cctx(ZSTD_createCCtx());
    if (!cctx) throw Error(ErrorKind::kInternal, "out of memory creating a zstd context");
    check_compress(ZSTD_CCtx_setParameter(cctx.get(), ZSTD_c_compressionLevel, level), source);
    check_compress(ZSTD_CCtx_setParameter(cctx.get(), ZSTD_c_checksumFlag, 1), source);
    // Recorded in the frame header: the archive scan checks it without
    // decompressing, and a file that changes size underneath fails here.
    check_compress(ZSTD_CCtx_setPledgedSrcSize(cctx.get(), size), source);

    std::vector<std::byte> in_buffer(ZSTD_CStreamInSize());
    std::vector<std::byte> out_buffer(ZSTD_CStreamOutSize());
    for (;;) {
      const std::size_t n = read_some(in.get(), in_buffer, source);
      const bool last = n == 0;
      ZSTD_inBuffer input{in_buffer.data(), n, 0};
      for (;;) {
        ZSTD_outBuffer output{out_buffer.data(), out_buffer.size(), 0};
        const std::size_t remaining = check_compress(
            ZSTD_compressStream2(cctx.get(), &output, &input, last ? ZSTD_e_end : ZSTD_e_continue),
            source);
        write_all(out.get(), ByteView(out_buffer).first(output.pos), tmp);
        if (last ? remaining == 0 : input.pos == input.size) break;
      }
      if (last) break;
    }
    in.close(source);

    if (::fsync(out.get()) != 0) throw_io_error("fsync file", tmp, errno);
    out.close(tmp);
    if (::rename(tmp.c_str(), target.c_str()) != 0) {
      throw_io_error("rename file \"" + tmp.string() + "\" to", target, errno);
    }
    renamed = true;
  } catch (...) {
    if (!renamed) unlink_quietly(tmp);
    throw;
  }
  // NAME.zst must be durable before NAME goes: a crash leaves both, never neither.
  fsync_directory(dir);
  if (::unlink(source.c_str()) != 0) throw_io_error("remove file", source, errno);
  fsync_directory(dir);
}

ZstdArchiver::ZstdArchiver(fs::path dir, int level,
                           std::function<void(std::exception_ptr)> on_failure,
                           std::function<void(const std::string&)> on_compressed)
    : dir_(std::move(dir)),
      level_(level),
      on_failure_(std::move(on_failure)),
      on_compressed_(std::move(on_compressed)) {
  // Started last, once every member it reads is initialised.
  thread_ = std::thread([this] { run(); });
}

ZstdArchiver::~ZstdArchiver() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

void ZstdArchiver::enqueue(std::string segment_name) {
  {
    std::lock_guard lock(mutex_);
    queue_.push_back(std::move(segment_name));
  }
  wake_.notify_one();
}

void ZstdArchiver::drain() {
  std::unique_lock lock(mutex_);
  idle_.wait(lock, [this] { return queue_.empty() && !busy_; });
  if (failure_) std::rethrow_exception(failure_);
}

void ZstdArchiver::run() {
  std::unique_lock lock(mutex_);
  for (;;) {
    wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stopping, and the queue is done
    std::string name = std::move(queue_.front());
    queue_.pop_front();
    // After a failure the rest is left uncompressed: complete segments are
    // still valid, and the next run (or an operator) can compress them.
    const bool failed = failure_ != nullptr;
    busy_ = true;
    lock.unlock();
    if (!failed) {
      try {
        compress_segment_file(dir_, name, level_);
        if (on_compressed_) on_compressed_(name);
      } catch (...) {
        std::exception_ptr error = std::current_exception();
        {
          std::lock_guard guard(mutex_);
          failure_ = error;
        }
        if (on_failure_) {
          try {
            on_failure_(error);
          } catch (...) {
            // Recorded for drain() already.
          }
        }
      }
    }
    lock.lock();
    busy_ = false;
    if (queue_.empty()) idle_.notify_all();
  }
}

}  // namespace walstream::storage
