// The syncer thread of a WAL archive: makes written WAL durable and completes
// full segments off the io thread, so a slow fdatasync never delays reading
// the socket or answering keepalives. Only segment handles and positions cross
// threads, never payload bytes.
//
// Jobs run in the order they were queued:
//   sync(file, upto)        fdatasync(file) [+ fsync(dir) for a new file];
//                           durable = upto
//   complete(file, end)     complete_segment(file) (fdatasync, page check,
//                           rename, fsync(dir), .done); durable = end
// Consecutive sync jobs are merged: one fdatasync per file covers them all,
// and the last position is published. Positions are (timeline, LSN) and are
// published in job order, never "the highest LSN seen": after a timeline
// switch the stream continues at lower LSNs of a later timeline.
// A failure is final (an fsync error is never retried): it is reported once
// through on_failure, and later jobs are dropped.
//
// With `inline_jobs` there is no thread: each job runs at once on the
// caller's thread, as pg_receivewal does. That is what a synchronous standby
// wants: the fdatasync starts right after the write and the caller can
// report the flush right after it, with no hand-off between threads (which
// cost more CPU than the sync itself, docs/PERFORMANCE.md).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>

#include "protocol/stream_position.h"
#include "storage/segment_completion.h"
#include "storage/segment_file.h"

namespace walstream::storage {

struct WalSyncerOptions {
  // How full segments are completed; its `sync` also governs sync jobs.
  CompletionPolicy completion;
  // Called on the syncer thread, in job order. May be empty.
  std::function<void(const protocol::StreamPosition& durable)> on_durable;
  std::function<void(const SegmentFile& completed)> on_segment_complete;
  std::function<void(std::exception_ptr)> on_failure;
  // Run jobs on the caller's thread (see above); the callbacks then run there
  // too. Failures are reported as with the thread, through on_failure.
  bool inline_jobs = false;
};

class WalSyncer {
 public:
  explicit WalSyncer(WalSyncerOptions options);
  // Runs the queued jobs, then stops the thread.
  ~WalSyncer();
  WalSyncer(const WalSyncer&) = delete;
  WalSyncer& operator=(const WalSyncer&) = delete;

  void sync(SegmentFilePtr file, protocol::StreamPosition upto);
  void complete(SegmentFilePtr file, protocol::StreamPosition end);
  // Blocks until every job queued so far has run; rethrows a failure.
  void drain();

  // fdatasync calls made so far (for tests and statistics).
  std::uint64_t sync_calls() const;

 private:
  struct Job {
    SegmentFilePtr file;
    protocol::StreamPosition position;
    bool complete = false;
  };
  void queue(Job job);
  void run();
  // Runs a batch unless a failure came first; records and reports a failure.
  // Returns it (nullptr on success).
  std::exception_ptr execute(std::deque<Job>& batch);
  void run_batch(std::deque<Job>& batch);
  // fdatasync, plus fsync(dir) for a file whose directory entry is new.
  void sync_file(SegmentFile& file);
  void publish(const protocol::StreamPosition& durable);

  WalSyncerOptions options_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable idle_;
  std::deque<Job> jobs_;
  bool busy_ = false;
  bool stopping_ = false;
  std::exception_ptr failure_;
  std::uint64_t sync_calls_ = 0;
  std::thread thread_;  // none with inline_jobs
};

}  // namespace walstream::storage
