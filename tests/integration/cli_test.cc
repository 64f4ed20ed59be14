// The command line itself, without a server: what a user who mistypes sees.
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/integration/test_env.h"

namespace walstream::it {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
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

// The exit codes are in the help, and so in the man pages help2man makes.
TEST(CliTest, HelpListsTheExitCodes) {
  const CommandResult help = run_walstream({"--help"});
  EXPECT_EQ(help.exit_code, 0) << help.describe();
  EXPECT_THAT(help.out, HasSubstr("Exit status:\n"));
  for (const char* line :
       {"\n  0    success", "\n  2    usage error", "\n  3    could not connect",
        "\n  4    the server", "\n  5    a local file", "\n  130  interrupted"}) {
    EXPECT_THAT(help.out, HasSubstr(line));
  }
  const CommandResult restore = run_walstream({"restore-wal", "--help"});
  EXPECT_EQ(restore.exit_code, 0) << restore.describe();
  EXPECT_THAT(restore.out, HasSubstr("\n  1    the archive does not have the file"));
  EXPECT_THAT(restore.out, HasSubstr("Never above 125"));
  const CommandResult check = run_walstream({"check", "--help"});
  EXPECT_THAT(check.out, HasSubstr("\n  0    every check passed"));
}

TEST(CliTest, BadFlagsAreUsageErrors) {
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"clone", "--no-such-flag"},
        std::vector<std::string>{"receive", "-D", "x", "-s", "0"},
        std::vector<std::string>{"restore-wal", "only-one-argument"},
        std::vector<std::string>{"--log-level", "loud", "verify", "x"}}) {
    const CommandResult result = run_walstream(args);
    EXPECT_EQ(result.exit_code, kExitUsage) << result.describe();
    EXPECT_THAT(result.err, StartsWith("walstream: error: ")) << result.describe();
  }
}

// The hint of an argument error points at the help of the subcommand that
// was given, wherever it stands on the line.
TEST(CliTest, AnArgumentErrorPointsAtItsSubcommandsHelp) {
  for (const auto& [args, help] :
       {std::pair{std::vector<std::string>{"receive", "--no-such-flag"},
                  "walstream receive --help"},
        std::pair{std::vector<std::string>{"--log-level", "info", "verify", "--no-such-flag"},
                  "walstream verify --help"},
        std::pair{std::vector<std::string>{"clone", "--no-such-flag"}, "walstream clone --help"}}) {
    const CommandResult result = run_walstream(args);
    EXPECT_EQ(result.exit_code, kExitUsage) << result.describe();
    EXPECT_THAT(result.err, HasSubstr(std::string("see \"") + help + "\"")) << result.describe();
    if (std::string(help) != "walstream clone --help") {
      EXPECT_THAT(result.err, Not(HasSubstr("clone"))) << result.describe();
    }
  }
}

}  // namespace
}  // namespace walstream::it
