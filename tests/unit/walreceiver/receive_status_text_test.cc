#include "walreceiver/receive_status_text.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

namespace walstream::walreceiver {
namespace {

using namespace std::chrono_literals;
using protocol::Lsn;

constexpr std::uint64_t kMB = 1024 * 1024;

struct TextCase {
  const char* what;
  ReceiveStatus status;
  std::string text;
};

ReceiveStatus status(bool streaming, protocol::TimelineId timeline, std::optional<Lsn> received,
                     std::optional<Lsn> flushed, std::uint64_t lag_bytes, double lag_seconds,
                     std::optional<double> rate) {
  return ReceiveStatus{streaming, timeline, received, flushed, lag_bytes, lag_seconds, rate};
}

TEST(ReceiveStatusTextTest, Lines) {
  const TextCase cases[] = {
      {"before the first COPY", status(false, 0, {}, {}, 0, 0, {}), "connecting"},
      {"streaming, nothing yet", status(true, 1, {}, {}, 0, 0, {}), "timeline 1: waiting for WAL"},
      {"lost before any WAL", status(false, 1, {}, {}, 0, 0, {}), "timeline 1: reconnecting"},
      {"behind", status(true, 1, Lsn{0x3A000000}, Lsn{0x39FF8000}, 512 * 1024, 0.3, 45.3 * kMB),
       "timeline 1: received 0/3A000000, flushed 0/39FF8000, 512.0 kB (0.3 s) behind, "
       "45.3 MB/s"},
      {"far behind",
       status(true, 2, Lsn{0x100000000}, Lsn{0xFF000000}, 3ULL << 30, 754.4, 120.0 * kMB),
       "timeline 2: received 1/0, flushed 0/FF000000, 3.0 GB (754 s) behind, 120.0 MB/s"},
      {"caught up", status(true, 1, Lsn{0x3000060}, Lsn{0x3000060}, 0, 0, 0.0),
       "timeline 1: received 0/3000060, flushed 0/3000060, up to date, 0 bytes/s"},
      {"no rate yet", status(true, 1, Lsn{0x3000060}, Lsn{0x3000060}, 0, 0, {}),
       "timeline 1: received 0/3000060, flushed 0/3000060, up to date"},
      {"nothing durable yet", status(true, 1, Lsn{0x3000060}, {}, 0x60, 0.01, {}),
       "timeline 1: received 0/3000060, flushed -, 96 bytes (0.0 s) behind"},
      {"between connections", status(false, 1, Lsn{0x3000060}, Lsn{0x3000000}, 0x60, 1, 0.0),
       "timeline 1: received 0/3000060, flushed 0/3000000, reconnecting"},
  };
  for (const auto& c : cases) EXPECT_EQ(receive_status_text(c.status), c.text) << c.what;
}

TEST(ReceiveStatusTextTest, FromStats) {
  ReceiveStats stats;
  const auto now = std::chrono::system_clock::time_point(std::chrono::seconds(1'800'000'000));
  EXPECT_EQ(receive_status_text(receive_status(stats, now, std::nullopt)), "connecting");
  stats.on_streaming({1, Lsn{0x1000000}});
  stats.on_wal_data(Lsn{0x1000000}, 0x8000, Lsn{0x1010000}, protocol::to_pg_timestamp(now - 2s));
  stats.on_durable({1, Lsn{0x1008000}});
  EXPECT_EQ(receive_status_text(receive_status(stats, now, 2.0 * kMB)),
            "timeline 1: received 0/1008000, flushed 0/1008000, 32.0 kB (2.0 s) behind, "
            "2.0 MB/s");
}

TEST(RateWindowTest, RateOverTheWindow) {
  RateWindow window(10s);
  const auto t0 = std::chrono::steady_clock::time_point(100s);
  EXPECT_EQ(window.rate(), std::nullopt);
  window.add(t0, 0);
  EXPECT_EQ(window.rate(), std::nullopt);
  window.add(t0 + 1s, 10 * kMB);
  EXPECT_DOUBLE_EQ(*window.rate(), 10.0 * kMB);
  for (int s = 2; s <= 10; ++s) window.add(t0 + std::chrono::seconds(s), 10 * kMB * s);
  EXPECT_DOUBLE_EQ(*window.rate(), 10.0 * kMB);
  // The burst ends: the rate falls as the window slides past it.
  for (int s = 11; s <= 15; ++s) window.add(t0 + std::chrono::seconds(s), 100 * kMB);
  EXPECT_DOUBLE_EQ(*window.rate(), 50.0 * kMB / 10);
  for (int s = 16; s <= 25; ++s) window.add(t0 + std::chrono::seconds(s), 100 * kMB);
  EXPECT_DOUBLE_EQ(*window.rate(), 0.0);
}

TEST(RateWindowTest, ManySamplesWithinTheWindowStayBounded) {
  RateWindow window(10s);
  const auto t0 = std::chrono::steady_clock::time_point(100s);
  for (int i = 0; i <= 1000; ++i) window.add(t0 + std::chrono::milliseconds(i), 1000ULL * i);
  // Only the newest kMaxSamples are kept: still the right rate.
  EXPECT_DOUBLE_EQ(*window.rate(), 1000.0 * 1000);
}

}  // namespace
}  // namespace walstream::walreceiver
