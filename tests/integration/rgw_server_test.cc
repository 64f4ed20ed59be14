// The test gateway itself (tests/integration/rgw_server.h): it starts, serves
// the suite's bucket, and enforces request signatures, so that the S3 tests
// run against a server that checks what a real one checks.
#include "tests/integration/rgw_server.h"

#include <gtest/gtest.h>

namespace walstream::it {
namespace {

class RgwServerTest : public RgwTest {};

TEST_F(RgwServerTest, ServesTheBucketAndChecksSignatures) {
  const std::string key = unique_prefix() + "object";
  server().put_object(bucket(), key, "hello");
  EXPECT_EQ(server().get_object(bucket(), key), "hello");

  // Unsigned, the same GET is refused.
  CommandResult anonymous = run_command({"curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}",
                                         server().endpoint() + "/" + bucket() + "/" + key},
                                        {}, 60s);
  EXPECT_EQ(anonymous.out, "403") << anonymous.describe();
}

}  // namespace
}  // namespace walstream::it
