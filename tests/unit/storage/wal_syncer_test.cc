#include "storage/wal_syncer.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <future>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "protocol/error.h"
#include "protocol/wal_file_names.h"
#include "tests/support/temp_dir.h"

namespace walstream::storage {
namespace {

namespace fs = std::filesystem;
using protocol::Lsn;
using protocol::StreamPosition;
using test_support::read_file;
using test_support::TempDir;

constexpr std::uint64_t kSegSize = 1024 * 1024;

class WalSyncerTest : public ::testing::Test {
 protected:
  // A segment file as the writer leaves it: NAME.partial, descriptor open.
  SegmentFilePtr make_segment(protocol::SegmentNo segno, const std::string& contents = "wal") {
    auto file = std::make_shared<SegmentFile>();
    file->name = protocol::wal_segment_file_name(1, segno, kSegSize);
    file->final_path = dir_.path() / file->name;
    file->partial_path = dir_.path() / (file->name + ".partial");
    file->timeline = 1;
    file->segno = segno;
    int fd = ::open(file->partial_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    EXPECT_GE(fd, 0);
    file->fd = UniqueFd(fd);
    EXPECT_EQ(::write(fd, contents.data(), contents.size()), static_cast<ssize_t>(contents.size()));
    return file;
  }

  WalSyncerOptions options() {
    WalSyncerOptions o;
    o.completion.directory = dir_.path();
    o.on_durable = [this](const StreamPosition& position) {
      std::lock_guard lock(mutex_);
      durable_seen_.push_back(position);
    };
    o.on_segment_complete = [this](const SegmentFile& file) {
      std::lock_guard lock(mutex_);
      segments_seen_.push_back(file.name);
    };
    o.on_failure = [this](std::exception_ptr) { ++failures_; };
    return o;
  }

  std::vector<StreamPosition> durable_seen() {
    std::lock_guard lock(mutex_);
    return durable_seen_;
  }
  std::vector<std::string> segments_seen() {
    std::lock_guard lock(mutex_);
    return segments_seen_;
  }

  TempDir dir_{"syncer"};
  std::mutex mutex_;
  std::vector<StreamPosition> durable_seen_;
  std::vector<std::string> segments_seen_;
  std::atomic<int> failures_{0};
};

// Blocks the syncer thread inside on_durable until released, so that jobs
// pile up behind it.
class Gate {
 public:
  void wait_entered() { entered_.get_future().wait(); }
  void block() {
    if (first_.exchange(false)) {
      entered_.set_value();
      release_future_.wait();
    }
  }
  void release() { release_.set_value(); }

 private:
  std::atomic<bool> first_{true};
  std::promise<void> entered_;
  std::promise<void> release_;
  std::shared_future<void> release_future_ = release_.get_future().share();
};

StreamPosition at(std::uint64_t lsn, protocol::TimelineId timeline = 1) {
  return StreamPosition{timeline, Lsn{lsn}};
}

TEST_F(WalSyncerTest, ASyncPublishesItsPosition) {
  WalSyncer syncer(options());
  SegmentFilePtr file = make_segment(3);
  syncer.sync(file, at(3 * kSegSize + 100));
  syncer.drain();
  EXPECT_EQ(syncer.sync_calls(), 1u);
  EXPECT_TRUE(file->entry_durable) << "the directory was fsynced after the first fdatasync";
  EXPECT_TRUE(file->fd);
  EXPECT_TRUE(fs::exists(file->partial_path));
  EXPECT_EQ(durable_seen(), std::vector<StreamPosition>{at(3 * kSegSize + 100)});
  EXPECT_EQ(failures_, 0);
}

TEST_F(WalSyncerTest, ACompletionRenamesAndReportsTheSegment) {
  WalSyncer syncer(options());
  SegmentFilePtr file = make_segment(3, "full segment");
  syncer.complete(file, at(4 * kSegSize));
  syncer.drain();
  EXPECT_FALSE(fs::exists(dir_.path() / "000000010000000000000003.partial"));
  ASSERT_TRUE(fs::exists(dir_.path() / "000000010000000000000003"));
  EXPECT_EQ(read_file(dir_.path() / "000000010000000000000003"), "full segment");
  EXPECT_FALSE(file->fd) << "closed, although the test still holds the handle";
  EXPECT_EQ(durable_seen(), std::vector<StreamPosition>{at(4 * kSegSize)});
  EXPECT_EQ(segments_seen(), std::vector<std::string>{"000000010000000000000003"});
  EXPECT_EQ(syncer.sync_calls(), 1u);
}

TEST_F(WalSyncerTest, ManyRequestsWhileBusyAreMerged) {
  Gate gate;
  WalSyncerOptions o = options();
  auto record = o.on_durable;
  o.on_durable = [&](const StreamPosition& position) {
    record(position);
    gate.block();
  };
  WalSyncer syncer(o);
  SegmentFilePtr file = make_segment(3);
  syncer.sync(file, at(3 * kSegSize + 1));
  gate.wait_entered();
  constexpr int kRequests = 100;
  for (int i = 2; i <= kRequests; ++i) syncer.sync(file, at(3 * kSegSize + i));
  gate.release();
  syncer.drain();
  // One for the first request, one for the 99 queued behind it.
  EXPECT_EQ(syncer.sync_calls(), 2u);
  EXPECT_EQ(durable_seen(),
            (std::vector<StreamPosition>{at(3 * kSegSize + 1), at(3 * kSegSize + kRequests)}));
}

TEST_F(WalSyncerTest, ACompletionIsNeverMergedAwayAndOrderIsKept) {
  Gate gate;
  WalSyncerOptions o = options();
  auto record = o.on_durable;
  o.on_durable = [&](const StreamPosition& position) {
    record(position);
    gate.block();
  };
  WalSyncer syncer(o);
  SegmentFilePtr seg3 = make_segment(3);
  SegmentFilePtr seg4 = make_segment(4);
  syncer.sync(seg3, at(3 * kSegSize + 10));
  gate.wait_entered();
  syncer.sync(seg3, at(3 * kSegSize + 20));
  syncer.sync(seg3, at(3 * kSegSize + 30));
  syncer.complete(seg3, at(4 * kSegSize));
  syncer.sync(seg4, at(4 * kSegSize + 10));
  syncer.sync(seg4, at(4 * kSegSize + 20));
  gate.release();
  syncer.drain();

  EXPECT_TRUE(fs::exists(seg3->final_path));
  EXPECT_FALSE(fs::exists(seg3->partial_path));
  EXPECT_TRUE(fs::exists(seg4->partial_path));
  EXPECT_EQ(segments_seen(), std::vector<std::string>{seg3->name});
  // First request, the merged pair, the completion, the merged pair of seg4.
  EXPECT_EQ(syncer.sync_calls(), 4u);
  EXPECT_EQ(durable_seen(),
            (std::vector<StreamPosition>{at(3 * kSegSize + 10), at(3 * kSegSize + 30),
                                         at(4 * kSegSize), at(4 * kSegSize + 20)}));
}

TEST_F(WalSyncerTest, AMergedRunOverTwoFilesSyncsBoth) {
  Gate gate;
  WalSyncerOptions o = options();
  o.on_durable = [&](const StreamPosition&) { gate.block(); };
  WalSyncer syncer(o);
  SegmentFilePtr first = make_segment(3);
  SegmentFilePtr a = make_segment(4);
  SegmentFilePtr b = make_segment(5);
  syncer.sync(first, at(3 * kSegSize + 1));
  gate.wait_entered();
  syncer.sync(a, at(4 * kSegSize + 1));
  syncer.sync(b, at(5 * kSegSize + 1));
  syncer.sync(a, at(4 * kSegSize + 2));
  gate.release();
  syncer.drain();
  EXPECT_EQ(syncer.sync_calls(), 3u);
  EXPECT_TRUE(a->entry_durable);
  EXPECT_TRUE(b->entry_durable);
}

// Finding 1: after a timeline switch the stream continues at lower LSNs of a
// later timeline; durability is published per (timeline, LSN) in order, not
// as a maximum LSN that would hide the new timeline's bytes.
TEST_F(WalSyncerTest, PositionsArePublishedInOrderAcrossATimelineSwitch) {
  WalSyncer syncer(options());
  SegmentFilePtr old_timeline = make_segment(3);
  syncer.sync(old_timeline, at(3 * kSegSize + 900, 1));
  syncer.drain();
  SegmentFilePtr new_timeline = make_segment(3);
  new_timeline->timeline = 2;
  syncer.sync(new_timeline, at(3 * kSegSize + 100, 2));
  syncer.drain();
  EXPECT_EQ(syncer.sync_calls(), 2u) << "the new timeline's file was synced";
  EXPECT_EQ(durable_seen(),
            (std::vector<StreamPosition>{at(3 * kSegSize + 900, 1), at(3 * kSegSize + 100, 2)}));
}

TEST_F(WalSyncerTest, APageCheckFailureKeepsThePartialAndIsReportedOnce) {
  WalSyncerOptions o = options();
  protocol::PageCheck check;
  check.magic = protocol::xlog_page_magic_for_major(15).value();
  check.segment_size = kSegSize;
  check.max_timeline = 1;
  o.completion.page_check = check;
  WalSyncer syncer(o);
  SegmentFilePtr seg3 = make_segment(3, std::string(kSegSize, 'x'));  // not WAL
  SegmentFilePtr seg4 = make_segment(4);
  syncer.complete(seg3, at(4 * kSegSize));
  syncer.sync(seg4, at(4 * kSegSize + 10));
  syncer.complete(seg4, at(5 * kSegSize));
  try {
    syncer.drain();
    FAIL() << "no exception";
  } catch (const Error& e) {
    // The server's bytes are at fault, not the disk.
    EXPECT_EQ(e.kind(), ErrorKind::kProtocol);
    EXPECT_TRUE(std::string(e.what()).starts_with(
        "completed WAL segment \"" + seg3->partial_path.string() + "\" is not valid: "))
        << e.what();
  }
  EXPECT_TRUE(fs::exists(seg3->partial_path));
  EXPECT_FALSE(fs::exists(seg3->final_path));
  // Later jobs were dropped: nothing more is claimed durable.
  EXPECT_TRUE(fs::exists(seg4->partial_path));
  EXPECT_FALSE(fs::exists(seg4->final_path));
  EXPECT_TRUE(durable_seen().empty());
  EXPECT_TRUE(segments_seen().empty());
  EXPECT_EQ(failures_, 1);
  // And it stays failed: a failed fsync or check is never retried.
  syncer.sync(seg4, at(4 * kSegSize + 20));
  EXPECT_THROW(syncer.drain(), Error);
  EXPECT_EQ(failures_, 1);
  EXPECT_TRUE(durable_seen().empty());
}

TEST_F(WalSyncerTest, ARenameFailureIsReported) {
  WalSyncer syncer(options());
  SegmentFilePtr file = make_segment(3);
  file->final_path = dir_.path() / "missing" / file->name;
  syncer.complete(file, at(4 * kSegSize));
  try {
    syncer.drain();
    FAIL() << "no exception";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kIo);
    EXPECT_NE(std::string(e.what()).find("could not rename file"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("No such file or directory"), std::string::npos);
  }
  EXPECT_EQ(failures_, 1);
  EXPECT_TRUE(durable_seen().empty());
}

// A synchronous standby's syncer runs each job on the caller's thread: the
// position is published before sync() returns, on that thread.
TEST_F(WalSyncerTest, InlineJobsRunOnTheCallersThreadBeforeReturning) {
  WalSyncerOptions o = options();
  o.inline_jobs = true;
  std::thread::id published_on;
  o.on_durable = [this, &published_on](const StreamPosition& position) {
    published_on = std::this_thread::get_id();
    std::lock_guard lock(mutex_);
    durable_seen_.push_back(position);
  };
  WalSyncer syncer(o);
  SegmentFilePtr seg3 = make_segment(3);
  syncer.sync(seg3, at(3 * kSegSize + 10));
  EXPECT_EQ(durable_seen(), std::vector<StreamPosition>{at(3 * kSegSize + 10)});
  EXPECT_EQ(published_on, std::this_thread::get_id());
  EXPECT_EQ(syncer.sync_calls(), 1u);
  syncer.complete(seg3, at(4 * kSegSize));
  EXPECT_EQ(segments_seen(), std::vector<std::string>{seg3->name});
  EXPECT_TRUE(fs::exists(seg3->final_path));
  EXPECT_NO_THROW(syncer.drain());
}

// Inline, a failure is reported once through on_failure (not thrown at the
// caller), is final, and drain() rethrows it.
TEST_F(WalSyncerTest, InlineFailureIsFinalAndReportedOnce) {
  WalSyncerOptions o = options();
  o.inline_jobs = true;
  WalSyncer syncer(o);
  SegmentFilePtr file = make_segment(3);
  file->final_path = dir_.path() / "missing" / file->name;
  EXPECT_NO_THROW(syncer.complete(file, at(4 * kSegSize)));
  EXPECT_EQ(failures_, 1);
  SegmentFilePtr seg4 = make_segment(4);
  syncer.sync(seg4, at(4 * kSegSize + 20));
  EXPECT_EQ(failures_, 1);
  EXPECT_TRUE(durable_seen().empty());
  EXPECT_THROW(syncer.drain(), Error);
}

TEST_F(WalSyncerTest, DeferredDurabilitySyncsNothingAndClaimsNothing) {
  WalSyncerOptions o = options();
  o.completion.sync = false;
  WalSyncer syncer(o);
  SegmentFilePtr file = make_segment(3);
  syncer.sync(file, at(3 * kSegSize + 1));
  syncer.complete(file, at(4 * kSegSize));
  syncer.drain();
  EXPECT_EQ(syncer.sync_calls(), 0u);
  EXPECT_TRUE(fs::exists(file->final_path));
  EXPECT_TRUE(durable_seen().empty());
}

TEST_F(WalSyncerTest, EveryFdatasyncIsTimed) {
  std::vector<std::chrono::nanoseconds> timed;  // the syncer thread's, read after drain()
  WalSyncerOptions o = options();
  o.completion.on_fdatasync = [&timed](std::chrono::nanoseconds took) { timed.push_back(took); };
  WalSyncer syncer(o);
  SegmentFilePtr file = make_segment(3);
  syncer.sync(file, at(3 * kSegSize + 1));
  syncer.drain();
  syncer.complete(file, at(4 * kSegSize));
  syncer.drain();
  ASSERT_EQ(timed.size(), 2u);  // the sync job's and the completion's
  EXPECT_EQ(syncer.sync_calls(), 2u);
  for (auto took : timed) EXPECT_GE(took.count(), 0);
}

TEST_F(WalSyncerTest, NothingIsTimedWhenNothingIsSynced) {
  int timed = 0;
  WalSyncerOptions o = options();
  o.completion.sync = false;
  o.completion.on_fdatasync = [&timed](std::chrono::nanoseconds) { ++timed; };
  WalSyncer syncer(o);
  SegmentFilePtr file = make_segment(3);
  syncer.sync(file, at(3 * kSegSize + 1));
  syncer.complete(file, at(4 * kSegSize));
  syncer.drain();
  EXPECT_EQ(timed, 0);
}

TEST_F(WalSyncerTest, TheDestructorRunsQueuedJobs) {
  SegmentFilePtr file = make_segment(3);
  {
    WalSyncer syncer(options());
    syncer.sync(file, at(3 * kSegSize + 1));
    syncer.complete(std::move(file), at(4 * kSegSize));
  }
  EXPECT_TRUE(fs::exists(dir_.path() / "000000010000000000000003"));
  EXPECT_EQ(segments_seen(), std::vector<std::string>{"000000010000000000000003"});
}

}  // namespace
}  // namespace walstream::storage
