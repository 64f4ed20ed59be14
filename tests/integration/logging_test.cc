// --log-format and --log-level: one event per line, with a timestamp and the
// connection's identity, and never a secret.
#include <filesystem>
#include <memory>
#include <regex>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/integration/test_env.h"

namespace walstream::it {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;
using json = nlohmann::json;

class LoggingTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    primary_ = PgCluster::create_primary("logging_primary");
    primary_->start();
    primary_->exec("CREATE ROLE r REPLICATION LOGIN PASSWORD " + sql_literal(kPassword));
  }
  static void TearDownTestSuite() { primary_.reset(); }
  std::vector<std::string> clone(const std::string& name, std::vector<std::string> extra) {
    std::vector<std::string> args = clone_args(PgCluster::clone_data_dir(name), *primary_);
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  }
  std::string identity() const { return "r@127.0.0.1:" + std::to_string(primary_->port()); }

  static std::unique_ptr<PgCluster> primary_;
};

std::unique_ptr<PgCluster> LoggingTest::primary_;

TEST_F(LoggingTest, JsonEventsCarryTimeLevelAndConnection) {
  const CommandResult result =
      run_walstream(clone("log_json", {"--log-format", "json", "-v"}), password_env());
  ASSERT_EQ(result.exit_code, 0) << result.describe();
  const std::vector<std::string> lines = non_empty_lines(result.err);
  ASSERT_FALSE(lines.empty());
  bool connected = false;
  for (const std::string& line : lines) {
    const json event = json::parse(line, nullptr, /*allow_exceptions=*/false);
    ASSERT_TRUE(event.is_object()) << "not a JSON event: " << line;
    EXPECT_TRUE(std::regex_match(event["time"].get<std::string>(),
                                 std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)")))
        << line;
    EXPECT_EQ(event["level"], "info") << line;
    EXPECT_EQ(event["connection"], identity()) << line;
    if (event["message"].get<std::string>().find("connected to PostgreSQL 15.") == 0) {
      connected = true;
    }
  }
  EXPECT_TRUE(connected) << result.err;
  EXPECT_THAT(result.out + result.err, Not(HasSubstr(kPassword)));
}

TEST_F(LoggingTest, TextLinesAndLevels) {
  const CommandResult verbose = run_walstream(clone("log_text", {"-v"}), password_env());
  ASSERT_EQ(verbose.exit_code, 0) << verbose.describe();
  const std::regex line_form(R"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} UTC walstream\[\d+\] )" +
                             std::regex_replace(identity(), std::regex(R"([.])"), R"(\.)") +
                             " info: .+");
  for (const std::string& line : non_empty_lines(verbose.err)) {
    EXPECT_TRUE(std::regex_match(line, line_form)) << line;
  }
  // --log-level wins over -v.
  const CommandResult quiet =
      run_walstream(clone("log_quiet", {"-v", "--log-level", "warning"}), password_env());
  ASSERT_EQ(quiet.exit_code, 0) << quiet.describe();
  EXPECT_EQ(quiet.err, "");
  const CommandResult bad = run_walstream(clone("log_bad", {"--log-level", "loud"}));
  EXPECT_EQ(bad.exit_code, 2) << bad.describe();
}

}  // namespace
}  // namespace walstream::it
