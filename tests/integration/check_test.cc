// `walstream check` against servers misconfigured each way a replication
// client meets: each failure names its fix, and what it hides is reported
// as not checked. Check exits 1 for any failed item, a refused login or an
// unreachable server included: those are its findings, not its failures.
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/integration/test_env.h"

namespace walstream::it {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

std::vector<std::string> check_args(int port, const std::string& user,
                                    std::vector<std::string> extra = {}) {
  std::vector<std::string> args{"check", "-h", "127.0.0.1", "-p", std::to_string(port),
                                "-U",    user, "-w"};
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

// The report's line for the item whose name starts with `name`, without its
// mark; fails the test when there is none.
std::string line_of(const CommandResult& result, const std::string& mark, const std::string& name) {
  for (const std::string& line : non_empty_lines(result.out)) {
    if (line.rfind(mark + " " + name, 0) == 0) return line;
  }
  ADD_FAILURE() << "no \"" << mark << " " << name << "\" line in:\n" << result.out;
  return {};
}

// The line after the item's line: its fix.
std::string fix_of(const CommandResult& result, const std::string& name) {
  const std::vector<std::string> lines = non_empty_lines(result.out);
  for (std::size_t i = 0; i + 1 < lines.size(); ++i) {
    if (lines[i].rfind("✗ " + name, 0) == 0) return lines[i + 1];
  }
  ADD_FAILURE() << "no failed \"" << name << "\" in:\n" << result.out;
  return {};
}

class CheckTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    PgClusterOptions options;
    options.hba_lines = {
        "local all all trust",
        "host replication r 127.0.0.1/32 scram-sha-256",
        "host replication norepl 127.0.0.1/32 scram-sha-256",
        "host all all 127.0.0.1/32 scram-sha-256",
    };
    primary_ = PgCluster::create_primary("check_primary", options);
    primary_->start();
    const std::string password = sql_literal(kPassword);
    primary_->exec("CREATE ROLE r REPLICATION LOGIN PASSWORD " + password);
    primary_->exec("CREATE ROLE norepl LOGIN PASSWORD " + password);
    primary_->exec("CREATE ROLE nohba REPLICATION LOGIN PASSWORD " + password);
    primary_->exec("SELECT pg_create_physical_replication_slot('kept', true)");
  }
  static void TearDownTestSuite() { primary_.reset(); }
  PgCluster& primary() { return *primary_; }

  static std::unique_ptr<PgCluster> primary_;
};

std::unique_ptr<PgCluster> CheckTest::primary_;

TEST_F(CheckTest, AReadyPrimaryPassesEveryItem) {
  const fs::path target = TestEnv::unique_path("check-target");
  const CommandResult result = run_walstream(
      check_args(primary().port(), "r", {"-S", "kept", "-D", target.string()}), password_env());
  EXPECT_EQ(result.exit_code, 0) << result.describe();
  for (const std::string& line : non_empty_lines(result.out)) {
    EXPECT_THAT(line, StartsWith("✓ "));
  }
  EXPECT_THAT(line_of(result, "✓", "server version supported"),
              HasSubstr("PostgreSQL " + primary().query_value("SHOW server_version")));
  EXPECT_THAT(line_of(result, "✓", "wal_level"), HasSubstr("replica"));
  EXPECT_THAT(line_of(result, "✓", "max_wal_senders"), HasSubstr("10, 1 in use"));
  EXPECT_THAT(line_of(result, "✓", "max_replication_slots"), HasSubstr("1 in use"));
  EXPECT_THAT(line_of(result, "✓", "slot \"kept\""), HasSubstr("retains"));
  EXPECT_THAT(line_of(result, "✓", "free space in"), HasSubstr("of databases"));
  EXPECT_FALSE(fs::exists(target));
  EXPECT_THAT(result.out + result.err, Not(HasSubstr(kPassword)));
}

TEST_F(CheckTest, AWrongPasswordNamesTheFixAndHidesTheRest) {
  const CommandResult result =
      run_walstream(check_args(primary().port(), "r"), password_env("wrong-password"));
  EXPECT_EQ(result.exit_code, kExitFailure) << result.describe();
  line_of(result, "✓", "server reachable");
  line_of(result, "✗", "authentication");
  EXPECT_THAT(fix_of(result, "authentication"), HasSubstr("ALTER ROLE \"r\" PASSWORD"));
  line_of(result, "?", "role has REPLICATION");
  line_of(result, "?", "wal_level");
  EXPECT_THAT(result.out + result.err, Not(HasSubstr("wrong-password")));
}

TEST_F(CheckTest, ARoleWithoutReplication) {
  const CommandResult result =
      run_walstream(check_args(primary().port(), "norepl"), password_env());
  EXPECT_EQ(result.exit_code, kExitFailure) << result.describe();
  line_of(result, "✓", "authentication");
  EXPECT_THAT(fix_of(result, "role has REPLICATION"),
              HasSubstr("ALTER ROLE \"norepl\" REPLICATION;"));
}

TEST_F(CheckTest, NoPgHbaLineForReplication) {
  const CommandResult result = run_walstream(check_args(primary().port(), "nohba"), password_env());
  EXPECT_EQ(result.exit_code, kExitFailure) << result.describe();
  EXPECT_THAT(fix_of(result, "pg_hba.conf"),
              HasSubstr("host replication nohba 127.0.0.1/32 scram-sha-256"));
  EXPECT_THAT(fix_of(result, "pg_hba.conf"), HasSubstr("pg_reload_conf()"));
}

TEST_F(CheckTest, AnUnreachableServer) {
  const ReservedPort closed;
  const CommandResult result = run_walstream(check_args(closed.port(), "r"), password_env());
  EXPECT_EQ(result.exit_code, kExitFailure) << result.describe();
  line_of(result, "✗", "server reachable");
  for (const char* hidden : {"pg_hba.conf", "authentication", "wal_level"}) {
    EXPECT_THAT(line_of(result, "?", hidden), HasSubstr("not checked"));
  }
}

TEST_F(CheckTest, AMissingSlot) {
  const CommandResult result =
      run_walstream(check_args(primary().port(), "r", {"-S", "absent"}), password_env());
  EXPECT_EQ(result.exit_code, kExitFailure) << result.describe();
  EXPECT_THAT(fix_of(result, "slot \"absent\""),
              HasSubstr("pg_create_physical_replication_slot('absent', true)"));
}

TEST(CheckDedicatedTest, WalLevelMinimalLeavesNoWalSender) {
  PgClusterOptions options;
  options.max_wal_senders = 0;
  options.extra_conf = {"wal_level = minimal"};
  auto primary = PgCluster::create_primary("check_minimal", options);
  primary->start();
  primary->exec("CREATE ROLE r REPLICATION LOGIN PASSWORD " + sql_literal(kPassword));
  const CommandResult result = run_walstream(check_args(primary->port(), "r"), password_env());
  EXPECT_EQ(result.exit_code, kExitFailure) << result.describe();
  line_of(result, "✓", "role has REPLICATION");
  const std::string fix = fix_of(result, "max_wal_senders");
  EXPECT_THAT(fix, HasSubstr("wal_level = replica"));
  EXPECT_THAT(fix, HasSubstr("restart"));
}

}  // namespace
}  // namespace walstream::it
