// What `walstream clone` writes into primary_conninfo, judged by a standby
// that must use it: options the user set are kept even when they equal
// libpq's compiled defaults (otherwise the standby would take them from its
// own environment), against a primary that accepts replication only over SSL.
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/integration/primary_conninfo.h"
#include "tests/integration/test_env.h"

namespace walstream::it {
namespace {

namespace fs = std::filesystem;
using ::testing::Contains;
using ::testing::Key;
using ::testing::Not;
using ::testing::Pair;

// A PostgreSQL 15 primary with ssl = on whose pg_hba.conf lets role r
// replicate over SSL only (hostssl): a standby streams from it only if its
// WAL receiver negotiated SSL.
class StandbyConninfoTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    try {
      PgClusterOptions options;
      options.ssl = true;
      options.hba_lines = {
          "local all all trust",
          "hostssl replication r 127.0.0.1/32 scram-sha-256",
          "host all all 127.0.0.1/32 scram-sha-256",
      };
      primary_ = PgCluster::create_primary("ssl_primary", options);
      primary_->start();
      primary_->exec("CREATE ROLE r REPLICATION LOGIN PASSWORD " + sql_literal(kPassword));
      primary_->exec("CREATE TABLE t AS SELECT g AS id FROM generate_series(1, 100) g");
    } catch (const std::exception& error) {
      setup_error_ = error.what();
      primary_.reset();
    }
  }
  static void TearDownTestSuite() { primary_.reset(); }
  void SetUp() override { ASSERT_TRUE(primary_) << "shared primary failed: " << setup_error_; }

  static PgCluster& primary() { return *primary_; }

  // `walstream clone -D target -h 127.0.0.1 -p PORT -U r -c fast extra...`.
  static std::vector<std::string> clone_args(const fs::path& target,
                                             std::vector<std::string> extra = {}) {
    std::vector<std::string> args{"clone",
                                  "-D",
                                  target.string(),
                                  "-h",
                                  "127.0.0.1",
                                  "-p",
                                  std::to_string(primary().port()),
                                  "-U",
                                  "r",
                                  "-c",
                                  "fast"};
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  }

  // Starts the clone as a standby (with `env` in its server's environment)
  // and expects it to stream from the primary over SSL.
  static void expect_streams_over_ssl(const std::string& name, const EnvOverrides& env = {}) {
    auto standby = PgCluster::for_clone(name);
    standby->start(env);
    std::string last;
    EXPECT_TRUE(
        standby->wait_for_value("SELECT status FROM pg_stat_wal_receiver", "streaming", 60s, &last))
        << "pg_stat_wal_receiver.status: " << last;
    EXPECT_TRUE(primary().wait_for_value(
        "SELECT count(*) FROM pg_stat_replication r JOIN pg_stat_ssl s ON s.pid = r.pid "
        "WHERE s.ssl AND r.state = 'streaming'",
        "1", 60s, &last))
        << "walsenders streaming over SSL: " << last;
  }

  static std::unique_ptr<PgCluster> primary_;
  static std::string setup_error_;
};

std::unique_ptr<PgCluster> StandbyConninfoTest::primary_;
std::string StandbyConninfoTest::setup_error_;

// sslmode=prefer is libpq's compiled default, but the user wrote it: a
// standby whose environment says PGSSLMODE=disable must still use SSL.
TEST_F(StandbyConninfoTest, SslmodePreferFromConnectionStringIsKept) {
  const fs::path target = PgCluster::clone_data_dir("conninfo_prefer_d");
  const CommandResult result = run_walstream(
      clone_args(target, {"-d", "dbname=postgres sslmode=prefer"}), password_env(kPassword));
  ASSERT_EQ(result.exit_code, 0) << result.describe();

  const ConninfoMap conninfo = primary_conninfo(target);
  EXPECT_THAT(conninfo, Contains(Pair("sslmode", "prefer")));
  EXPECT_THAT(conninfo, Contains(Pair("host", "127.0.0.1")));
  EXPECT_THAT(conninfo, Contains(Pair("port", std::to_string(primary().port()))));
  EXPECT_THAT(conninfo, Contains(Pair("user", "r")));
  EXPECT_THAT(conninfo, Contains(Pair("password", kPassword)));
  // PostgreSQL 17's rule: a dbname the user gave is written.
  EXPECT_THAT(conninfo, Contains(Pair("dbname", "postgres")));
  EXPECT_THAT(conninfo, Not(Contains(Key("replication"))));
  EXPECT_THAT(conninfo, Not(Contains(Key("fallback_application_name"))));
  // Compiled defaults nobody set stay out.
  EXPECT_THAT(conninfo, Not(Contains(Key("channel_binding"))));
  EXPECT_THAT(conninfo, Not(Contains(Key("gssencmode"))));

  expect_streams_over_ssl("conninfo_prefer_d", {{"PGSSLMODE", "disable"}});
}

TEST_F(StandbyConninfoTest, SslmodePreferFromEnvironmentIsKept) {
  const fs::path target = PgCluster::clone_data_dir("conninfo_prefer_env");
  EnvOverrides env = password_env(kPassword);
  env["PGSSLMODE"] = "prefer";
  const CommandResult result = run_walstream(clone_args(target), env);
  ASSERT_EQ(result.exit_code, 0) << result.describe();

  const ConninfoMap conninfo = primary_conninfo(target);
  EXPECT_THAT(conninfo, Contains(Pair("sslmode", "prefer")));
  // No dbname anywhere (no -d, no PGDATABASE): none is written.
  EXPECT_THAT(conninfo, Not(Contains(Key("dbname"))));

  expect_streams_over_ssl("conninfo_prefer_env", {{"PGSSLMODE", "disable"}});
}

TEST_F(StandbyConninfoTest, ExplicitPortIsKept) {
  // -p is given by every clone here; the port must reach the standby as
  // given, whatever its value.
  const fs::path target = PgCluster::clone_data_dir("conninfo_port");
  const CommandResult result = run_walstream(clone_args(target), password_env(kPassword));
  ASSERT_EQ(result.exit_code, 0) << result.describe();
  EXPECT_THAT(primary_conninfo(target), Contains(Pair("port", std::to_string(primary().port()))));
}

TEST_F(StandbyConninfoTest, SslmodeRequireStreamsOverSsl) {
  const fs::path target = PgCluster::clone_data_dir("conninfo_require");
  const CommandResult result =
      run_walstream(clone_args(target, {"-d", "sslmode=require"}), password_env(kPassword));
  ASSERT_EQ(result.exit_code, 0) << result.describe();

  EXPECT_THAT(primary_conninfo(target), Contains(Pair("sslmode", "require")));
  expect_streams_over_ssl("conninfo_require");
}

}  // namespace
}  // namespace walstream::it
