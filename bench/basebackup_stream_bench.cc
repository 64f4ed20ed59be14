// The BASE_BACKUP path up to the files, without the files: the stream
// decoder of PostgreSQL 15+ (protocol::BackupStreamDecoder: 'n' new archive,
// 'd' data, 'p' progress, 'm' manifest) feeding protocol::TarParser, whose
// members go to a sink that only counts them; and the tar parser alone.
//
// The input is built once, deterministically: a tablespace archive and a
// base.tar of about 64 MB of relation-like files (multiples of 8 kB, sizes
// from 8 kB to 512 kB, plus two unaligned ones), cut into 'd'
// messages of 32 kB as the server's copystream sink sends them, with a 'p'
// every 2 MB and a manifest at the end. Both parsers pass member contents
// through as spans, so the figures are the cost of headers and framing per
// byte of archive; members/s is the other half of the story.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "bench_support.h"
#include "protocol/basebackup_stream.h"
#include "protocol/bytes.h"
#include "protocol/tar.h"
#include "tests/support/tar_builder.h"

namespace {

using walstream::ByteView;
using walstream::bench::check;
using walstream::bench::run_step;
using walstream::protocol::BackupStreamDecoder;
using walstream::protocol::BackupStreamHandler;
using walstream::protocol::TarMember;
using walstream::protocol::TarMemberSink;
using walstream::protocol::TarMemberType;
using walstream::protocol::TarParser;
using walstream::test_support::TarBuilder;

constexpr std::size_t kPageSize = 8192;
constexpr std::size_t kChunkSize = 32 * 1024;  // the server's copystream buffer
constexpr std::size_t kProgressEvery = 64;     // chunks between 'p' messages (2 MB)
constexpr std::uint64_t kBaseContentBytes = 64ULL * 1024 * 1024;
constexpr std::uint64_t kTablespaceContentBytes = 4ULL * 1024 * 1024;

// What the parsers must report for one archive, to tell a parser that skips
// or loses data from a fast one.
struct ArchiveTotals {
  std::uint64_t members = 0;
  std::uint64_t files = 0;
  std::uint64_t content_bytes = 0;

  bool operator==(const ArchiveTotals&) const = default;
};

struct BuiltArchive {
  std::string bytes;
  ArchiveTotals totals;
};

// Relation-like files under `root` (e.g. "base/5/") until their contents
// reach `content_bytes`: sizes log-uniform from 1 to 64 pages, so most
// files are small and most bytes are in large ones. Contents are slices of
// one random buffer (the parsers do not look at them).
BuiltArchive build_archive(std::string_view root, std::uint64_t content_bytes, unsigned seed,
                           bool with_cluster_files) {
  std::mt19937 random(seed);
  const std::string filler = [&] {
    std::string s(64 * kPageSize, '\0');
    for (char& c : s) c = static_cast<char>(random() & 0xff);
    return s;
  }();
  std::uniform_real_distribution<double> log_pages(0.0, std::log(65.0));

  TarBuilder tar;
  BuiltArchive built;
  auto add_file = [&](std::string name, std::size_t size) {
    tar.file(std::move(name), std::string_view(filler).substr(0, size));
    ++built.totals.members;
    ++built.totals.files;
    built.totals.content_bytes += size;
  };
  auto add_dir = [&](std::string name) {
    tar.dir(std::move(name));
    ++built.totals.members;
  };

  if (with_cluster_files) {
    add_file("PG_VERSION", 3);
    add_file("postgresql.conf", 29 * 1024 + 17);
    add_dir("global/");
    add_file("global/pg_control", kPageSize);
    add_dir("pg_wal/");
    add_dir("base/");
  }
  add_dir(std::string(root));
  unsigned relfilenode = 16384;
  std::uint64_t total = 0;
  while (total < content_bytes) {
    const auto pages = static_cast<std::size_t>(std::exp(log_pages(random)));
    const std::size_t size = std::max<std::size_t>(pages, 1) * kPageSize;
    add_file(std::string(root) + std::to_string(relfilenode++), size);
    total += size;
  }
  built.bytes = tar.finish();
  return built;
}

// A BASE_BACKUP COPY stream: every message's bytes, back to back.
struct BackupStream {
  std::vector<std::byte> bytes;
  std::vector<std::pair<std::size_t, std::size_t>> messages;  // offset, size
  std::vector<ArchiveTotals> archives;
  std::uint64_t manifest_bytes = 0;
  std::uint64_t last_progress = 0;
};

class StreamWriter {
 public:
  explicit StreamWriter(BackupStream& stream) : stream_(stream) {}

  void message(char type, ByteView body) {
    const std::size_t offset = stream_.bytes.size();
    stream_.bytes.push_back(static_cast<std::byte>(type));
    stream_.bytes.insert(stream_.bytes.end(), body.begin(), body.end());
    stream_.messages.emplace_back(offset, stream_.bytes.size() - offset);
  }
  void new_archive(std::string_view name, std::string_view tablespace_path) {
    std::string body(name);
    body += '\0';
    body += tablespace_path;
    body += '\0';
    message('n', walstream::as_bytes(body));
  }
  // 'd' messages of kChunkSize, with a 'p' (bytes so far) every kProgressEvery.
  void archive_data(std::string_view data) {
    for (std::size_t at = 0; at < data.size(); at += kChunkSize) {
      const std::string_view chunk = data.substr(at, kChunkSize);
      message('d', walstream::as_bytes(chunk));
      done_ += chunk.size();
      if (++chunks_ % kProgressEvery == 0) progress();
    }
  }
  void progress() {
    std::byte body[8];
    walstream::store_be64(body, done_);
    message('p', body);
    stream_.last_progress = done_;
  }

 private:
  BackupStream& stream_;
  std::uint64_t done_ = 0;
  std::uint64_t chunks_ = 0;
};

// Built once: the benchmark functions run several times while Google
// Benchmark sizes the iteration count.
const BuiltArchive& base_archive() {
  static const BuiltArchive archive = build_archive("base/5/", kBaseContentBytes, 5, true);
  return archive;
}

const BackupStream& backup_stream() {
  static const BackupStream stream = [] {
    BackupStream s;
    StreamWriter writer(s);
    // Tablespaces come first, the main directory last, as the server sends them.
    const BuiltArchive tablespace =
        build_archive("PG_15_202209061/5/", kTablespaceContentBytes, 16385, false);
    writer.new_archive("16385.tar", "/srv/tblspc");
    writer.archive_data(tablespace.bytes);
    s.archives.push_back(tablespace.totals);
    writer.new_archive("base.tar", "");
    writer.archive_data(base_archive().bytes);
    s.archives.push_back(base_archive().totals);
    writer.progress();

    std::string manifest = "{ \"PostgreSQL-Backup-Manifest-Version\": 1,\n\"Files\": [\n";
    for (std::uint64_t i = 0; i < s.archives[0].files + s.archives[1].files; ++i) {
      manifest += "{ \"Path\": \"base/5/" + std::to_string(16384 + i) +
                  "\", \"Size\": 8192, \"Last-Modified\": \"2023-11-14 22:13:20 GMT\", "
                  "\"Checksum-Algorithm\": \"CRC32C\", \"Checksum\": \"" +
                  std::to_string(100000000 + i * 7919) + "\" },\n";
    }
    manifest += "] }\n";
    writer.message('m', {});
    for (std::size_t at = 0; at < manifest.size(); at += kChunkSize) {
      writer.message('d', walstream::as_bytes(std::string_view(manifest).substr(at, kChunkSize)));
    }
    s.manifest_bytes = manifest.size();
    return s;
  }();
  return stream;
}

// Counts members and their bytes, and drops the bytes.
class CountingSink : public TarMemberSink {
 public:
  void member_begin(const TarMember& member) override {
    ++totals_.members;
    if (member.type == TarMemberType::kFile) ++totals_.files;
  }
  void member_data(ByteView data) override { totals_.content_bytes += data.size(); }
  void member_end() override {}
  void archive_end() override {}

  const ArchiveTotals& totals() const { return totals_; }

 private:
  ArchiveTotals totals_;
};

// Feeds every archive of the stream into a fresh TarParser, as the backup
// extractor does, and records what came out of each.
class ParsingHandler : public BackupStreamHandler {
 public:
  void archive_begin(std::string_view, std::string_view) override {
    parser_.reset();  // it holds the previous sink
    sink_.emplace();
    parser_.emplace(*sink_, TarParser::Trailer::kRequired);
  }
  void archive_data(ByteView data) override { parser_->feed(data); }
  void archive_end() override {
    parser_->finish();
    archives_.push_back(sink_->totals());
  }
  void manifest_begin() override {}
  void manifest_data(ByteView data) override { manifest_bytes_ += data.size(); }
  void manifest_end() override {}
  void progress(std::uint64_t bytes_done) override { last_progress_ = bytes_done; }

  const std::vector<ArchiveTotals>& archives() const { return archives_; }
  std::uint64_t manifest_bytes() const { return manifest_bytes_; }
  std::uint64_t last_progress() const { return last_progress_; }

 private:
  std::optional<CountingSink> sink_;
  std::optional<TarParser> parser_;
  std::vector<ArchiveTotals> archives_;
  std::uint64_t manifest_bytes_ = 0;
  std::uint64_t last_progress_ = 0;
};

std::uint64_t member_count(const std::vector<ArchiveTotals>& archives) {
  std::uint64_t n = 0;
  for (const auto& a : archives) n += a.members;
  return n;
}

void BM_BackupStreamDecodeAndTar(benchmark::State& state) {
  const BackupStream& stream = backup_stream();
  const ByteView all(stream.bytes);
  for (auto _ : state) {
    ParsingHandler handler;
    const bool ok = run_step(state, [&] {
      BackupStreamDecoder decoder(handler);
      for (const auto& [offset, size] : stream.messages) decoder.feed(all.subspan(offset, size));
      decoder.finish();
    });
    if (!ok) break;
    if (!check(state,
               handler.archives() == stream.archives &&
                   handler.manifest_bytes() == stream.manifest_bytes &&
                   handler.last_progress() == stream.last_progress,
               "the decoded stream does not match what was built")) {
      break;
    }
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * stream.bytes.size()));
  state.SetItemsProcessed(
      static_cast<std::int64_t>(state.iterations() * member_count(stream.archives)));
  state.counters["messages_per_second"] =
      benchmark::Counter(static_cast<double>(state.iterations() * stream.messages.size()),
                         benchmark::Counter::kIsRate);
  state.counters["members"] = static_cast<double>(member_count(stream.archives));
}

// Chunks of 32 kB keep every header inside one chunk (tar blocks are 512
// bytes); 32 kB - 100 cuts headers in two, as decompressed archives can.
void BM_TarParse(benchmark::State& state) {
  const auto chunk_size = static_cast<std::size_t>(state.range(0));
  const BuiltArchive& archive = base_archive();
  const ByteView all = walstream::as_bytes(archive.bytes);
  for (auto _ : state) {
    CountingSink sink;
    const bool ok = run_step(state, [&] {
      TarParser parser(sink, TarParser::Trailer::kRequired);
      for (std::size_t at = 0; at < all.size(); at += chunk_size) {
        parser.feed(all.subspan(at, std::min(chunk_size, all.size() - at)));
      }
      parser.finish();
    });
    if (!ok) break;
    if (!check(state, sink.totals() == archive.totals,
               "the parsed archive does not match what was built")) {
      break;
    }
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * archive.bytes.size()));
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * archive.totals.members));
  state.counters["members"] = static_cast<double>(archive.totals.members);
}

BENCHMARK(BM_BackupStreamDecodeAndTar)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_TarParse)
    ->ArgName("chunk")
    ->Arg(kChunkSize)
    ->Arg(kChunkSize - 100)
    ->Unit(benchmark::kMillisecond);

}  // namespace
