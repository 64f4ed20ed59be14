#include "walreceiver/remote_ack.h"

#include <gtest/gtest.h>

#include "protocol/error.h"

namespace walstream::walreceiver {
namespace {

using protocol::Lsn;
using protocol::StreamPosition;

constexpr std::uint64_t kSegment = 16 << 20;

StreamPosition at(protocol::TimelineId timeline, std::uint64_t lsn) {
  return StreamPosition{timeline, Lsn{lsn}};
}

TEST(RemoteAckTrackerTest, NothingIsReportableBeforeTheOldestSegmentIsConfirmed) {
  RemoteAckTracker tracker;
  tracker.completed("000000010000000000000001", at(1, 2 * kSegment));
  tracker.completed("000000010000000000000002", at(1, 3 * kSegment));
  EXPECT_FALSE(tracker.confirmed("000000010000000000000002"));
  EXPECT_EQ(tracker.reportable(), std::nullopt);
  EXPECT_EQ(tracker.pending(), 2u);
  // The older one arrives: both are reportable at once.
  EXPECT_TRUE(tracker.confirmed("000000010000000000000001"));
  EXPECT_EQ(tracker.reportable(), at(1, 3 * kSegment));
  EXPECT_EQ(tracker.pending(), 0u);
}

TEST(RemoteAckTrackerTest, ConfirmationsInOrderAdvanceOneByOne) {
  RemoteAckTracker tracker;
  for (std::uint64_t segno = 1; segno <= 3; ++segno) {
    tracker.completed("seg" + std::to_string(segno), at(1, (segno + 1) * kSegment));
  }
  for (std::uint64_t segno = 1; segno <= 3; ++segno) {
    EXPECT_TRUE(tracker.confirmed("seg" + std::to_string(segno)));
    EXPECT_EQ(tracker.reportable(), at(1, (segno + 1) * kSegment));
    EXPECT_EQ(tracker.pending(), 3 - segno);
  }
}

TEST(RemoteAckTrackerTest, AHistoryFileHoldsBackItsTimelinesWal) {
  RemoteAckTracker tracker;
  tracker.completed("000000010000000000000001", at(1, 2 * kSegment));
  tracker.completed("00000002.history", std::nullopt);
  // The new timeline goes on from the start of the switch segment.
  tracker.completed("000000020000000000000002", at(2, 3 * kSegment));
  EXPECT_TRUE(tracker.confirmed("000000010000000000000001"));
  EXPECT_EQ(tracker.reportable(), at(1, 2 * kSegment));
  EXPECT_FALSE(tracker.confirmed("000000020000000000000002"));
  EXPECT_EQ(tracker.reportable(), at(1, 2 * kSegment));
  // The history file holds no WAL, but lets what follows through.
  EXPECT_TRUE(tracker.confirmed("00000002.history"));
  EXPECT_EQ(tracker.reportable(), at(2, 3 * kSegment));
}

TEST(RemoteAckTrackerTest, AConfirmedHistoryFileAloneReportsNothing) {
  RemoteAckTracker tracker;
  tracker.completed("00000002.history", std::nullopt);
  EXPECT_FALSE(tracker.confirmed("00000002.history"));
  EXPECT_EQ(tracker.reportable(), std::nullopt);
}

TEST(RemoteAckTrackerTest, ALaterTimelineMayRestartBelowTheOldEnd) {
  RemoteAckTracker tracker;
  // Timeline 1 ends inside segment 2 at its switch point; timeline 2's copy
  // of segment 2 ends with the segment.
  tracker.completed("000000010000000000000002.partial", at(1, 2 * kSegment + 4096));
  EXPECT_NO_THROW(tracker.completed("000000020000000000000002", at(2, 3 * kSegment)));
  EXPECT_NO_THROW(tracker.completed("000000020000000000000003", at(2, 4 * kSegment)));
}

TEST(RemoteAckTrackerTest, MistakesOfTheCallerAreInternalErrors) {
  RemoteAckTracker tracker;
  tracker.completed("000000010000000000000002", at(1, 3 * kSegment));
  EXPECT_THROW(tracker.completed("000000010000000000000002", at(1, 3 * kSegment)), Error);
  EXPECT_THROW(tracker.completed("000000010000000000000001", at(1, 2 * kSegment)), Error);
  EXPECT_THROW(tracker.confirmed("000000010000000000000009"), Error);
  EXPECT_TRUE(tracker.confirmed("000000010000000000000002"));
  // Confirmed and passed: a second confirmation is a mistake too.
  EXPECT_THROW(tracker.confirmed("000000010000000000000002"), Error);
}

}  // namespace
}  // namespace walstream::walreceiver
