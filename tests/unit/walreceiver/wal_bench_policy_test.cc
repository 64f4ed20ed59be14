#include "walreceiver/wal_bench_policy.h"

#include <gtest/gtest.h>

#include <vector>

#include "protocol/error.h"

namespace walstream::walreceiver {
namespace {

using namespace std::chrono_literals;
using protocol::Lsn;
using protocol::StreamPosition;
using TimePoint = WalBenchPolicy::TimePoint;

constexpr std::uint64_t kSegment = 16 * 1024 * 1024;

struct StartCase {
  const char* name;
  WalStartFrom wanted;
  std::optional<StreamPosition> slot_restart;
  WalBenchStart expected;
};

TEST(ChooseWalStartTest, RetainedWhenTheSlotTellsElseCurrent) {
  // The server is on timeline 2 at 0/5123456.
  const Lsn server{0x5123456};
  const std::vector<StartCase> cases = {
      {"retained: the slot's restart segment",
       WalStartFrom::kRetained,
       StreamPosition{2, Lsn{0x2000028}},
       {{2, Lsn{0x2000000}}, WalStartFrom::kRetained}},
      {"retained, server before 15: current segment",
       WalStartFrom::kRetained,
       std::nullopt,
       {{2, Lsn{0x5000000}}, WalStartFrom::kCurrent}},
      {"retained, restart on an older timeline: current segment",
       WalStartFrom::kRetained,
       StreamPosition{1, Lsn{0x2000028}},
       {{2, Lsn{0x5000000}}, WalStartFrom::kCurrent}},
      {"retained, no restart position reserved",
       WalStartFrom::kRetained,
       StreamPosition{2, Lsn{0}},
       {{2, Lsn{0x5000000}}, WalStartFrom::kCurrent}},
      {"current ignores the slot",
       WalStartFrom::kCurrent,
       StreamPosition{2, Lsn{0x2000028}},
       {{2, Lsn{0x5000000}}, WalStartFrom::kCurrent}},
  };
  for (const auto& c : cases) {
    const WalBenchStart start = choose_wal_start(c.wanted, 2, server, c.slot_restart, kSegment);
    EXPECT_EQ(start.position, c.expected.position) << c.name;
    EXPECT_EQ(start.from, c.expected.from) << c.name;
  }
}

TEST(ChooseWalStartTest, AGivenPositionStartsAtItsSegment) {
  const Lsn server{0x5123456};
  const WalBenchStart start = choose_wal_start(
      WalStartFrom::kGiven, 2, server, StreamPosition{2, Lsn{0x2000028}}, kSegment, Lsn{0x3000100});
  EXPECT_EQ(start.position, (StreamPosition{2, Lsn{0x3000000}}));
  EXPECT_EQ(start.from, WalStartFrom::kGiven);
  // The server's own position is a valid start.
  EXPECT_EQ(
      choose_wal_start(WalStartFrom::kGiven, 2, server, std::nullopt, kSegment, server).position,
      (StreamPosition{2, Lsn{0x5000000}}));
}

TEST(ChooseWalStartTest, AGivenPositionBeyondTheServersIsAUsageError) {
  try {
    (void)choose_wal_start(WalStartFrom::kGiven, 2, Lsn{0x5123456}, std::nullopt, kSegment,
                           Lsn{0x6000000});
    FAIL() << "no error";
  } catch (const Error& error) {
    EXPECT_EQ(error.kind(), ErrorKind::kUsage);
    EXPECT_STREQ(error.what(), "--wal-start 0/6000000 lies beyond the server's WAL (0/5123456)");
    EXPECT_FALSE(error.hint().empty());
  }
}

class WalBenchPolicyTest : public ::testing::Test {
 protected:
  const TimePoint t0_ = TimePoint{} + 1000s;
  const StreamPosition start_{1, Lsn{0x3000000}};

  WalBenchLimits limits(std::chrono::seconds duration, std::optional<std::uint64_t> bytes = {},
                        bool report_write = false) const {
    WalBenchLimits l;
    l.duration = duration;
    l.max_bytes = bytes;
    l.status_interval = 10s;
    l.report_write = report_write;
    return l;
  }
};

TEST_F(WalBenchPolicyTest, StopsAtTheDuration) {
  WalBenchPolicy policy(limits(5s), start_, t0_);
  EXPECT_EQ(policy.stop_reason(t0_), std::nullopt);
  EXPECT_EQ(policy.stop_reason(t0_ + 4999ms), std::nullopt);
  EXPECT_EQ(policy.stop_reason(t0_ + 5s), WalStopReason::kDuration);
  EXPECT_EQ(policy.next_deadline(), t0_ + 5s);  // before the first status is due
}

TEST_F(WalBenchPolicyTest, StopsOnceTheBytesArrivedEvenBeforeTheDuration) {
  WalBenchPolicy policy(limits(60s, 1000), start_, t0_);
  policy.on_wal(Lsn{0x3000000}, 600);
  EXPECT_EQ(policy.stop_reason(t0_ + 1s), std::nullopt);
  policy.on_wal(Lsn{0x3000000 + 600}, 600);
  EXPECT_EQ(policy.stop_reason(t0_ + 1s), WalStopReason::kBytes);
  // Both reached: the byte count is what the user asked for.
  EXPECT_EQ(policy.stop_reason(t0_ + 60s), WalStopReason::kBytes);
}

TEST_F(WalBenchPolicyTest, CountsAndFollowsTheStream) {
  WalBenchPolicy policy(limits(10s), start_, t0_);
  policy.on_wal(Lsn{0x3000000}, 8192);
  policy.on_keepalive(false);
  policy.on_wal(Lsn{0x3002000}, 0);
  policy.on_wal(Lsn{0x3002000}, 100);
  EXPECT_EQ(policy.bytes(), 8292U);
  EXPECT_EQ(policy.messages(), 4U);
  EXPECT_EQ(policy.keepalives(), 1U);
  EXPECT_EQ(policy.position(), (StreamPosition{1, Lsn{0x3002064}}));
}

TEST_F(WalBenchPolicyTest, RefusesWalThatDoesNotContinueTheStream) {
  WalBenchPolicy policy(limits(10s), start_, t0_);
  policy.on_wal(Lsn{0x3000000}, 100);
  for (Lsn wrong : {Lsn{0x3000000}, Lsn{0x3000065}, Lsn{0x2FFFFFF}}) {
    try {
      policy.on_wal(wrong, 1);
      ADD_FAILURE() << "accepted WAL from " << protocol::to_string(wrong);
    } catch (const Error& error) {
      EXPECT_EQ(error.kind(), ErrorKind::kProtocol);
    }
  }
  EXPECT_EQ(policy.bytes(), 100U);
}

TEST_F(WalBenchPolicyTest, StatusEveryIntervalAndOnRequest) {
  WalBenchPolicy policy(limits(60s), start_, t0_);
  EXPECT_FALSE(policy.status_due(t0_ + 9s));
  EXPECT_EQ(policy.next_deadline(), t0_ + 10s);
  EXPECT_TRUE(policy.status_due(t0_ + 10s));
  (void)policy.take_status(t0_ + 10s);
  EXPECT_FALSE(policy.status_due(t0_ + 11s));
  EXPECT_EQ(policy.next_deadline(), t0_ + 20s);

  policy.on_keepalive(/*reply_requested=*/false);
  EXPECT_FALSE(policy.status_due(t0_ + 11s));
  policy.on_keepalive(/*reply_requested=*/true);
  policy.on_keepalive(/*reply_requested=*/false);  // a later one does not cancel the request
  EXPECT_TRUE(policy.status_due(t0_ + 11s));
  (void)policy.take_status(t0_ + 11s);
  EXPECT_FALSE(policy.status_due(t0_ + 11s));
  EXPECT_EQ(policy.next_deadline(), t0_ + 21s);
}

TEST_F(WalBenchPolicyTest, NeverClaimsAFlushAndAWriteOnlyOfWrittenWal) {
  WalBenchPolicy discarding(limits(60s), start_, t0_);
  discarding.on_wal(Lsn{0x3000000}, 4096);
  auto update = discarding.take_status(t0_ + 1s);
  EXPECT_FALSE(update.write.valid());
  EXPECT_FALSE(update.flush.valid());
  EXPECT_FALSE(update.apply.valid());
  EXPECT_FALSE(update.reply_requested);

  WalBenchPolicy writing(limits(60s, std::nullopt, /*report_write=*/true), start_, t0_);
  writing.on_wal(Lsn{0x3000000}, 4096);
  update = writing.take_status(t0_ + 1s);
  EXPECT_EQ(update.write, Lsn{0x3001000});
  EXPECT_FALSE(update.flush.valid());
}

}  // namespace
}  // namespace walstream::walreceiver
