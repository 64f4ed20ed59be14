#include "walreceiver/progress_text.h"

#include <gtest/gtest.h>

namespace walstream::walreceiver {
namespace {

using namespace std::chrono_literals;

TEST(ProgressTextTest, PrettySize) {
  EXPECT_EQ(pretty_size(0), "0 bytes");
  EXPECT_EQ(pretty_size(512), "512 bytes");
  EXPECT_EQ(pretty_size(1536), "1.5 kB");
  EXPECT_EQ(pretty_size(std::uint64_t{640} << 20), "640.0 MB");
  EXPECT_EQ(pretty_size(std::uint64_t{5} << 30), "5.0 GB");
}

TEST(ProgressTextTest, CloneLine) {
  constexpr std::uint64_t kMB = 1 << 20;
  EXPECT_EQ(clone_progress_text(400 * kMB, 1000 * kMB, 2s, false),
            "400.0 MB of 1000.0 MB (40%), 200.0 MB/s, 3 s left");
  EXPECT_EQ(clone_progress_text(400 * kMB, std::nullopt, 2s, false), "400.0 MB, 200.0 MB/s");
  // Past the estimate (tar headers): 100 %, no time left.
  EXPECT_EQ(clone_progress_text(1010 * kMB, 1000 * kMB, 4s, false),
            "1010.0 MB of 1010.0 MB (100%), 252.5 MB/s");
  EXPECT_EQ(clone_progress_text(1000 * kMB, 1000 * kMB, 4s, true),
            "1000.0 MB of 1000.0 MB (100%), 250.0 MB/s, done in 4.0 s");
  EXPECT_EQ(clone_progress_text(0, 1000 * kMB, 0s, false), "0 bytes of 1000.0 MB (0%)");
}

}  // namespace
}  // namespace walstream::walreceiver
