// Sync and rename failures of a WAL archive, injected by the fault shim at
// every such call of a run: the failure is reported once, nothing is claimed
// durable after it, a failed fdatasync is never retried, and the error names
// the file or directory.
#include <gtest/gtest.h>

#include <exception>
#include <filesystem>
#include <mutex>
#include <span>
#include <string>
#include <tuple>
#include <vector>

#include "protocol/error.h"
#include "storage/wal_archive_writer.h"
#include "tests/support/fault_shim_control.h"
#include "tests/support/sample_data.h"
#include "tests/support/temp_dir.h"

namespace walstream::storage {
namespace {

namespace fs = std::filesystem;
using protocol::StreamPosition;
using test_support::FaultShim;
using test_support::random_bytes;
using test_support::ScopedFault;
using test_support::TempDir;

constexpr std::uint64_t kSegSize = 1024 * 1024;
constexpr std::uint64_t kStart = 3 * kSegSize;

// What the archive told its owner, in order.
struct Events {
  std::mutex mutex;
  std::vector<StreamPosition> durable;
  int failures = 0;
  bool durable_after_failure = false;
};

// Writes 2.5 segments in 100 kB messages, requesting a sync after each, then
// finishes; returns finish()'s error, if any.
std::exception_ptr archive_wal(const fs::path& dir, bool sync_inline, Events& events) {
  WalArchiveWriterOptions options;
  options.directory = dir;
  options.segment_size = kSegSize;
  options.durability = WalDurability::kSynced;
  options.sync_inline = sync_inline;
  options.preallocation = SegmentPreallocation::kZeroFill;
  options.on_durable = [&events](const StreamPosition& position) {
    std::lock_guard lock(events.mutex);
    events.durable.push_back(position);
    if (events.failures > 0) events.durable_after_failure = true;
  };
  options.on_failure = [&events](std::exception_ptr) {
    std::lock_guard lock(events.mutex);
    ++events.failures;
  };
  const std::string wal = random_bytes(2 * kSegSize + kSegSize / 2, 5);
  WalArchiveWriter archive(options);
  constexpr std::size_t kMessage = 100 * 1000;
  for (std::size_t at = 0; at < wal.size(); at += kMessage) {
    const ByteView piece = as_bytes(wal).subspan(at, std::min(kMessage, wal.size() - at));
    archive.write(StreamPosition{1, protocol::Lsn{kStart + at}},
                  std::span<const ByteView>(&piece, 1));
    archive.request_sync(StreamPosition{1, protocol::Lsn{kStart + at + piece.size()}});
  }
  try {
    archive.finish();
  } catch (...) {
    return std::current_exception();
  }
  return nullptr;
}

using SyncFault = std::tuple<const char*, const char*, bool>;  // kind, errno, inline

class WalArchiveSyncFaultTest : public ::testing::TestWithParam<SyncFault> {};

TEST_P(WalArchiveSyncFaultTest, EveryFailureIsFinalAndNamesItsFile) {
  const auto& [kind, error, sync_inline] = GetParam();
  long count = 0;
  {
    TempDir dir("sync-fault");
    Events events;
    ScopedFault counting(std::string(kind) + ":0:" + error, dir.path().string());
    EXPECT_EQ(archive_wal(dir.path(), sync_inline, events), nullptr);
    count = FaultShim::calls();
    EXPECT_EQ(events.failures, 0);
    ASSERT_FALSE(events.durable.empty());
    EXPECT_EQ(events.durable.back().lsn.value, kStart + 2 * kSegSize + kSegSize / 2);
  }
  ASSERT_GT(count, 0) << kind << " is never called";
  for (long n = 1; n <= count; ++n) {
    SCOPED_TRACE(std::string(kind) + " call " + std::to_string(n) + " of " + std::to_string(count));
    TempDir dir("sync-fault");
    Events events;
    ScopedFault fault(std::string(kind) + ":" + std::to_string(n) + ":" + error,
                      dir.path().string());
    std::exception_ptr failure = archive_wal(dir.path(), sync_inline, events);
    // The syncer thread merges syncs as they queue up, so a run may make
    // fewer calls than the counting one: without a failed call it succeeds.
    if (FaultShim::failures() == 0) {
      EXPECT_EQ(failure, nullptr);
      continue;
    }
    ASSERT_NE(failure, nullptr) << "finish() succeeded after a failed " << kind;
    try {
      std::rethrow_exception(failure);
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::kIo) << e.what();
      const std::string failed = FaultShim::failed_path();
      EXPECT_NE(std::string(e.what()).find(fs::path(failed).filename().string()), std::string::npos)
          << "the error does not name " << failed << ": " << e.what();
    }
    // Reported once through on_failure, or (the last directory fsync of
    // finish) thrown by finish() alone.
    EXPECT_LE(events.failures, 1) << "the failure was reported " << events.failures << " times";
    EXPECT_FALSE(events.durable_after_failure) << "a position was claimed durable after it";
    // Nothing of the kind after the failed call: a failed sync is not retried
    // (and a failed rename is not followed by more work).
    EXPECT_EQ(FaultShim::calls(), n);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Faults, WalArchiveSyncFaultTest,
    ::testing::Values(SyncFault{"fdatasync", "EIO", true}, SyncFault{"fdatasync", "EIO", false},
                      SyncFault{"fsyncdir", "EIO", true}, SyncFault{"fsyncdir", "EIO", false},
                      SyncFault{"rename", "ENOSPC", true}, SyncFault{"rename", "EIO", false}));

}  // namespace
}  // namespace walstream::storage
