#include "storage/wal_syncer.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "protocol/error.h"
#include "storage/file_util.h"

namespace walstream::storage {

WalSyncer::WalSyncer(WalSyncerOptions options) : options_(std::move(options)) {
  if (!options_.inline_jobs) thread_ = std::thread([this] { run(); });
}

WalSyncer::~WalSyncer() {
  if (!thread_.joinable()) return;
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

void WalSyncer::sync(SegmentFilePtr file, protocol::StreamPosition upto) {
  queue(Job{std::move(file), upto, false});
}

void WalSyncer::complete(SegmentFilePtr file, protocol::StreamPosition end) {
  queue(Job{std::move(file), end, true});
}

void WalSyncer::queue(Job job) {
  if (options_.inline_jobs) {
    std::deque<Job> batch;
    batch.push_back(std::move(job));
    execute(batch);
    return;
  }
  {
    std::lock_guard lock(mutex_);
    jobs_.push_back(std::move(job));
  }
  wake_.notify_one();
}

void WalSyncer::drain() {
  std::unique_lock lock(mutex_);
  idle_.wait(lock, [this] { return jobs_.empty() && !busy_; });
  if (failure_) std::rethrow_exception(failure_);
}

std::uint64_t WalSyncer::sync_calls() const {
  std::lock_guard lock(mutex_);
  return sync_calls_;
}

void WalSyncer::run() {
  std::unique_lock lock(mutex_);
  for (;;) {
    wake_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
    if (jobs_.empty()) return;  // stopping, and everything queued has run

    // A completion runs alone; a run of sync jobs runs as one batch.
    std::deque<Job> batch;
    batch.push_back(std::move(jobs_.front()));
    jobs_.pop_front();
    if (!batch.front().complete) {
      while (!jobs_.empty() && !jobs_.front().complete) {
        batch.push_back(std::move(jobs_.front()));
        jobs_.pop_front();
      }
    }
    busy_ = true;
    lock.unlock();
    execute(batch);
    batch.clear();  // drop our references to the files outside the lock

    lock.lock();
    busy_ = false;
    if (jobs_.empty()) idle_.notify_all();
  }
}

std::exception_ptr WalSyncer::execute(std::deque<Job>& batch) {
  {
    std::lock_guard lock(mutex_);
    if (failure_) return failure_;  // final: later jobs are dropped
  }
  try {
    run_batch(batch);
    return nullptr;
  } catch (...) {
    std::exception_ptr error = std::current_exception();
    {
      std::lock_guard lock(mutex_);
      failure_ = error;
    }
    if (options_.on_failure) {
      try {
        options_.on_failure(error);
      } catch (...) {
        // Already recorded for drain(); nothing more to do.
      }
    }
    return error;
  }
}

void WalSyncer::run_batch(std::deque<Job>& batch) {
  if (batch.front().complete) {
    Job& job = batch.front();
    if (options_.completion.sync) {
      std::lock_guard lock(mutex_);
      ++sync_calls_;
    }
    complete_segment(*job.file, options_.completion);
    publish(job.position);
    if (options_.on_segment_complete) options_.on_segment_complete(*job.file);
    return;
  }
  // One fdatasync per file covers every request for it: the file holds
  // everything written before the last request was queued.
  std::vector<SegmentFile*> files;
  for (const Job& job : batch) {
    SegmentFile* file = job.file.get();
    if (file != nullptr && std::find(files.begin(), files.end(), file) == files.end()) {
      files.push_back(file);
    }
  }
  for (SegmentFile* file : files) sync_file(*file);
  publish(batch.back().position);
}

void WalSyncer::sync_file(SegmentFile& file) {
  // A file that a completion already closed is durable.
  if (!file.fd || !options_.completion.sync) return;
  fdatasync_segment(file, options_.completion);
  {
    std::lock_guard lock(mutex_);
    ++sync_calls_;
  }
  // A new file's directory entry must be durable before its data counts as
  // flushed: after a crash the data would be unreachable.
  if (!file.entry_durable) {
    fsync_directory(options_.completion.directory);
    file.entry_durable = true;
  }
}

void WalSyncer::publish(const protocol::StreamPosition& durable) {
  if (options_.completion.sync && options_.on_durable) options_.on_durable(durable);
}

}  // namespace walstream::storage
