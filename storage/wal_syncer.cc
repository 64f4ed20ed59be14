#include "storage/wal_syncer.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <utility>
#include <vector>

#include "protocol/error.h"

namespace walstream::storage {

WalSyncer::WalSyncer(WalSyncerOptions options)
    : options_(std::move(options)), thread_([this] { run(); }) {}

WalSyncer::~WalSyncer() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

void WalSyncer::request_sync(SegmentFilePtr file, protocol::Lsn upto) {
  {
    std::lock_guard lock(mutex_);
    jobs_.push_back(Job{std::move(file), upto, false});
  }
  wake_.notify_one();
}

void WalSyncer::complete(SegmentFilePtr file, protocol::Lsn end) {
  {
    std::lock_guard lock(mutex_);
    jobs_.push_back(Job{std::move(file), end, true});
  }
  wake_.notify_one();
}

void WalSyncer::drain() {
  std::unique_lock lock(mutex_);
  idle_.wait(lock, [this] { return jobs_.empty() && !busy_; });
  if (failure_) std::rethrow_exception(failure_);
}

void WalSyncer::run() {
  std::unique_lock lock(mutex_);
  for (;;) {
    wake_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
    if (jobs_.empty()) return;  // stopping, and everything queued has run

    // A run of sync requests needs one fdatasync per file, with the last
    // position: the file holds everything written before the last request.
    std::vector<Job> batch;
    batch.push_back(std::move(jobs_.front()));
    jobs_.pop_front();
    if (!batch.front().complete) {
      while (!jobs_.empty() && !jobs_.front().complete) {
        batch.push_back(std::move(jobs_.front()));
        jobs_.pop_front();
      }
    }
    const bool failed = failure_ != nullptr;
    busy_ = true;
    lock.unlock();

    if (!failed) {
      try {
        if (batch.front().complete) {
          execute(batch.front());
        } else {
          // Later requests supersede earlier ones for the same file.
          std::vector<const Job*> merged;
          protocol::Lsn upto;
          for (const Job& job : batch) {
            auto same_file = [&](const Job* m) { return m->file == job.file; };
            merged.erase(std::remove_if(merged.begin(), merged.end(), same_file), merged.end());
            merged.push_back(&job);
            upto = std::max(upto, job.lsn);
          }
          for (const Job* job : merged) sync_file(*job);
          publish_durable(upto);
        }
      } catch (...) {
        std::exception_ptr error = std::current_exception();
        {
          std::lock_guard guard(mutex_);
          failure_ = error;
        }
        if (options_.on_failure) {
          try {
            options_.on_failure(error);
          } catch (...) {
            // The failure is already recorded for drain(); nothing more to do.
          }
        }
      }
    }
    batch.clear();  // drop our references to the files outside the lock

    lock.lock();
    busy_ = false;
    if (jobs_.empty()) idle_.notify_all();
  }
}

void WalSyncer::sync_file(const Job& job) {
  SegmentFile* file = job.file.get();
  // Nothing to sync: no file, or one that complete() already made durable.
  if (file == nullptr || !file->fd) return;
  if (options_.sync) {
    if (::fdatasync(file->fd.get()) != 0) {
      throw_io_error("fdatasync file", file->partial_path, errno);
    }
    sync_calls_.fetch_add(1);
    // A new file's directory entry must be durable before its data counts as
    // flushed: after a crash the data would be unreachable.
    if (!file->entry_durable) {
      fsync_directory(options_.directory);
      file->entry_durable = true;
    }
  }
}

void WalSyncer::execute(const Job& job) {
  SegmentFile& file = *job.file;
  if (options_.sync) {
    if (::fdatasync(file.fd.get()) != 0) throw_io_error("fdatasync file", file.partial_path, errno);
    sync_calls_.fetch_add(1);
  }
  if (options_.validate) {
    std::string problem = options_.validate(file);
    if (!problem.empty()) {
      throw Error(
          ErrorKind::kIo,
          "completed WAL segment \"" + file.partial_path.string() + "\" is not valid: " + problem,
          "the file keeps its .partial name; check the server and the archive directory");
    }
  }
  // Another holder of the shared_ptr (the writer) may still exist; the
  // descriptor itself is closed here, once, with its error checked.
  file.fd.close(file.partial_path);
  if (::rename(file.partial_path.c_str(), file.final_path.c_str()) != 0) {
    throw_io_error("rename file \"" + file.partial_path.string() + "\" to", file.final_path, errno);
  }
  if (options_.sync) fsync_directory(options_.directory);
  file.entry_durable = true;
  publish_durable(job.lsn);
  if (options_.on_segment_durable) options_.on_segment_durable(file.name);
}

void WalSyncer::publish_durable(protocol::Lsn lsn) {
  std::uint64_t current = durable_.load();
  while (current < lsn.value && !durable_.compare_exchange_weak(current, lsn.value)) {
  }
  if (options_.on_durable) options_.on_durable(protocol::Lsn{durable_.load()});
}

}  // namespace walstream::storage
