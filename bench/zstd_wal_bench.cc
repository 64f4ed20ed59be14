// zstd on WAL: one 16 MB segment of workload-shaped WAL (bench/workload_wal.h)
// compressed at levels 1 and 3 and decompressed again.
//
// The project's code path is a file API, so that is what is measured:
//   BM_ZstdCompressSegmentFile  storage::compress_segment_file, the archiver's
//                               whole job per segment (read NAME, compress,
//                               write NAME.zst.tmp, fsync, rename, fsync the
//                               directory, unlink NAME);
//   BM_ZstdDecompressSegmentFile storage::decompress_zstd_file (restore-wal,
//                               verify), plain bytes to a discarding output.
// The files live on /dev/shm by default, so the disk is not measured (set
// WALSTREAM_BENCH_DIR to measure one). BM_ZstdCompressInMemory runs libzstd
// directly, with the archiver's parameters (checksum, pledged size,
// streaming in ZSTD_CStreamInSize pieces), on the same buffer: the codec's
// share of the file figures.
#include <benchmark/benchmark.h>
#include <zstd.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "bench_support.h"
#include "protocol/bytes.h"
#include "protocol/lsn.h"
#include "storage/file_util.h"
#include "storage/zstd_archiver.h"
#include "storage/zstd_file.h"
#include "workload_wal.h"

namespace {

namespace fs = std::filesystem;
using walstream::ByteView;
using walstream::bench::BenchDirectory;
using walstream::bench::check;
using walstream::bench::run_step;

constexpr std::uint64_t kSegmentSize = 16 * 1024 * 1024;
const std::string kSegmentName = "000000010000000000000001";

const std::vector<std::byte>& segment() {
  static const std::vector<std::byte> wal = walstream::bench::workload_wal(
      walstream::protocol::Lsn{kSegmentSize}, kSegmentSize, kSegmentSize, 42);
  return wal;
}

std::string_view segment_chars() { return walstream::as_chars(segment()); }

// The decompressed file must be the segment again, byte for byte.
bool round_trips(const fs::path& compressed) {
  std::vector<std::byte> plain;
  plain.reserve(kSegmentSize);
  walstream::storage::decompress_zstd_file(compressed, [&](ByteView chunk) {
    plain.insert(plain.end(), chunk.begin(), chunk.end());
    return true;
  });
  return plain == segment();
}

void BM_ZstdCompressSegmentFile(benchmark::State& state) {
  const int level = static_cast<int>(state.range(0));
  const BenchDirectory dir("/dev/shm");
  const fs::path compressed = dir.path() / (kSegmentName + ".zst");
  std::uintmax_t compressed_size = 0;
  for (auto _ : state) {
    state.PauseTiming();
    const bool written = run_step(state, [&] {
      fs::remove(compressed);
      walstream::storage::write_file(dir.path() / kSegmentName, segment_chars(), 0600);
    });
    state.ResumeTiming();
    if (!written) break;
    if (!run_step(state, [&] {
          walstream::storage::compress_segment_file(dir.path(), kSegmentName, level);
        })) {
      break;
    }
    if (compressed_size == 0) {
      state.PauseTiming();
      const bool ok = run_step(state, [&] {
        check(state, round_trips(compressed), "the compressed segment does not decompress to it");
        compressed_size = fs::file_size(compressed);
      });
      state.ResumeTiming();
      if (!ok || state.error_occurred()) break;
    }
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * kSegmentSize));
  if (compressed_size > 0) {
    state.counters["ratio"] =
        static_cast<double>(kSegmentSize) / static_cast<double>(compressed_size);
  }
}

void BM_ZstdDecompressSegmentFile(benchmark::State& state) {
  const int level = static_cast<int>(state.range(0));
  const BenchDirectory dir("/dev/shm");
  const fs::path compressed = dir.path() / (kSegmentName + ".zst");
  if (!run_step(state, [&] {
        walstream::storage::write_file(dir.path() / kSegmentName, segment_chars(), 0600);
        walstream::storage::compress_segment_file(dir.path(), kSegmentName, level);
      })) {
    return;
  }
  for (auto _ : state) {
    std::uint64_t total = 0;
    if (!run_step(state, [&] {
          walstream::storage::decompress_zstd_file(compressed, [&](ByteView chunk) {
            total += chunk.size();
            benchmark::DoNotOptimize(chunk.data());
            return true;
          });
        })) {
      break;
    }
    if (!check(state, total == kSegmentSize, "decompressed size differs from the segment's")) {
      break;
    }
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * kSegmentSize));
}

struct CCtxFree {
  void operator()(ZSTD_CCtx* context) const { ZSTD_freeCCtx(context); }
};

// Returns the compressed size, or 0 on a zstd error.
std::size_t compress_in_memory(ZSTD_CCtx* context, int level, ByteView input,
                               std::vector<std::byte>& output) {
  ZSTD_CCtx_reset(context, ZSTD_reset_session_only);
  if (ZSTD_isError(ZSTD_CCtx_setParameter(context, ZSTD_c_compressionLevel, level)) ||
      ZSTD_isError(ZSTD_CCtx_setParameter(context, ZSTD_c_checksumFlag, 1)) ||
      ZSTD_isError(ZSTD_CCtx_setPledgedSrcSize(context, input.size()))) {
    return 0;
  }
  const std::size_t piece = ZSTD_CStreamInSize();
  ZSTD_outBuffer out{output.data(), output.size(), 0};
  for (std::size_t at = 0;;) {
    const std::size_t n = std::min(piece, input.size() - at);
    const bool last = at + n == input.size();
    ZSTD_inBuffer in{input.data() + at, n, 0};
    for (;;) {
      const std::size_t remaining =
          ZSTD_compressStream2(context, &out, &in, last ? ZSTD_e_end : ZSTD_e_continue);
      if (ZSTD_isError(remaining)) return 0;
      if (last ? remaining == 0 : in.pos == in.size) break;
    }
    at += n;
    if (last) return out.pos;
  }
}

void BM_ZstdCompressInMemory(benchmark::State& state) {
  const int level = static_cast<int>(state.range(0));
  const std::unique_ptr<ZSTD_CCtx, CCtxFree> context(ZSTD_createCCtx());
  std::vector<std::byte> output(ZSTD_compressBound(kSegmentSize));
  std::size_t compressed_size = 0;
  for (auto _ : state) {
    compressed_size = compress_in_memory(context.get(), level, segment(), output);
    if (!check(state, compressed_size > 0, "zstd failed to compress the segment")) break;
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * kSegmentSize));
  if (compressed_size > 0) {
    state.counters["ratio"] =
        static_cast<double>(kSegmentSize) / static_cast<double>(compressed_size);
  }
}

BENCHMARK(BM_ZstdCompressSegmentFile)
    ->ArgName("level")
    ->Arg(1)
    ->Arg(3)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(BM_ZstdDecompressSegmentFile)
    ->ArgName("level")
    ->Arg(1)
    ->Arg(3)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(BM_ZstdCompressInMemory)->ArgName("level")->Arg(1)->Arg(3)->Unit(benchmark::kMillisecond);

}  // namespace
