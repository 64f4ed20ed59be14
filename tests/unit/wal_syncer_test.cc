#include "storage/wal_syncer.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <future>
#include <mutex>
#include <string>
#include <vector>

#include "protocol/error.h"
#include "protocol/wal_file_names.h"
#include "storage/wal_segment_writer.h"
#include "tests/support/temp_dir.h"

namespace walstream::storage {
namespace {

namespace fs = std::filesystem;
using protocol::Lsn;
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
    o.directory = dir_.path();
    o.on_durable = [this](Lsn lsn) {
      std::lock_guard lock(mutex_);
      durable_seen_.push_back(lsn);
    };
    o.on_segment_durable = [this](const std::string& name) {
      std::lock_guard lock(mutex_);
      segments_seen_.push_back(name);
    };
    o.on_failure = [this](std::exception_ptr) { ++failures_; };
    return o;
  }

  std::vector<Lsn> durable_seen() {
    std::lock_guard lock(mutex_);
    return durable_seen_;
  }
  std::vector<std::string> segments_seen() {
    std::lock_guard lock(mutex_);
    return segments_seen_;
  }

  TempDir dir_{"syncer"};
  std::mutex mutex_;
  std::vector<Lsn> durable_seen_;
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

TEST_F(WalSyncerTest, SyncRequestAdvancesDurable) {
  WalSyncer syncer(options());
  EXPECT_EQ(syncer.durable(), Lsn{});
  SegmentFilePtr file = make_segment(3);
  syncer.request_sync(file, Lsn{3 * kSegSize + 100});
  syncer.drain();
  EXPECT_EQ(syncer.durable(), Lsn{3 * kSegSize + 100});
  EXPECT_EQ(syncer.sync_calls(), 1u);
  EXPECT_TRUE(file->entry_durable);
  EXPECT_TRUE(file->fd);
  EXPECT_TRUE(fs::exists(file->partial_path));
  EXPECT_EQ(durable_seen(), std::vector<Lsn>{Lsn{3 * kSegSize + 100}});
  EXPECT_EQ(failures_, 0);
}

TEST_F(WalSyncerTest, CompleteRenamesAndReportsTheSegment) {
  WalSyncer syncer(options());
  SegmentFilePtr file = make_segment(3, "full segment");
  syncer.complete(file, Lsn{4 * kSegSize});
  syncer.drain();
  EXPECT_FALSE(fs::exists(dir_.path() / "000000010000000000000003.partial"));
  ASSERT_TRUE(fs::exists(dir_.path() / "000000010000000000000003"));
  EXPECT_EQ(read_file(dir_.path() / "000000010000000000000003"), "full segment");
  EXPECT_FALSE(file->fd);  // closed, although the test still holds the pointer
  EXPECT_EQ(syncer.durable(), Lsn{4 * kSegSize});
  EXPECT_EQ(segments_seen(), std::vector<std::string>{"000000010000000000000003"});
  EXPECT_EQ(syncer.sync_calls(), 1u);
}

TEST_F(WalSyncerTest, ManyRequestsWhileBusyAreMerged) {
  Gate gate;
  WalSyncerOptions o = options();
  auto record = o.on_durable;
  o.on_durable = [&](Lsn lsn) {
    record(lsn);
    gate.block();
  };
  WalSyncer syncer(o);
  SegmentFilePtr file = make_segment(3);
  syncer.request_sync(file, Lsn{3 * kSegSize + 1});
  gate.wait_entered();
  constexpr int kRequests = 100;
  for (int i = 2; i <= kRequests; ++i) syncer.request_sync(file, Lsn{3 * kSegSize + i});
  gate.release();
  syncer.drain();
  EXPECT_EQ(syncer.durable(), Lsn{3 * kSegSize + kRequests});
  // One for the first request, one for the 99 queued behind it.
  EXPECT_EQ(syncer.sync_calls(), 2u);
  EXPECT_LT(syncer.sync_calls(), static_cast<std::uint64_t>(kRequests));
  EXPECT_EQ(durable_seen(), (std::vector<Lsn>{Lsn{3 * kSegSize + 1}, Lsn{3 * kSegSize + 100}}));
}

TEST_F(WalSyncerTest, CompleteIsNeverMergedAwayAndOrderIsKept) {
  Gate gate;
  WalSyncerOptions o = options();
  auto record = o.on_durable;
  o.on_durable = [&](Lsn lsn) {
    record(lsn);
    gate.block();
  };
  WalSyncer syncer(o);
  SegmentFilePtr seg3 = make_segment(3);
  SegmentFilePtr seg4 = make_segment(4);
  syncer.request_sync(seg3, Lsn{3 * kSegSize + 10});
  gate.wait_entered();
  syncer.request_sync(seg3, Lsn{3 * kSegSize + 20});
  syncer.request_sync(seg3, Lsn{3 * kSegSize + 30});
  syncer.complete(seg3, Lsn{4 * kSegSize});
  syncer.request_sync(seg4, Lsn{4 * kSegSize + 10});
  syncer.request_sync(seg4, Lsn{4 * kSegSize + 20});
  gate.release();
  syncer.drain();

  EXPECT_TRUE(fs::exists(seg3->final_path));
  EXPECT_FALSE(fs::exists(seg3->partial_path));
  EXPECT_TRUE(fs::exists(seg4->partial_path));
  EXPECT_EQ(segments_seen(), std::vector<std::string>{seg3->name});
  // First request, the merged pair, the completion, the merged pair of seg4.
  EXPECT_EQ(syncer.sync_calls(), 4u);
  EXPECT_EQ(durable_seen(), (std::vector<Lsn>{Lsn{3 * kSegSize + 10}, Lsn{3 * kSegSize + 30},
                                              Lsn{4 * kSegSize}, Lsn{4 * kSegSize + 20}}));
}

TEST_F(WalSyncerTest, MergedRunOverTwoFilesSyncsBoth) {
  Gate gate;
  WalSyncerOptions o = options();
  o.on_durable = [&](Lsn) { gate.block(); };
  WalSyncer syncer(o);
  SegmentFilePtr first = make_segment(3);
  SegmentFilePtr a = make_segment(4);
  SegmentFilePtr b = make_segment(5);
  syncer.request_sync(first, Lsn{3 * kSegSize + 1});
  gate.wait_entered();
  // E.g. a timeline switch left segment 4 .partial and moved on to 5.
  syncer.request_sync(a, Lsn{4 * kSegSize + 1});
  syncer.request_sync(b, Lsn{5 * kSegSize + 1});
  syncer.request_sync(a, Lsn{4 * kSegSize + 2});
  gate.release();
  syncer.drain();
  EXPECT_EQ(syncer.sync_calls(), 3u);
  EXPECT_TRUE(a->entry_durable);
  EXPECT_TRUE(b->entry_durable);
  EXPECT_EQ(syncer.durable(), Lsn{5 * kSegSize + 1});
}

TEST_F(WalSyncerTest, DurableIsMonotonic) {
  WalSyncer syncer(options());
  SegmentFilePtr file = make_segment(3);
  syncer.request_sync(file, Lsn{3 * kSegSize + 500});
  syncer.request_sync(file, Lsn{3 * kSegSize + 100});
  syncer.drain();
  EXPECT_EQ(syncer.durable(), Lsn{3 * kSegSize + 500});
  syncer.request_sync(file, Lsn{3 * kSegSize + 200});
  syncer.drain();
  EXPECT_EQ(syncer.durable(), Lsn{3 * kSegSize + 500});
  Lsn previous;
  for (Lsn lsn : durable_seen()) {
    EXPECT_GE(lsn, previous);
    previous = lsn;
  }
}

TEST_F(WalSyncerTest, ValidateFailureKeepsPartialAndIsReportedOnce) {
  WalSyncerOptions o = options();
  std::string validated;
  o.validate = [&](const SegmentFile& file) -> std::string {
    // The descriptor is readable: a validator checks the first page with it.
    char buffer[3] = {};
    EXPECT_EQ(::pread(file.fd.get(), buffer, sizeof buffer, 0), 3);
    validated.assign(buffer, sizeof buffer);
    return "first page is for 0/0, not 0/300000";
  };
  WalSyncer syncer(o);
  SegmentFilePtr seg3 = make_segment(3, "bad");
  SegmentFilePtr seg4 = make_segment(4);
  syncer.complete(seg3, Lsn{4 * kSegSize});
  syncer.request_sync(seg4, Lsn{4 * kSegSize + 10});
  syncer.complete(seg4, Lsn{5 * kSegSize});
  try {
    syncer.drain();
    FAIL() << "no exception";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kIo);
    EXPECT_EQ(std::string(e.what()), "completed WAL segment \"" + seg3->partial_path.string() +
                                         "\" is not valid: first page is for 0/0, not 0/300000");
  }
  EXPECT_EQ(validated, "bad");
  EXPECT_TRUE(fs::exists(seg3->partial_path));
  EXPECT_FALSE(fs::exists(seg3->final_path));
  // Later jobs were ignored.
  EXPECT_TRUE(fs::exists(seg4->partial_path));
  EXPECT_FALSE(fs::exists(seg4->final_path));
  EXPECT_EQ(syncer.durable(), Lsn{});
  EXPECT_TRUE(segments_seen().empty());
  EXPECT_EQ(failures_, 1);
  // And stays failed.
  syncer.request_sync(seg4, Lsn{4 * kSegSize + 20});
  EXPECT_THROW(syncer.drain(), Error);
  EXPECT_EQ(failures_, 1);
}

TEST_F(WalSyncerTest, RenameFailureIsReported) {
  WalSyncer syncer(options());
  SegmentFilePtr file = make_segment(3);
  file->final_path = dir_.path() / "missing" / file->name;
  syncer.complete(file, Lsn{4 * kSegSize});
  try {
    syncer.drain();
    FAIL() << "no exception";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kIo);
    EXPECT_NE(std::string(e.what()).find("could not rename file"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("No such file or directory"), std::string::npos);
  }
  EXPECT_EQ(failures_, 1);
  EXPECT_EQ(syncer.durable(), Lsn{});
}

TEST_F(WalSyncerTest, NoSyncSkipsFdatasync) {
  WalSyncerOptions o = options();
  o.sync = false;
  WalSyncer syncer(o);
  SegmentFilePtr file = make_segment(3);
  syncer.request_sync(file, Lsn{3 * kSegSize + 1});
  syncer.complete(file, Lsn{4 * kSegSize});
  syncer.drain();
  EXPECT_EQ(syncer.sync_calls(), 0u);
  EXPECT_TRUE(fs::exists(file->final_path));
  EXPECT_EQ(syncer.durable(), Lsn{4 * kSegSize});
}

TEST_F(WalSyncerTest, DestructorRunsQueuedJobs) {
  SegmentFilePtr file = make_segment(3);
  {
    WalSyncer syncer(options());
    syncer.request_sync(file, Lsn{3 * kSegSize + 1});
    syncer.complete(std::move(file), Lsn{4 * kSegSize});
  }
  EXPECT_TRUE(fs::exists(dir_.path() / "000000010000000000000003"));
  EXPECT_EQ(segments_seen(), std::vector<std::string>{"000000010000000000000003"});
}

TEST_F(WalSyncerTest, WithTheWriterInReceiverMode) {
  WalSyncer syncer(options());
  WalWriterOptions wo;
  wo.directory = dir_.path();
  wo.segment_size = kSegSize;
  wo.sync = false;  // the syncer makes things durable
  wo.reset_existing_partial = true;
  wo.on_segment_full = [&](SegmentFilePtr file, Lsn end) { syncer.complete(std::move(file), end); };
  WalSegmentWriter writer(wo);

  std::string data(2 * kSegSize + 1000, '\0');
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 7 + i / 4096);
  constexpr std::size_t kChunk = 100000;
  Lsn lsn{3 * kSegSize};
  for (std::size_t at = 0; at < data.size(); at += kChunk) {
    std::size_t n = std::min(kChunk, data.size() - at);
    writer.write(1, lsn, as_bytes(data).subspan(at, n));
    lsn.value += n;
    syncer.request_sync(writer.current_segment(), lsn);
  }
  syncer.request_sync(writer.current_segment(), writer.position());
  writer.finish(WalSegmentWriter::FinishMode::kKeepPartial);
  syncer.drain();

  EXPECT_EQ(syncer.durable(), Lsn{3 * kSegSize + data.size()});
  EXPECT_EQ(read_file(dir_.path() / "000000010000000000000003"), data.substr(0, kSegSize));
  EXPECT_EQ(read_file(dir_.path() / "000000010000000000000004"), data.substr(kSegSize, kSegSize));
  EXPECT_EQ(read_file(dir_.path() / "000000010000000000000005.partial").substr(0, 1000),
            data.substr(2 * kSegSize));
  EXPECT_EQ(segments_seen(),
            (std::vector<std::string>{"000000010000000000000003", "000000010000000000000004"}));
  EXPECT_EQ(failures_, 0);
}

}  // namespace
}  // namespace walstream::storage
