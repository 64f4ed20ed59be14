#include "tools/exit_codes.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <regex>
#include <sstream>
#include <string>
#include <vector>

namespace walstream::tools {
namespace {

using ::testing::HasSubstr;

struct Case {
  ErrorKind kind;
  int code;  // of every command but restore-wal
  int restore_wal_code;
};

// Every ErrorKind, with the numbers the documentation (README.md, "Exit
// codes", and the help text) promises.
const std::vector<Case> kCases{
    {ErrorKind::kUsage, 2, 2},    {ErrorKind::kConnection, 3, 3}, {ErrorKind::kServer, 4, 4},
    {ErrorKind::kProtocol, 4, 4}, {ErrorKind::kIo, 5, 5},         {ErrorKind::kCancelled, 130, 1},
    {ErrorKind::kInternal, 1, 1},
};

class ExitCodeTest : public ::testing::TestWithParam<Case> {};

TEST_P(ExitCodeTest, MapsTheKind) {
  const Case& c = GetParam();
  EXPECT_EQ(exit_code_for(c.kind), c.code);
  EXPECT_EQ(restore_wal_exit_code_for(c.kind), c.restore_wal_code);
}

// PostgreSQL stops recovery when restore_command exits above 125.
TEST_P(ExitCodeTest, RestoreWalNeverStopsRecovery) {
  const int code = restore_wal_exit_code_for(GetParam().kind);
  EXPECT_GE(code, 1);
  EXPECT_LE(code, 125);
}

INSTANTIATE_TEST_SUITE_P(EveryKind, ExitCodeTest, ::testing::ValuesIn(kCases));

TEST(ExitCodeConstantsTest, AreTheDocumentedNumbers) {
  EXPECT_EQ(kExitSuccess, 0);
  EXPECT_EQ(kExitFailure, 1);
  EXPECT_EQ(kExitUsage, 2);
  EXPECT_EQ(kExitConnection, 3);
  EXPECT_EQ(kExitServer, 4);
  EXPECT_EQ(kExitIo, 5);
  EXPECT_EQ(kExitInterrupted, 130);
}

// help2man turns "  CODE text" into a tagged paragraph when the text, and
// every continuation line, starts at one column (7).
void expect_help2man_layout(const std::string& help) {
  const std::regex tagged(R"(  \d{1,3} +\S.*)");
  const std::regex continued(R"( {7}\S.*)");
  std::istringstream lines(help);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.empty() || line[0] != ' ') continue;
    if (std::regex_match(line, tagged)) {
      EXPECT_EQ(line.find_first_not_of(' ', line.find(' ', 2)), 7U) << line;
    } else {
      EXPECT_TRUE(std::regex_match(line, continued)) << line;
    }
    EXPECT_LE(line.size(), 80U) << line;
  }
}

// The top-level help lists every code as a help2man tagged line.
TEST(ExitCodeHelpTest, TheHelpListsEveryCode) {
  const std::string help = exit_codes_help();
  expect_help2man_layout(help);
  EXPECT_THAT(help, ::testing::StartsWith("Exit status:\n"));
  for (const char* line : {"\n  0    ", "\n  1    ", "\n  2    ", "\n  3    ", "\n  4    ",
                           "\n  5    ", "\n  130  "}) {
    EXPECT_THAT(help, HasSubstr(line));
  }
  EXPECT_THAT(help, HasSubstr("restore-wal never exits above 125"));
}

TEST(ExitCodeHelpTest, EverySubcommandHasItsOwn) {
  struct Expected {
    const char* subcommand;
    std::vector<const char*> codes;
  };
  const std::vector<Expected> expected{
      {"clone", {"0", "1", "2", "3", "4", "5", "130"}},
      {"receive", {"0", "1", "2", "3", "4", "5", "130"}},
      {"bench", {"0", "1", "2", "3", "4", "5", "130"}},
      {"restore-wal", {"0", "1", "2", "3", "4", "5"}},
      {"verify", {"0", "1", "2", "3", "4", "5"}},
      {"check", {"0", "1", "2"}},
  };
  for (const Expected& e : expected) {
    SCOPED_TRACE(e.subcommand);
    const std::string help = exit_codes_help(e.subcommand);
    expect_help2man_layout(help);
    EXPECT_THAT(help, ::testing::StartsWith("Exit status:\n"));
    std::size_t tagged = 0;
    for (const char* code : e.codes) {
      const std::string tag =
          std::string("\n  ") + code + std::string(5 - std::string(code).size(), ' ');
      EXPECT_THAT(help, HasSubstr(tag));
    }
    for (std::size_t at = help.find("\n  "); at != std::string::npos;
         at = help.find("\n  ", at + 1)) {
      if (help.compare(at, 4, "\n   ") != 0) ++tagged;  // not a continuation line
    }
    EXPECT_EQ(tagged, e.codes.size()) << help;
  }
  EXPECT_THAT(exit_codes_help("restore-wal"), HasSubstr("Never above 125"));
  EXPECT_EQ(exit_codes_help("no-such-subcommand"), "");
}

}  // namespace
}  // namespace walstream::tools
