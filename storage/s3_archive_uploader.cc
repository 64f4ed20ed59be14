#include "storage/s3_archive_uploader.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <optional>
#include <utility>

#include "protocol/error.h"
#include "protocol/wal_file_names.h"
#include "storage/file_util.h"

namespace walstream::storage {

namespace {

namespace fs = std::filesystem;

bool is_history_file(const std::string& name) {
  const auto parsed = protocol::parse_wal_file_name(name, protocol::kAnySegmentSize);
  return parsed && parsed->kind == protocol::WalFileKind::kHistory;
}

std::string object_url(const protocol::S3Location& location, const std::string& key) {
  return "s3://" + location.bucket + "/" + key;
}

[[noreturn]] void throw_conflict(const protocol::S3Location& location, const std::string& key,
                                 const fs::path& path, bool unknown) {
  const std::string what =
      unknown ? "an object of the same size that cannot be compared (no SHA-256 and no "
                "single-part ETag) with the file "
              : "a different object than the file ";
  throw Error(ErrorKind::kUsage,
              "the bucket already holds " + what + path.string() + " at " +
                  object_url(location, key) + "; it is never overwritten",
              "use another prefix for each database system; if this is the same system, "
              "investigate which of the two is right before moving either");
}

}  // namespace

S3ArchiveUploader::S3ArchiveUploader(S3ArchiveUploaderOptions options,
                                     ConfirmedCallback on_confirmed, FailureCallback on_failure)
    : options_(std::move(options)),
      on_confirmed_(std::move(on_confirmed)),
      on_failure_(std::move(on_failure)) {
  if (options_.parallelism < 1) {
    throw Error(ErrorKind::kUsage, "the S3 upload parallelism must be at least 1",
                "give a number of concurrent uploads of 1 or more");
  }
  // Clients first, so that bad options throw before any thread runs.
  for (int i = 0; i < options_.parallelism; ++i) {
    clients_.push_back(std::make_unique<S3Client>(options_.client, options_.credentials));
  }
  try {
    for (auto& client : clients_) {
      threads_.emplace_back([this, &client = *client] { work(client); });
    }
  } catch (...) {
    stop();  // the threads already started must not outlive a failed constructor
    throw;
  }
}

S3ArchiveUploader::~S3ArchiveUploader() { stop(); }

void S3ArchiveUploader::enqueue(const std::string& name) {
  if (!protocol::s3_archive_key(options_.location, name)) {
    throw Error(ErrorKind::kInternal, "\"" + name + "\" is not an archive file to upload");
  }
  {
    std::lock_guard lock(mutex_);
    if (stopping_ || failed_) return;
    queue_.push_back(name);
  }
  wake_.notify_one();
}

std::size_t S3ArchiveUploader::pending() const {
  std::lock_guard lock(mutex_);
  return queue_.size() + running_;
}

std::size_t S3ArchiveUploader::peak_uploads() const {
  std::lock_guard lock(mutex_);
  return peak_running_;
}

bool S3ArchiveUploader::failed() const {
  std::lock_guard lock(mutex_);
  return failed_;
}

void S3ArchiveUploader::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  // An upload in progress would end only within the client's timeouts and
  // retries (a minute for a server that hangs): cut it short instead.
  for (auto& client : clients_) client->cancel();
  for (auto& thread : threads_) {
    if (thread.joinable()) thread.join();
  }
}

void S3ArchiveUploader::work(S3Client& client) {
  for (;;) {
    std::string name;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [&] { return stopping_ || failed_ || !queue_.empty(); });
      if (stopping_ || failed_) return;
      name = std::move(queue_.front());
      queue_.pop_front();
      ++running_;
      peak_running_ = std::max(peak_running_, running_);
    }
    std::exception_ptr failure;
    try {
      upload(client, name);
    } catch (const S3Unavailable& error) {
      if (!options_.retry_while_unavailable) {
        failure = std::current_exception();
      } else if (wait_out_outage(name, error)) {
        continue;
      } else {
        return;
      }
    } catch (...) {
      failure = std::current_exception();
    }
    bool report_failure = false;
    {
      std::lock_guard lock(mutex_);
      --running_;
      // Cut short by stop(): the file stays in the spool, nothing failed.
      if (failure && stopping_) return;
      if (failure && !failed_) {
        failed_ = true;
        report_failure = true;
      }
    }
    if (failure) {
      wake_.notify_all();
      if (report_failure) on_failure_(failure);
      return;
    }
    bool recovered = false;
    {
      std::lock_guard lock(mutex_);
      recovered = std::exchange(unavailable_, false);
      outage_wait_ = std::chrono::milliseconds{0};
    }
    if (recovered && options_.on_available) options_.on_available();
    on_confirmed_(name);
  }
}

bool S3ArchiveUploader::wait_out_outage(const std::string& name, const Error& error) {
  std::unique_lock lock(mutex_);
  --running_;
  queue_.push_front(name);
  unavailable_ = true;
  outage_wait_ = outage_wait_.count() == 0 ? options_.first_outage_wait
                                           : std::min(outage_wait_ * 2, options_.max_outage_wait);
  const std::chrono::milliseconds wait = outage_wait_;
  lock.unlock();
  if (options_.on_unavailable) options_.on_unavailable(error, wait);
  lock.lock();
  wake_.wait_for(lock, wait, [&] { return stopping_ || failed_; });
  return !stopping_ && !failed_;
}

void S3ArchiveUploader::upload(S3Client& client, const std::string& name) {
  const protocol::S3Location& location = options_.location;
  const std::string key = *protocol::s3_archive_key(location, name);
  const fs::path path = options_.spool / name;

  // O_NOFOLLOW: the spool holds our files; a symlink planted there must not
  // make us upload something else.
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd) throw_io_error("open file", path, errno);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) throw_io_error("stat file", path, errno);
  if (!S_ISREG(st.st_mode)) {
    throw Error(ErrorKind::kIo, "file \"" + path.string() + "\" is not a regular file",
                "only archive files written by walstream belong in the spool directory");
  }
  const auto size = static_cast<std::uint64_t>(st.st_size);
  const S3Checksums checksums = s3_checksums(fd.get(), 0, size, path);

  const S3PutOutcome outcome =
      client.put_object(location.bucket, key, fd.get(), 0, size, path, checksums);
  fd.close(path);

  // Read back what the bucket holds now, whether we just wrote it or found
  // the key taken.
  const auto stored = client.head_object(location.bucket, key);
  if (!stored) {
    throw Error(
        ErrorKind::kServer,
        "the object " + object_url(location, key) + " is missing right after " +
            (outcome == S3PutOutcome::kCreated ? "its upload" : "the server said it exists"),
        "check the bucket's lifecycle rules and whether another process deletes objects "
        "under this prefix");
  }
  switch (compare_s3_content(checksums, size, stored->digest())) {
    case S3ContentMatch::kSame:
      break;
    case S3ContentMatch::kDifferent:
      if (outcome == S3PutOutcome::kExists) throw_conflict(location, key, path, false);
      throw Error(ErrorKind::kServer,
                  "the object " + object_url(location, key) + " read back after its upload has " +
                      std::to_string(stored->size) + " bytes or a checksum that differs from " +
                      path.string(),
                  "check that nothing else writes under this prefix; the file stays in the "
                  "spool");
    case S3ContentMatch::kUnknown:
      // Our own PUT was checked by the server against our checksums; a key
      // taken before cannot be told from someone else's object.
      if (outcome == S3PutOutcome::kExists) throw_conflict(location, key, path, true);
      break;
  }

  if (!is_history_file(name)) {
    if (::unlink(path.c_str()) != 0) throw_io_error("remove file", path, errno);
    fsync_directory(options_.spool);
  }
}

}  // namespace walstream::storage
