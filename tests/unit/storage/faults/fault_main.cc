// main() of the storage fault tests: runs the binary again with the fault
// shim preloaded (tests/fault/fault_shim.c), then runs the tests.
#include <gtest/gtest.h>

#include "tests/support/fault_shim_control.h"

#ifndef WALSTREAM_FAULT_SHIM
#error "WALSTREAM_FAULT_SHIM must name the fault shim library"
#endif

int main(int argc, char** argv) {
  walstream::test_support::run_under_fault_shim(WALSTREAM_FAULT_SHIM, argv);
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
