// WalArchiveWriter::write throughput with durability deferred: the cost of
// splitting, pwritev and per-segment zero-fill/rename (on the syncer thread),
// without the disk's fsync latency.
// Runs on /dev/shm when present (tmpfs), else /tmp.
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

#include "protocol/lsn.h"
#include "storage/wal_archive_writer.h"

namespace {

namespace fs = std::filesystem;
using walstream::ByteView;
using walstream::protocol::Lsn;
using walstream::protocol::StreamPosition;
using walstream::storage::WalArchiveWriter;
using walstream::storage::WalArchiveWriterOptions;

constexpr std::uint64_t kSegmentSize = 16 * 1024 * 1024;

fs::path make_temp_dir() {
  std::string base = fs::is_directory("/dev/shm") ? "/dev/shm" : "/tmp";
  std::string pattern = base + "/walstream-bench-XXXXXX";
  if (::mkdtemp(pattern.data()) == nullptr) std::abort();
  return pattern;
}

void BM_WalSegmentWriterWrite(benchmark::State& state) {
  const auto message_size = static_cast<std::size_t>(state.range(0));
  std::vector<std::byte> message(message_size);
  for (std::size_t i = 0; i < message.size(); ++i) message[i] = static_cast<std::byte>(i * 7);

  fs::path dir = make_temp_dir();
  WalArchiveWriterOptions options;
  options.directory = dir;
  options.segment_size = kSegmentSize;
  options.durability = walstream::storage::WalDurability::kDeferred;
  WalArchiveWriter writer(options);
  const ByteView piece(message);

  Lsn lsn{kSegmentSize};
  for (auto _ : state) {
    writer.write(StreamPosition{1, lsn}, std::span<const ByteView>(&piece, 1));
    lsn.value += message_size;
    if (walstream::protocol::segment_offset(lsn, kSegmentSize) < message_size) {
      // A segment was just completed: drop the files so a long run does not
      // fill the filesystem (not part of the measured work).
      state.PauseTiming();
      for (const auto& entry : fs::directory_iterator(dir)) {
        if (entry.path().extension() != ".partial") fs::remove(entry.path());
      }
      state.ResumeTiming();
    }
  }
  writer.finish();
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                          static_cast<std::int64_t>(message_size));

  std::error_code ec;
  fs::remove_all(dir, ec);
}

BENCHMARK(BM_WalSegmentWriterWrite)->Arg(8 * 1024)->Arg(128 * 1024);

}  // namespace
