#include "walreceiver/receive_stats.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>

namespace walstream::walreceiver {
namespace {

using namespace std::chrono_literals;
using protocol::Lsn;
using protocol::PgTimestamp;
using protocol::StreamPosition;

constexpr std::uint64_t kSegment = 16 * 1024 * 1024;

// A wall-clock moment and the same moment as the server would stamp it.
std::chrono::system_clock::time_point at(std::chrono::milliseconds since) {
  return std::chrono::system_clock::time_point(std::chrono::seconds(1'800'000'000)) + since;
}
PgTimestamp pg_at(std::chrono::milliseconds since) { return protocol::to_pg_timestamp(at(since)); }

TEST(HistogramTest, CountsEachObservationInOneBucket) {
  Histogram histogram({1, 10});
  for (double value : {0.5, 1.0, 1.5, 10.0, 11.0, 100.0}) histogram.observe(value);
  // (..1], (1..10], above: a value equal to a bound belongs to that bound.
  EXPECT_EQ(histogram.counts(), (std::vector<std::uint64_t>{2, 2, 2}));
  EXPECT_EQ(histogram.count(), 6U);
  EXPECT_DOUBLE_EQ(histogram.sum(), 124.0);
}

TEST(ReceiveStatsTest, CountsReceivedAndFlushedBytes) {
  ReceiveStats stats;
  stats.on_streaming({1, Lsn{kSegment}});
  EXPECT_TRUE(stats.streaming());
  EXPECT_EQ(stats.timeline(), 1U);
  stats.on_wal_data(Lsn{kSegment}, 8192, Lsn{kSegment + 16384}, pg_at(0ms));
  stats.on_wal_data(Lsn{kSegment + 8192}, 8192, Lsn{kSegment + 16384}, pg_at(1ms));
  EXPECT_EQ(stats.received_bytes(), 16384U);
  EXPECT_EQ(stats.received_lsn(), Lsn{kSegment + 16384});
  EXPECT_EQ(stats.flushed_bytes(), 0U);

  stats.on_durable({1, Lsn{kSegment + 8192}});
  EXPECT_EQ(stats.flushed_bytes(), 8192U);
  stats.on_durable({1, Lsn{kSegment + 16384}});
  EXPECT_EQ(stats.flushed_bytes(), 16384U);
  EXPECT_EQ(stats.flushed(), (StreamPosition{1, Lsn{kSegment + 16384}}));
  // Reported again (a merged sync job): nothing new.
  stats.on_durable({1, Lsn{kSegment + 16384}});
  EXPECT_EQ(stats.flushed_bytes(), 16384U);
}

TEST(ReceiveStatsTest, RewrittenSegmentAfterReconnectIsNotFlushedTwice) {
  ReceiveStats stats;
  stats.on_streaming({1, Lsn{kSegment}});
  stats.on_wal_data(Lsn{kSegment}, 65536, Lsn{kSegment + 65536}, pg_at(0ms));
  stats.on_durable({1, Lsn{kSegment + 65536}});
  stats.on_reconnect(at(5ms));
  EXPECT_FALSE(stats.streaming());
  EXPECT_EQ(stats.reconnects(), 1U);
  EXPECT_EQ(stats.last_error(), at(5ms));

  // The stream resumes at the segment start: received again, durable again.
  stats.on_streaming({1, Lsn{kSegment}});
  stats.on_wal_data(Lsn{kSegment}, 65536 + 8192, Lsn{kSegment + 65536 + 8192}, pg_at(10ms));
  stats.on_durable({1, Lsn{kSegment + 32768}});
  stats.on_durable({1, Lsn{kSegment + 65536 + 8192}});
  EXPECT_EQ(stats.received_bytes(), 2 * 65536U + 8192U);
  EXPECT_EQ(stats.flushed_bytes(), 65536U + 8192U);
  // The flushed LSN never goes back on a timeline.
  EXPECT_EQ(stats.flushed(), (StreamPosition{1, Lsn{kSegment + 65536 + 8192}}));
}

TEST(ReceiveStatsTest, NewTimelineCountsFromWhereItsStreamStarted) {
  ReceiveStats stats;
  stats.on_streaming({1, Lsn{kSegment}});
  stats.on_wal_data(Lsn{kSegment}, 0x2000, Lsn{kSegment + 0x2000}, pg_at(0ms));
  // Timeline 1 ended at kSegment + 0x1800; timeline 2 restarts at the
  // segment start, below what timeline 1 wrote.
  stats.on_streaming({2, Lsn{kSegment}});
  // A sync of timeline 1 reported after the switch still counts.
  stats.on_durable({1, Lsn{kSegment + 0x2000}});
  stats.on_wal_data(Lsn{kSegment}, 0x3000, Lsn{kSegment + 0x3000}, pg_at(5ms));
  stats.on_durable({2, Lsn{kSegment + 0x3000}});
  EXPECT_EQ(stats.flushed_bytes(), 0x2000U + 0x3000U);
  EXPECT_EQ(stats.flushed(), (StreamPosition{2, Lsn{kSegment + 0x3000}}));
  EXPECT_EQ(stats.timeline(), 2U);
}

TEST(ReceiveStatsTest, LagInBytesAndSeconds) {
  ReceiveStats stats;
  // Nothing heard from the server: no lag to speak of.
  EXPECT_EQ(stats.lag_bytes(), 0U);
  EXPECT_EQ(stats.lag_seconds(at(0ms)), 0.0);

  stats.on_streaming({1, Lsn{kSegment}});
  // The server is at +300 and sends the first 100 bytes at t=0.
  stats.on_wal_data(Lsn{kSegment}, 100, Lsn{kSegment + 300}, pg_at(0ms));
  EXPECT_EQ(stats.lag_bytes(), 300U);
  // Never caught up yet: at least since the first message.
  EXPECT_DOUBLE_EQ(stats.lag_seconds(at(2000ms)), 2.0);

  stats.on_wal_data(Lsn{kSegment + 100}, 200, Lsn{kSegment + 500}, pg_at(100ms));
  stats.on_wal_data(Lsn{kSegment + 300}, 200, Lsn{kSegment + 700}, pg_at(200ms));
  // Durable up to +300: everything the server had at t=0 (its end was +300).
  stats.on_durable({1, Lsn{kSegment + 300}});
  EXPECT_EQ(stats.lag_bytes(), 400U);
  EXPECT_DOUBLE_EQ(stats.lag_seconds(at(1000ms)), 1.0);
  // Durable up to +600: still only the state of t=100 (+500) is covered.
  stats.on_durable({1, Lsn{kSegment + 600}});
  EXPECT_DOUBLE_EQ(stats.lag_seconds(at(1000ms)), 0.9);
  // Everything the server had: no lag, however old the last message.
  stats.on_durable({1, Lsn{kSegment + 700}});
  EXPECT_EQ(stats.lag_bytes(), 0U);
  EXPECT_EQ(stats.lag_seconds(at(60'000ms)), 0.0);

  // A keepalive with a new end puts us behind again, since 0.2 s.
  stats.on_keepalive(Lsn{kSegment + 900}, pg_at(300ms));
  EXPECT_EQ(stats.lag_bytes(), 200U);
  EXPECT_DOUBLE_EQ(stats.lag_seconds(at(1200ms)), 1.0);
  EXPECT_EQ(stats.server_wal_end(), Lsn{kSegment + 900});
  EXPECT_EQ(stats.server_send_time(), pg_at(300ms));
}

TEST(ReceiveStatsTest, LagSecondsStaysCloseWithManyMoreMessagesThanSamples) {
  ReceiveStats stats;
  stats.on_streaming({1, Lsn{kSegment}});
  // 10 messages per millisecond for 10 s: far more than the samples kept.
  std::uint64_t end = kSegment;
  for (int ms = 0; ms < 10'000; ++ms) {
    for (int i = 0; i < 10; ++i) {
      end += 1000;
      stats.on_wal_data(Lsn{end - 1000}, 1000, Lsn{end}, pg_at(std::chrono::milliseconds(ms)));
    }
  }
  // Durable up to what the server had at t=4000 ms (+1000 per 0.1 ms).
  stats.on_durable({1, Lsn{kSegment + 4001ULL * 10 * 1000}});
  const double lag = stats.lag_seconds(at(10'000ms));
  // 6 s, overstated by at most the gap between the samples kept around 4 s
  // (about 1/256 of the 10 s they span).
  EXPECT_GE(lag, 6.0);
  EXPECT_LE(lag, 6.0 + 10.0 / 256);
}

TEST(ReceiveStatsTest, HistogramsAndCounters) {
  ReceiveStats stats;
  stats.on_fdatasync(std::chrono::microseconds(700));
  stats.on_fdatasync(std::chrono::milliseconds(20));
  stats.on_write_batch(8192);
  stats.on_write_batch(8 * 1024 * 1024);
  stats.on_segment_completed();
  stats.on_segment_completed();
  stats.on_segment_compressed();
  EXPECT_EQ(stats.fdatasync_seconds().count(), 2U);
  EXPECT_NEAR(stats.fdatasync_seconds().sum(), 0.0207, 1e-9);
  EXPECT_EQ(stats.write_batch_bytes().count(), 2U);
  EXPECT_EQ(stats.write_batch_bytes().counts().front(), 1U);  // 8192 <= 8192
  EXPECT_EQ(stats.write_batch_bytes().counts().back(), 0U);   // nothing above 8 MiB
  EXPECT_EQ(stats.segments_completed(), 2U);
  EXPECT_EQ(stats.segments_compressed(), 1U);
  EXPECT_EQ(stats.files_uploaded(), 0U);
  stats.on_file_uploaded();
  EXPECT_EQ(stats.files_uploaded(), 1U);
  stats.on_error(at(7ms));
  EXPECT_EQ(stats.last_error(), at(7ms));
  EXPECT_EQ(stats.reconnects(), 0U);
}

}  // namespace
}  // namespace walstream::walreceiver
