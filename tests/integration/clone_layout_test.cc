// `walstream clone` with a non-default layout: tablespaces relocated with -T,
// pg_wal elsewhere with --waldir, and archives compressed by the server
// (--compress=server-...). Each clone must verify with pg_verifybackup and
// start as a streaming hot standby that sees the primary's data.
#include <cctype>
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

std::vector<std::string> clone_args(const fs::path& target, int port,
                                    std::vector<std::string> extra = {}) {
  std::vector<std::string> args{
      "clone", "-D", target.string(), "-h", "127.0.0.1", "-p", std::to_string(port), "-U", "r"};
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

void expect_verifies(const fs::path& target) {
  const CommandResult verify =
      run_command({TestEnv::pg_bin("pg_verifybackup").string(), target.string()});
  EXPECT_EQ(verify.exit_code, 0) << verify.describe();
}

// A primary with a user tablespace holding a table, and a table in the
// default tablespace.
class CloneLayoutTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    try {
      // Each suite deriving from this fixture gets its own primary.
      static int suites = 0;
      primary_ = PgCluster::create_primary("layout_primary_" + std::to_string(++suites));
      primary_->start();
      tablespace_dir_ = TestEnv::make_dir("tablespace_primary");
      primary_->exec("CREATE ROLE r REPLICATION LOGIN PASSWORD " + sql_literal(kPassword));
      primary_->exec("CREATE TABLESPACE space1 LOCATION " + sql_literal(tablespace_dir_.string()));
      primary_->exec(
          "CREATE TABLE in_space TABLESPACE space1 AS SELECT g AS id FROM generate_series(1, 700) "
          "g;"
          "CREATE TABLE in_default AS SELECT g AS id FROM generate_series(1, 300) g");
    } catch (const std::exception& error) {
      setup_error_ = error.what();
      primary_.reset();
    }
  }
  static void TearDownTestSuite() { primary_.reset(); }
  void SetUp() override { ASSERT_TRUE(primary_) << "primary failed: " << setup_error_; }

  // Starts the clone as a standby and checks it serves both tables and streams.
  static void expect_standby_serves_data(const std::string& name) {
    auto standby = PgCluster::for_clone(name);
    standby->start();
    EXPECT_EQ(standby->query_value("SELECT count(*) FROM in_space"), "700");
    EXPECT_EQ(standby->query_value("SELECT count(*) FROM in_default"), "300");
    std::string last;
    EXPECT_TRUE(
        standby->wait_for_value("SELECT status FROM pg_stat_wal_receiver", "streaming", 60s, &last))
        << last;
    primary_->exec("INSERT INTO in_space SELECT 1000 + g FROM generate_series(1, 5) g");
    EXPECT_TRUE(standby->wait_for_value("SELECT count(*) FROM in_space", "705", 60s, &last))
        << last;
    primary_->exec("DELETE FROM in_space WHERE id > 1000");
  }

  static std::unique_ptr<PgCluster> primary_;
  static fs::path tablespace_dir_;
  static std::string setup_error_;
};

std::unique_ptr<PgCluster> CloneLayoutTest::primary_;
fs::path CloneLayoutTest::tablespace_dir_;
std::string CloneLayoutTest::setup_error_;

TEST_F(CloneLayoutTest, TablespaceMappedAndWalDirectoryElsewhere) {
  const fs::path target = PgCluster::clone_data_dir("layout_mapped");
  const fs::path new_space = TestEnv::unique_path("tablespace_clone");
  const fs::path wal_dir = TestEnv::unique_path("waldir_clone");
  const CommandResult result =
      run_walstream(clone_args(target, primary_->port(),
                               {"-T", tablespace_dir_.string() + "=" + new_space.string(),
                                "--waldir", wal_dir.string()}),
                    password_env());
  ASSERT_EQ(result.exit_code, 0) << result.describe();

  const std::string oid =
      primary_->query_value("SELECT oid FROM pg_tablespace WHERE spcname = 'space1'");
  EXPECT_EQ(fs::read_symlink(target / "pg_tblspc" / oid), new_space);
  EXPECT_EQ(fs::read_symlink(target / "pg_wal"), wal_dir);
  EXPECT_FALSE(fs::is_empty(new_space));
  EXPECT_TRUE(fs::exists(wal_dir / "archive_status"));
  // The primary's own tablespace directory was not touched by the clone.
  EXPECT_TRUE(fs::exists(tablespace_dir_));
  expect_verifies(target);
  expect_standby_serves_data("layout_mapped");
}

TEST_F(CloneLayoutTest, UnmappedTablespaceOnTheSameHostIsRefused) {
  const fs::path target = PgCluster::clone_data_dir("layout_unmapped");
  const CommandResult result = run_walstream(clone_args(target, primary_->port()), password_env());
  // A directory in the way is the user's to fix (-T): a usage error.
  EXPECT_EQ(result.exit_code, kExitUsage) << result.describe();
  const auto lines = non_empty_lines(result.err);
  ASSERT_EQ(lines.size(), 1U) << result.describe();
  EXPECT_THAT(lines.front(), HasSubstr(tablespace_dir_.string()));
  EXPECT_THAT(lines.front(), HasSubstr("-T"));
  EXPECT_FALSE(fs::exists(target));
  // The primary's tablespace keeps its files.
  EXPECT_FALSE(fs::is_empty(tablespace_dir_));
  EXPECT_EQ(primary_->query_value("SELECT count(*) FROM in_space"), "700");
}

TEST_F(CloneLayoutTest, FailureRemovesCreatedTablespaceAndWalDirectories) {
  // The mapped tablespace directory is new; --waldir points at a non-empty
  // directory, which is refused before anything is created.
  const fs::path target = PgCluster::clone_data_dir("layout_waldir_busy");
  const fs::path new_space = TestEnv::unique_path("tablespace_never");
  const fs::path busy_wal = TestEnv::make_dir("waldir_busy");
  write_file(busy_wal / "keep", "x");
  const CommandResult result =
      run_walstream(clone_args(target, primary_->port(),
                               {"-T", tablespace_dir_.string() + "=" + new_space.string(),
                                "--waldir", busy_wal.string()}),
                    password_env());
  EXPECT_EQ(result.exit_code, kExitUsage) << result.describe();
  EXPECT_THAT(result.err, HasSubstr("--waldir"));
  EXPECT_FALSE(fs::exists(target));
  EXPECT_FALSE(fs::exists(new_space));
  EXPECT_EQ(read_file(busy_wal / "keep"), "x");
}

class ServerCompressionTest : public CloneLayoutTest,
                              public ::testing::WithParamInterface<const char*> {};

TEST_P(ServerCompressionTest, CompressedArchivesAreExtractedOnTheFly) {
  std::string name = std::string("layout_compressed_") + GetParam();
  for (char& c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';  // a directory name
  }
  const fs::path target = PgCluster::clone_data_dir(name);
  const fs::path new_space = TestEnv::unique_path("tablespace_" + name);
  const CommandResult result =
      run_walstream(clone_args(target, primary_->port(),
                               {"-T", tablespace_dir_.string() + "=" + new_space.string(),
                                std::string("--compress=server-") + GetParam(), "-v", "-P"}),
                    password_env());
  ASSERT_EQ(result.exit_code, 0) << result.describe();
  // Progress counts what the tar parser saw (uncompressed), as the server's
  // estimate does: it ends at 100 %, not at the compressed share.
  bool finished_line = false;
  for (const std::string& line : non_empty_lines(result.err)) {
    if (line.find("done in") == std::string::npos) continue;
    finished_line = true;
    EXPECT_THAT(line, HasSubstr("(100%)"));
  }
  EXPECT_TRUE(finished_line) << result.err;
  expect_verifies(target);
  expect_standby_serves_data(name);
}

INSTANTIATE_TEST_SUITE_P(Algorithms, ServerCompressionTest,
                         ::testing::Values("zstd", "lz4", "gzip", "zstd:level=5,workers=2"));

TEST_F(CloneLayoutTest, BadCompressionIsAUsageError) {
  const fs::path target = PgCluster::clone_data_dir("layout_bad_compress");
  const CommandResult result =
      run_walstream(clone_args(target, primary_->port(), {"--compress=zstd"}), password_env());
  EXPECT_EQ(result.exit_code, 2) << result.describe();
  EXPECT_THAT(result.err, HasSubstr("server-"));
  EXPECT_FALSE(fs::exists(target));
}

}  // namespace
}  // namespace walstream::it
