#include "walreceiver/bench_backup_sink.h"

#include <gtest/gtest.h>
#include <zstd.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "protocol/error.h"
#include "tests/support/tar_builder.h"
#include "tests/support/temp_dir.h"

namespace walstream::walreceiver {
namespace {

namespace fs = std::filesystem;
using test_support::read_file;
using test_support::TarBuilder;
using test_support::TempDir;

std::string main_archive() {
  return TarBuilder()
      .file("PG_VERSION", "15\n")
      .dir("global/")
      .file("global/pg_control", std::string(8192, 'c'))
      .dir("pg_tblspc/")
      .symlink("pg_tblspc/16400", "/srv/ts1")
      .finish();
}

std::string tablespace_archive() {
  return TarBuilder().dir("PG_15_202209061/").file("PG_15_202209061/f", "tablespace data").finish();
}

std::string zstd_compress(const std::string& plain) {
  std::string out(ZSTD_compressBound(plain.size()), '\0');
  out.resize(ZSTD_compress(out.data(), out.size(), plain.data(), plain.size(), 1));
  return out;
}

// The tablespace list of the tests' backups: the main directory and one
// tablespace at /srv/ts1.
const std::vector<protocol::TablespaceInfo> kListed{
    protocol::TablespaceInfo{}, protocol::TablespaceInfo{16400, "/srv/ts1", {}}};

void feed_archive(BenchBackupSink& sink, std::string_view name, std::string_view tablespace,
                  const std::string& bytes, std::size_t chunk = 1000) {
  sink.archive_begin(name, tablespace);
  ByteView view = as_bytes(bytes);
  for (std::size_t at = 0; at < view.size(); at += chunk) {
    sink.archive_data(view.subspan(at, std::min(chunk, view.size() - at)));
  }
  sink.archive_end();
}

void feed_manifest(BenchBackupSink& sink, const std::string& manifest) {
  sink.manifest_begin();
  sink.manifest_data(as_bytes(manifest));
  sink.manifest_end();
}

TEST(BenchBackupSinkTest, DiscardsAndCounts) {
  BenchBackupSink sink({});
  sink.expect_tablespaces(kListed);
  const std::string base = main_archive();
  const std::string space = tablespace_archive();
  feed_archive(sink, "16400.tar", "/srv/ts1", space);
  feed_archive(sink, "base.tar", "", base);
  feed_manifest(sink, "{\"PostgreSQL-Backup-Manifest-Version\": 1}");

  const BenchBackupCounts& counts = sink.counts();
  EXPECT_EQ(counts.archives, 2U);
  EXPECT_EQ(counts.files, 3U);  // PG_VERSION, pg_control, the tablespace's f
  EXPECT_EQ(counts.archive_bytes, base.size() + space.size());
  EXPECT_EQ(counts.tar_bytes, counts.archive_bytes);
  EXPECT_EQ(counts.manifest_bytes, 41U);
  EXPECT_EQ(counts.manifest_chunks, 1U);
  EXPECT_EQ(counts.written_bytes, 0U);
  EXPECT_FALSE(counts.compressed);
  EXPECT_TRUE(sink.last_call_end().has_value());
  EXPECT_EQ(sink.times().write, BenchDuration::zero());
}

TEST(BenchBackupSinkTest, DecompressesServerCompressedArchives) {
  BenchBackupSink sink({});
  sink.expect_tablespaces(kListed);
  const std::string plain = main_archive();
  const std::string compressed = zstd_compress(plain);
  feed_archive(sink, "base.tar.zst", "", compressed, 7);

  const BenchBackupCounts& counts = sink.counts();
  EXPECT_TRUE(counts.compressed);
  EXPECT_EQ(counts.archive_bytes, compressed.size());
  EXPECT_EQ(counts.tar_bytes, plain.size());
  EXPECT_EQ(counts.files, 2U);
}

TEST(BenchBackupSinkTest, NestedTimesIncludeTheStepsBelow) {
  TempDir temp("bench-sink");
  BenchBackupSinkOptions options;
  options.extract_to = temp.path();
  options.map_tablespace = [&temp](const std::string&) { return temp.path() / "ts"; };
  BenchBackupSink sink(options);
  sink.expect_tablespaces(kListed);
  feed_archive(sink, "base.tar.zst", "", zstd_compress(main_archive()), 100);

  const BackupInclusiveTimes& times = sink.times();
  EXPECT_GT(times.write, BenchDuration::zero());
  EXPECT_GE(times.tar, times.write);
  EXPECT_GE(times.archive, times.tar);
  EXPECT_GE(times.handler, times.archive);
}

TEST(BenchBackupSinkTest, ExtractsWithTablespacesMapped) {
  TempDir temp("bench-sink");
  const fs::path data = temp.path() / "base";
  const fs::path mapped = temp.path() / "tablespaces" / "16400";
  fs::create_directory(data);
  BenchBackupSinkOptions options;
  options.extract_to = data;
  options.map_tablespace = [&](const std::string& location) {
    EXPECT_EQ(location, "/srv/ts1");
    return mapped;
  };
  BenchBackupSink sink(options);
  sink.expect_tablespaces(kListed);
  feed_archive(sink, "16400.tar", "/srv/ts1", tablespace_archive());
  feed_archive(sink, "base.tar", "", main_archive());
  feed_manifest(sink, "{}");

  EXPECT_EQ(read_file(data / "PG_VERSION"), "15\n");
  EXPECT_EQ(fs::file_size(data / "global" / "pg_control"), 8192U);
  EXPECT_EQ(fs::read_symlink(data / "pg_tblspc" / "16400"), mapped);
  EXPECT_EQ(read_file(mapped / "PG_15_202209061" / "f"), "tablespace data");
  EXPECT_FALSE(fs::exists(data / "backup_manifest"));  // counted, not kept
  EXPECT_FALSE(fs::exists("/srv/ts1"));
  EXPECT_EQ(sink.counts().written_bytes, 3U + 8192U + 15U);
}

TEST(BenchBackupSinkTest, RefusesBrokenStreams) {
  {
    BenchBackupSink sink({});
    sink.expect_tablespaces(kListed);
    EXPECT_THROW(sink.archive_data(as_bytes(std::string("x"))), Error);
  }
  {
    BenchBackupSink sink({});
    sink.expect_tablespaces(kListed);
    sink.archive_begin("base.tar", "");
    EXPECT_THROW(sink.archive_begin("base.tar", ""), Error);
  }
  {
    // Archives the tablespace list does not allow.
    BenchBackupSink sink({});
    sink.expect_tablespaces(kListed);
    EXPECT_THROW(sink.archive_begin("16400.tar", "/srv/elsewhere"), Error);
    EXPECT_THROW(sink.archive_begin("16401.tar", "/srv/ts1"), Error);
    EXPECT_THROW(sink.archive_begin("16400.tar", "srv/ts1"), Error);
  }
  {
    // A truncated archive fails at its end, as in a clone.
    BenchBackupSink sink({});
    sink.expect_tablespaces(kListed);
    std::string truncated = main_archive();
    truncated.resize(700);
    EXPECT_THROW(feed_archive(sink, "base.tar", "", truncated), Error);
  }
  {
    BenchBackupSinkOptions options;
    options.extract_to = "/nonexistent";
    EXPECT_THROW(BenchBackupSink sink(options), Error);  // no tablespace mapping
  }
}

}  // namespace
}  // namespace walstream::walreceiver
