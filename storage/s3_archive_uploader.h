// Moves completed archive files from a local spool directory into an S3
// bucket: each file is PUT once (If-None-Match: *, with its checksums), read
// back with HEAD, and only then removed from the spool and reported as
// confirmed. The spool is the archive directory of `receive`; it stays
// bounded because confirmed files leave it.
//
// A key that is taken already is compared with the file: the same bytes are
// an earlier upload of ours (its answer lost, or a restart) and count as
// confirmed; different bytes are a conflict, reported and never overwritten.
//
// Timeline history files stay in the spool after their upload: they are
// tiny, and the directory archive needs them to follow timelines at a
// restart. Uploading one again at a restart finds the same object: confirmed.
//
// The first failure (after the client's own retries) is reported once and
// stops the uploader: no later file is taken, so nothing is skipped silently.
// Uploads already running finish (and may still be confirmed). Files not
// confirmed stay in the spool, to be enqueued again at the next start.
//
// An unreachable bucket (S3Unavailable: connection refused, timeouts, 5xx)
// is such a failure only when the options say so. Otherwise the file goes
// back to the front of the queue and is tried again after a wait that
// doubles up to a bound, for as long as it takes: a retried PUT cannot
// overwrite anything (If-None-Match), so waiting out an outage loses
// nothing, and the spool, bounded by its user, holds the WAL meanwhile.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <exception>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "protocol/error.h"
#include "protocol/s3_location.h"
#include "storage/s3_client.h"
#include "storage/s3_credentials.h"

namespace walstream::storage {

struct S3ArchiveUploaderOptions {
  S3ClientOptions client;
  S3Credentials credentials;
  protocol::S3Location location;
  // The directory the archive files complete in (and are removed from).
  std::filesystem::path spool;
  // Uploads at a time (one thread and one connection each), at least 1.
  int parallelism = 3;
  // An unreachable bucket: wait and try again (true), or fail (false).
  bool retry_while_unavailable = false;
  std::chrono::milliseconds first_outage_wait{1000};
  std::chrono::milliseconds max_outage_wait{30'000};
  // From the uploader's threads, never with its lock held; may be empty.
  // `on_unavailable`: an upload failed on an unreachable bucket and is tried
  // again in `retry_in` (each time, from each thread). `on_available`: an
  // upload succeeded after that.
  std::function<void(const Error& error, std::chrono::milliseconds retry_in)> on_unavailable;
  std::function<void()> on_available;
};

class S3ArchiveUploader {
 public:
  // Both are called from the uploader's threads, never with its lock held:
  // the receiver posts them to its own io thread. `on_confirmed` after the
  // object is read back and the spool file is gone (history files: kept);
  // `on_failure` once, with a walstream::Error, for the first file that
  // could not be uploaded. Neither may throw.
  using ConfirmedCallback = std::function<void(const std::string& name)>;
  using FailureCallback = std::function<void(std::exception_ptr)>;

  // Starts the threads. Throws walstream::Error (kUsage) for client options
  // that cannot work (bad endpoint, empty region) or parallelism < 1.
  S3ArchiveUploader(S3ArchiveUploaderOptions options, ConfirmedCallback on_confirmed,
                    FailureCallback on_failure);
  // stop().
  ~S3ArchiveUploader();
  S3ArchiveUploader(const S3ArchiveUploader&) = delete;
  S3ArchiveUploader& operator=(const S3ArchiveUploader&) = delete;

  // Queues spool file `name` (a segment NAME, NAME.zst or TLI.history that
  // is complete and will not change). Thread-safe; never blocks on I/O.
  // Ignored after a failure or stop() (the file stays in the spool). Throws
  // walstream::Error (kInternal) for a name that is never uploaded (.partial,
  // temporary files, anything else).
  void enqueue(const std::string& name);

  // Files enqueued and not yet confirmed (queued or being uploaded): the
  // spool's depth, for back-pressure.
  std::size_t pending() const;
  // The most uploads that ever ran at once (never more than parallelism).
  std::size_t peak_uploads() const;
  // True once an upload failed for good (on_failure was called).
  bool failed() const;

  // Takes no more files, cancels the uploads running (their files stay in
  // the spool, unconfirmed; a PUT cut short may have been stored, which the
  // next start finds and compares) and joins the threads. Queued files stay
  // in the spool. Idempotent.
  void stop();

 private:
  void work(S3Client& client);
  // After an upload failed on an unreachable bucket: `name` back in front,
  // then a wait. False when stopped meanwhile.
  bool wait_out_outage(const std::string& name, const Error& error);
  // Uploads, verifies and removes one spool file.
  void upload(S3Client& client, const std::string& name);

  S3ArchiveUploaderOptions options_;
  ConfirmedCallback on_confirmed_;
  FailureCallback on_failure_;

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::string> queue_;
  std::size_t running_ = 0;
  std::size_t peak_running_ = 0;
  bool stopping_ = false;
  bool failed_ = false;
  // The bucket was unreachable at the last failed upload; the next wait.
  bool unavailable_ = false;
  std::chrono::milliseconds outage_wait_{0};

  std::vector<std::unique_ptr<S3Client>> clients_;
  std::vector<std::thread> threads_;
};

}  // namespace walstream::storage
