// Writing WAL into segment files with storage::WalArchiveWriter, one batch
// per write() call as the driver hands it over: 8 kB, 128 kB or 1 MB of WAL
// per pwritev (batches above 128 kB come as 128 kB pieces, the largest
// XLogData a walsender sends), 16 MB segments, page check on.
//
//   synced:0  kDeferred (clone): no fsync; full segments are checked and
//             renamed on the syncer thread, overlapping the writes.
//   synced:1  kSynced (receive --synchronous): request_sync after every
//             batch, and the next batch waits until it is durable, so every
//             batch pays one fdatasync (plus a segment's completion when it
//             fills up).
//
// The WAL is workload-shaped (bench/workload_wal.h), its page addresses
// rewritten for each segment so the completion's page check passes. Files go
// to /var/tmp by default (a disk, which synced:1 is about); set
// WALSTREAM_BENCH_DIR=/dev/shm to take the disk out. Completed segments are
// deleted between segments, outside the timing.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <filesystem>
#include <mutex>
#include <vector>

#include "bench_support.h"
#include "protocol/bytes.h"
#include "protocol/lsn.h"
#include "protocol/stream_position.h"
#include "protocol/wal_file_names.h"
#include "protocol/wal_page.h"
#include "storage/wal_archive_writer.h"
#include "tests/support/wal_builder.h"
#include "workload_wal.h"

namespace {

namespace fs = std::filesystem;
using walstream::ByteView;
using walstream::bench::BenchDirectory;
using walstream::bench::check;
using walstream::bench::run_step;
using walstream::protocol::Lsn;
using walstream::protocol::StreamPosition;
using walstream::storage::WalArchiveWriter;
using walstream::storage::WalArchiveWriterOptions;
using walstream::storage::WalDurability;

constexpr std::uint64_t kSegmentSize = 16 * 1024 * 1024;
constexpr std::size_t kMaxMessageSize = 128 * 1024;
constexpr walstream::protocol::TimelineId kTimeline = 1;

const std::vector<std::byte>& first_segment() {
  static const std::vector<std::byte> wal =
      walstream::bench::workload_wal(Lsn{kSegmentSize}, kSegmentSize, kSegmentSize, 7);
  return wal;
}

// Rewrites xlp_pageaddr of every page so the WAL belongs at `segment_start`.
void move_pages_to(std::vector<std::byte>& segment, std::uint64_t segment_start) {
  for (std::size_t page = 0; page < segment.size(); page += walstream::protocol::kWalPageSize) {
    walstream::test::store_host<std::uint64_t>(segment.data() + page + 8, segment_start + page);
  }
}

// Durable positions reported by the syncer thread, and its failure.
class DurabilityWatch {
 public:
  void durable(const StreamPosition& position) {
    {
      std::lock_guard lock(mutex_);
      durable_ = position.lsn;
    }
    changed_.notify_all();
  }
  void failed(std::exception_ptr error) {
    {
      std::lock_guard lock(mutex_);
      failure_ = error;
    }
    changed_.notify_all();
  }
  // Waits until `upto` is durable; false if the syncer failed instead.
  bool wait_for(Lsn upto) {
    std::unique_lock lock(mutex_);
    changed_.wait(lock, [&] { return failure_ != nullptr || durable_.value >= upto.value; });
    return failure_ == nullptr;
  }
  bool failed() const {
    std::lock_guard lock(mutex_);
    return failure_ != nullptr;
  }

 private:
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  Lsn durable_;
  std::exception_ptr failure_;
};

// Deletes completed segments (final names); returns how many.
std::uint64_t remove_completed_segments(const fs::path& dir) {
  std::uint64_t removed = 0;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (walstream::protocol::parse_wal_segment_file_name(entry.path().filename().string(),
                                                         kSegmentSize)) {
      fs::remove(entry.path());
      ++removed;
    }
  }
  return removed;
}

void BM_WalArchiveWriter(benchmark::State& state) {
  const auto batch_size = static_cast<std::size_t>(state.range(0));
  const bool synced = state.range(1) != 0;
  std::vector<std::byte> segment = first_segment();
  const BenchDirectory dir("/var/tmp");

  DurabilityWatch watch;
  WalArchiveWriterOptions options;
  options.directory = dir.path();
  options.segment_size = kSegmentSize;
  options.durability = synced ? WalDurability::kSynced : WalDurability::kDeferred;
  options.page_check = walstream::protocol::PageCheck{
      .magic = walstream::test::kMagic,
      .segment_size = kSegmentSize,
      .system_id = walstream::test::kSystemId,
      .max_timeline = kTimeline,
  };
  options.on_durable = [&](const StreamPosition& position) { watch.durable(position); };
  options.on_failure = [&](std::exception_ptr error) { watch.failed(error); };

  std::uint64_t completed = 0;
  const std::uint64_t first_lsn = kSegmentSize;
  std::uint64_t lsn = first_lsn;
  const bool ok = run_step(state, [&] {
    WalArchiveWriter writer(options);
    std::vector<ByteView> pieces;
    for (auto _ : state) {
      const std::size_t offset = lsn % kSegmentSize;
      pieces.clear();
      for (std::size_t at = 0; at < batch_size; at += kMaxMessageSize) {
        pieces.push_back(
            ByteView(segment).subspan(offset + at, std::min(kMaxMessageSize, batch_size - at)));
      }
      writer.write(StreamPosition{kTimeline, Lsn{lsn}}, pieces);
      lsn += batch_size;
      if (synced) {
        writer.request_sync(StreamPosition{kTimeline, Lsn{lsn}});
        if (!watch.wait_for(Lsn{lsn})) break;
      } else if (watch.failed()) {
        break;
      }
      if (lsn % kSegmentSize == 0) {
        state.PauseTiming();
        move_pages_to(segment, lsn);
        completed += remove_completed_segments(dir.path());
        state.ResumeTiming();
      }
    }
    writer.finish();  // rethrows what the syncer thread failed with
  });
  if (ok) {
    completed += remove_completed_segments(dir.path());
    check(state, completed == (lsn - first_lsn) / kSegmentSize,
          "not every full segment was completed");
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * batch_size));
}

BENCHMARK(BM_WalArchiveWriter)
    ->ArgNames({"batch", "synced"})
    ->ArgsProduct({{8 * 1024, 128 * 1024, 1024 * 1024}, {0, 1}})
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();

}  // namespace
