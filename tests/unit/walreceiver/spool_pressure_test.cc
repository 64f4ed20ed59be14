#include "walreceiver/spool_pressure.h"

#include <gtest/gtest.h>

namespace walstream::walreceiver {
namespace {

using Change = SpoolPressure::Change;

TEST(SpoolPressureTest, FullAtTheLimitWithRoomAgainAtHalf) {
  SpoolPressure pressure(8);
  EXPECT_EQ(pressure.update(0), Change::kNone);
  EXPECT_EQ(pressure.update(7), Change::kNone);
  EXPECT_FALSE(pressure.full());
  EXPECT_EQ(pressure.update(8), Change::kFull);
  EXPECT_TRUE(pressure.full());
  EXPECT_EQ(pressure.update(9), Change::kNone) << "said once";
  EXPECT_EQ(pressure.update(7), Change::kNone) << "one upload done: still full";
  EXPECT_EQ(pressure.update(5), Change::kNone);
  EXPECT_EQ(pressure.update(4), Change::kHasRoom);
  EXPECT_FALSE(pressure.full());
  EXPECT_EQ(pressure.update(4), Change::kNone);
  EXPECT_EQ(pressure.update(7), Change::kNone);
  EXPECT_EQ(pressure.update(8), Change::kFull);
}

TEST(SpoolPressureTest, ALimitOfOneHasRoomOnlyWhenEmpty) {
  SpoolPressure pressure(1);
  EXPECT_EQ(pressure.update(1), Change::kFull);
  EXPECT_EQ(pressure.update(1), Change::kNone);
  EXPECT_EQ(pressure.update(0), Change::kHasRoom);
}

TEST(SpoolPressureTest, ALimitOfZeroIsOne) {
  SpoolPressure pressure(0);
  EXPECT_EQ(pressure.limit(), 1u);
  EXPECT_EQ(pressure.update(0), Change::kNone);
  EXPECT_EQ(pressure.update(1), Change::kFull);
}

}  // namespace
}  // namespace walstream::walreceiver
