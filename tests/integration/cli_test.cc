// The command line itself, without a server: what a user who mistypes sees.
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/integration/test_env.h"

namespace walstream::it {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

TEST(CliTest, AnUnknownSubcommandNamesTheOnesThatExist) {
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"bogus"}, std::vector<std::string>{"clone2", "-D", "x"},
        std::vector<std::string>{}}) {
    const CommandResult result = run_walstream(args);
    EXPECT_EQ(result.exit_code, 2) << result.describe();
    const std::vector<std::string> lines = non_empty_lines(result.err);
    ASSERT_EQ(lines.size(), 1u) << result.describe();
    EXPECT_THAT(lines[0], StartsWith("walstream: error: "));
    if (!args.empty()) {
      EXPECT_THAT(lines[0], HasSubstr("\"" + args[0] + "\""));
    }
    for (const char* name : {"clone", "receive", "restore-wal", "verify", "bench"}) {
      EXPECT_THAT(lines[0], HasSubstr(name));
    }
  }
}

TEST(CliTest, VersionAndHelpSucceed) {
  const CommandResult version = run_walstream({"--version"});
  EXPECT_EQ(version.exit_code, 0) << version.describe();
  EXPECT_THAT(version.out, StartsWith("walstream "));
  const CommandResult help = run_walstream({"--help"});
  EXPECT_EQ(help.exit_code, 0) << help.describe();
  EXPECT_THAT(help.out, HasSubstr("clone"));
}

}  // namespace
}  // namespace walstream::it
