// The syncer thread of `walstream receive`: makes written WAL durable in
// batches, off the io thread, so a slow fdatasync never delays reading the
// socket or answering keepalives. Only LSN watermarks and segment handles
// cross threads, never payload bytes.
//
// Jobs run in order:
//   request_sync(file, upto)   fdatasync(file); durable = upto
//   complete(file, end)        fdatasync(file); validate; close; rename
//                              NAME.partial -> NAME; fsync(dir); durable = end;
//                              on_segment_durable(NAME)
// Consecutive sync requests are merged: one fdatasync per file covers all of
// them (a complete() job is never merged, and jobs keep their order).
// A failure is fatal (an fsync error is never retried): it is reported once
// through on_failure and later requests are ignored.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <exception>
#include <filesystem>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "protocol/lsn.h"
#include "storage/segment_file.h"

namespace walstream::storage {

struct WalSyncerOptions {
  std::filesystem::path directory;
  bool sync = true;  // false only for tests and --no-sync setups
  // Called on the syncer thread. May be empty.
  std::function<void(protocol::Lsn durable)> on_durable;
  std::function<void(const std::string& segment_name)> on_segment_durable;
  std::function<void(std::exception_ptr)> on_failure;
  // Checks a full segment before it gets its final name; returns "" if it is
  // valid, else what is wrong (the segment then stays .partial and the syncer
  // fails). May be empty.
  std::function<std::string(const SegmentFile&)> validate;
};

class WalSyncer {
 public:
  explicit WalSyncer(WalSyncerOptions options);
  // Runs the queued jobs, then stops the thread.
  ~WalSyncer();
  WalSyncer(const WalSyncer&) = delete;
  WalSyncer& operator=(const WalSyncer&) = delete;

  void request_sync(SegmentFilePtr file, protocol::Lsn upto);
  void complete(SegmentFilePtr file, protocol::Lsn end);
  // Blocks until every job queued so far has run; rethrows a failure.
  void drain();

  // The highest LSN known durable (readable from any thread).
  protocol::Lsn durable() const { return protocol::Lsn{durable_.load()}; }
  // fdatasync calls made so far (for tests and statistics).
  std::uint64_t sync_calls() const { return sync_calls_.load(); }

 private:
  struct Job {
    SegmentFilePtr file;
    protocol::Lsn lsn;
    bool complete = false;
  };
  void run();
  // complete(): fdatasync, validate, close, rename, fsync(dir).
  void execute(const Job& job);
  // request_sync(): fdatasync, plus fsync(dir) for a file whose entry is new.
  void sync_file(const Job& job);
  // durable = max(durable, lsn); on_durable.
  void publish_durable(protocol::Lsn lsn);

  WalSyncerOptions options_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable idle_;
  std::deque<Job> jobs_;
  bool busy_ = false;
  bool stopping_ = false;
  std::exception_ptr failure_;
  std::atomic<std::uint64_t> durable_{0};
  std::atomic<std::uint64_t> sync_calls_{0};
  std::thread thread_;
};

}  // namespace walstream::storage
