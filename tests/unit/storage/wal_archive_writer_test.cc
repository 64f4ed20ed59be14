// WalArchiveWriter on a real filesystem, in both of its uses: a WAL archive
// (durable in batches, positions reported per timeline, segments checked and
// renamed on the syncer thread, optionally compressed) and a clone's pg_wal
// (nothing synced, .done markers for full segments only, the last segment
// under its final name).
#include "storage/wal_archive_writer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <mutex>
#include <random>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "protocol/error.h"
#include "protocol/timeline_history.h"
#include "storage/zstd_file.h"
#include "tests/support/sample_data.h"
#include "tests/support/temp_dir.h"
#include "tests/support/wal_builder.h"

namespace walstream::storage {
namespace {

namespace fs = std::filesystem;
using protocol::Lsn;
using protocol::StreamPosition;
using test_support::mode_of;
using test_support::random_bytes;
using test_support::read_file;
using test_support::TempDir;

constexpr std::uint64_t kSegSize = 1024 * 1024;

StreamPosition at(std::uint64_t lsn, protocol::TimelineId timeline = 1) {
  return StreamPosition{timeline, Lsn{lsn}};
}

// What TIMELINE_HISTORY 2 answers when timeline 2 began at 0/3000000.
protocol::TimelineHistoryFile history_of_timeline_2() {
  protocol::TimelineHistoryFile file;
  file.file_name = "00000002.history";
  file.content = "1\t0/3000000\tno recovery target specified\n";
  file.history = protocol::parse_timeline_history_content(file.content, 2);
  return file;
}

class WalArchiveWriterTest : public ::testing::Test {
 protected:
  WalArchiveWriterOptions archive_options() {
    WalArchiveWriterOptions o;
    o.directory = dir_.path();
    o.segment_size = kSegSize;
    o.durability = WalDurability::kSynced;
    o.on_durable = [this](const StreamPosition& position) {
      std::lock_guard lock(mutex_);
      durable_.push_back(position);
    };
    o.on_failure = [this](std::exception_ptr) {
      std::lock_guard lock(mutex_);
      ++failures_;
    };
    return o;
  }
  WalArchiveWriterOptions clone_options() {
    WalArchiveWriterOptions o = archive_options();
    o.durability = WalDurability::kDeferred;
    o.mark_done = true;
    o.incomplete_segments = IncompleteSegments::kFinalName;
    o.file_mode = 0640;
    return o;
  }
  void write(WalArchiveWriter& writer, StreamPosition start, const std::string& data) {
    const ByteView piece = as_bytes(data);
    writer.write(start, std::span<const ByteView>(&piece, 1));
  }
  // Waits (bounded) until `count` positions were reported, so that two syncs
  // are not merged into one.
  void wait_for_reports(std::size_t count) {
    for (int i = 0; i < 5000 && durable().size() < count; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    ASSERT_GE(durable().size(), count);
  }
  std::vector<StreamPosition> durable() {
    std::lock_guard lock(mutex_);
    return durable_;
  }
  fs::path path(const std::string& name) const { return dir_.path() / name; }

  TempDir dir_{"archive-writer"};
  std::mutex mutex_;
  std::vector<StreamPosition> durable_;
  int failures_ = 0;
};

TEST_F(WalArchiveWriterTest, AnArchiveCompletesFullSegmentsAndReportsEachDurablePosition) {
  const std::string data = random_bytes(kSegSize + 5000, 1);
  {
    WalArchiveWriter writer(archive_options());
    write(writer, at(3 * kSegSize), data.substr(0, 1000));
    writer.request_sync(writer.position());
    write(writer, at(3 * kSegSize + 1000), data.substr(1000));
    writer.request_sync(writer.position());
    writer.finish();
    EXPECT_EQ(writer.position(), at(4 * kSegSize + 5000));
  }
  EXPECT_EQ(read_file(path("000000010000000000000003")), data.substr(0, kSegSize));
  EXPECT_EQ(read_file(path("000000010000000000000004.partial")).substr(0, 5000),
            data.substr(kSegSize));
  EXPECT_FALSE(fs::exists(path("archive_status")));
  // Syncs queued while one runs are merged, so how many positions are
  // reported depends on timing; their order and the last one do not.
  const std::vector<StreamPosition> reported = durable();
  ASSERT_FALSE(reported.empty());
  EXPECT_EQ(reported.back(), at(4 * kSegSize + 5000));
  EXPECT_NE(std::find(reported.begin(), reported.end(), at(4 * kSegSize)), reported.end())
      << "the completed segment";
  for (std::size_t i = 1; i < reported.size(); ++i) EXPECT_LE(reported[i - 1].lsn, reported[i].lsn);
  EXPECT_EQ(failures_, 0);
}

// Finding 1, storage side: after the stream switched timelines, a sync of the
// new timeline's bytes is a real fdatasync of its file, reported on its
// timeline, although its LSN is below what the old timeline made durable.
TEST_F(WalArchiveWriterTest, SyncsAfterATimelineSwitchAreReportedOnTheNewTimeline) {
  WalArchiveWriter writer(archive_options());
  write(writer, at(3 * kSegSize), random_bytes(900, 2));
  writer.request_sync(at(3 * kSegSize + 900));
  writer.close_segment();
  wait_for_reports(1);
  write(writer, at(3 * kSegSize, 2), random_bytes(100, 3));
  writer.request_sync(at(3 * kSegSize + 100, 2));
  writer.finish();
  const std::vector<StreamPosition> reported = durable();
  ASSERT_GE(reported.size(), 2u);
  EXPECT_EQ(reported[0], at(3 * kSegSize + 900, 1));
  EXPECT_EQ(reported[1], at(3 * kSegSize + 100, 2));
  EXPECT_TRUE(fs::exists(path("000000010000000000000003.partial")));
  EXPECT_TRUE(fs::exists(path("000000020000000000000003.partial")));
}

// Finding 8: in a clone's pg_wal only full segments are marked archived; the
// last, incomplete one gets its final name but no .done, so a standby with
// archive_mode = always archives it once it is complete.
TEST_F(WalArchiveWriterTest, ACloneMarksOnlyFullSegmentsDone) {
  const std::string data = random_bytes(kSegSize + 10, 9);
  {
    WalArchiveWriter writer(clone_options());
    write(writer, at(3 * kSegSize), data);
    writer.finish();
  }
  EXPECT_EQ(read_file(path("000000010000000000000003")), data.substr(0, kSegSize));
  ASSERT_TRUE(fs::exists(path("000000010000000000000004")));
  EXPECT_FALSE(fs::exists(path("000000010000000000000004.partial")));
  EXPECT_EQ(fs::file_size(path("000000010000000000000004")), kSegSize);
  EXPECT_EQ(read_file(path("000000010000000000000004")).substr(0, 10), data.substr(kSegSize));

  EXPECT_TRUE(fs::exists(path("archive_status/000000010000000000000003.done")));
  EXPECT_FALSE(fs::exists(path("archive_status/000000010000000000000004.done")));
  EXPECT_EQ(mode_of(path("archive_status/000000010000000000000003.done")), 0640u);
  EXPECT_EQ(mode_of(path("archive_status")), 0750u);
  EXPECT_EQ(mode_of(path("000000010000000000000003")), 0640u);
  EXPECT_TRUE(durable().empty()) << "a clone claims nothing durable before its final sync";
}

// A clone that follows a timeline switch leaves the old timeline's switch
// segment under its final name (recovery and pg_verifybackup read it there),
// without .done, as pg_basebackup does.
TEST_F(WalArchiveWriterTest, ACloneClosesTheSwitchSegmentUnderItsFinalName) {
  const std::string old_timeline = random_bytes(900, 12);
  const std::string new_timeline = random_bytes(1000, 13);
  {
    WalArchiveWriter writer(clone_options());
    write(writer, at(3 * kSegSize), old_timeline);
    writer.close_segment();
    write(writer, at(3 * kSegSize, 2), new_timeline);
    writer.finish();
  }
  EXPECT_EQ(read_file(path("000000010000000000000003")).substr(0, 900), old_timeline);
  EXPECT_EQ(read_file(path("000000020000000000000003")).substr(0, 1000), new_timeline);
  EXPECT_FALSE(fs::exists(path("000000010000000000000003.partial")));
  EXPECT_FALSE(fs::exists(path("archive_status/000000010000000000000003.done")));
  EXPECT_FALSE(fs::exists(path("archive_status/000000020000000000000003.done")));
}

TEST_F(WalArchiveWriterTest, ACloneEndingOnASegmentBoundaryLeavesNothingOpen) {
  const std::string data = random_bytes(kSegSize, 10);
  {
    WalArchiveWriter writer(clone_options());
    write(writer, at(3 * kSegSize), data);
    writer.finish();
  }
  EXPECT_EQ(read_file(path("000000010000000000000003")), data);
  EXPECT_TRUE(fs::exists(path("archive_status/000000010000000000000003.done")));
  EXPECT_FALSE(fs::exists(path("000000010000000000000004.partial")));
  EXPECT_FALSE(fs::exists(path("000000010000000000000004")));
}

TEST_F(WalArchiveWriterTest, AHistoryFileIsStoredUnderItsNameWithoutATemporaryLeft) {
  WalArchiveWriter writer(archive_options());
  writer.store_history(history_of_timeline_2());
  EXPECT_EQ(read_file(path("00000002.history")), "1\t0/3000000\tno recovery target specified\n");
  EXPECT_FALSE(fs::exists(path("00000002.history.tmp")));
  EXPECT_FALSE(fs::exists(path("archive_status")));
}

TEST_F(WalArchiveWriterTest, ACloneMarksAHistoryFileDone) {
  WalArchiveWriter writer(clone_options());
  writer.store_history(history_of_timeline_2());
  EXPECT_TRUE(fs::exists(path("00000002.history")));
  EXPECT_TRUE(fs::exists(path("archive_status/00000002.history.done")));
  EXPECT_EQ(mode_of(path("00000002.history")), 0640u);
}

TEST_F(WalArchiveWriterTest, ASegmentFailingThePageCheckKeepsItsPartialNameAndFailsTheRun) {
  WalArchiveWriterOptions o = archive_options();
  protocol::PageCheck check;
  check.magic = protocol::xlog_page_magic_for_major(15).value();
  check.segment_size = kSegSize;
  check.max_timeline = 1;
  o.page_check = check;
  WalArchiveWriter writer(o);
  write(writer, at(3 * kSegSize), std::string(kSegSize, 'x'));
  EXPECT_THROW(writer.finish(), Error);
  EXPECT_TRUE(fs::exists(path("000000010000000000000003.partial")));
  EXPECT_FALSE(fs::exists(path("000000010000000000000003")));
  EXPECT_TRUE(durable().empty());
  EXPECT_EQ(failures_, 1);
}

TEST_F(WalArchiveWriterTest, ValidWalPassesThePageCheck) {
  WalArchiveWriterOptions o = archive_options();
  protocol::PageCheck check;
  check.magic = protocol::xlog_page_magic_for_major(15).value();
  check.segment_size = kSegSize;
  check.system_id = test::kSystemId;
  check.max_timeline = 1;
  o.page_check = check;
  test::WalBuilder wal(Lsn{3 * kSegSize});
  wal.add_record(100);
  wal.add_switch();
  const std::vector<std::byte> bytes = wal.bytes();
  ASSERT_EQ(bytes.size(), kSegSize);
  const std::string segment(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  WalArchiveWriter writer(o);
  write(writer, at(3 * kSegSize), segment);
  writer.finish();
  EXPECT_EQ(read_file(path("000000010000000000000003")), segment);
  EXPECT_EQ(failures_, 0);
}

TEST_F(WalArchiveWriterTest, CompressesCompletedSegments) {
  WalArchiveWriterOptions o = archive_options();
  o.zstd_level = 1;
  const std::string data = random_bytes(kSegSize + 10, 11);
  {
    WalArchiveWriter writer(o);
    write(writer, at(3 * kSegSize), data);
    writer.finish();
  }
  EXPECT_FALSE(fs::exists(path("000000010000000000000003")));
  ASSERT_TRUE(fs::exists(path("000000010000000000000003.zst")));
  decompress_file(path("000000010000000000000003.zst"), path("restored"), kSegSize);
  EXPECT_EQ(read_file(path("restored")), data.substr(0, kSegSize));
  EXPECT_TRUE(fs::exists(path("000000010000000000000004.partial")));
}

TEST_F(WalArchiveWriterTest, ReportsSyncTimesAndCompletedAndCompressedSegments) {
  // Each callback runs on one background thread; read after finish().
  std::vector<std::string> completed;
  std::vector<std::string> compressed;
  int syncs = 0;
  WalArchiveWriterOptions o = archive_options();
  o.zstd_level = 1;
  o.on_fdatasync = [&syncs](std::chrono::nanoseconds) { ++syncs; };
  o.on_segment_completed = [&completed](const std::string& name) { completed.push_back(name); };
  o.on_segment_compressed = [&compressed](const std::string& name) { compressed.push_back(name); };
  {
    WalArchiveWriter writer(o);
    write(writer, at(3 * kSegSize), random_bytes(2 * kSegSize + 10, 12));
    writer.finish();
  }
  const std::vector<std::string> full = {"000000010000000000000003", "000000010000000000000004"};
  EXPECT_EQ(completed, full);
  EXPECT_EQ(compressed, full);
  // Two completions and the final sync of 000000010000000000000005.partial.
  EXPECT_EQ(syncs, 3);
}

TEST_F(WalArchiveWriterTest, FinishingWithNothingWrittenIsFine) {
  WalArchiveWriter writer(archive_options());
  EXPECT_NO_THROW(writer.finish());
  EXPECT_TRUE(fs::is_empty(dir_.path()));
}

}  // namespace
}  // namespace walstream::storage
