// The exit codes (README.md, "Exit codes"), each provoked for real: the
// binary against a real PostgreSQL 15, a closed port, an unwritable
// directory, a signal. The other suites assert the code of every failure
// they provoke; this one shows each code once, where a script would meet it.
#include <signal.h>

#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/integration/test_env.h"
#include "tests/integration/wal_archive.h"

namespace walstream::it {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr const char* kErrorPrefix = "walstream: error: ";

// Exit `code`, not killed by a signal (the harness reports a death by SIGINT
// as 130 too), one error line naming `cause`.
void expect_exit(const CommandResult& result, int code, const std::string& cause) {
  EXPECT_FALSE(result.timed_out) << result.describe();
  EXPECT_EQ(result.term_signal, 0) << result.describe();
  EXPECT_EQ(result.exit_code, code) << result.describe();
  const std::vector<std::string> lines = non_empty_lines(result.err);
  ASSERT_EQ(lines.size(), 1U) << result.describe();
  EXPECT_THAT(lines.front(), StartsWith(kErrorPrefix));
  EXPECT_THAT(lines.front(), HasSubstr(cause));
}

class ExitCodesTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    try {
      primary_ = start_primary("exit_codes_primary");
      // REPLICATION, but no pg_hba.conf line lets it connect for replication.
      primary_->exec("CREATE ROLE nohba REPLICATION LOGIN PASSWORD " + sql_literal(kPassword));
    } catch (const std::exception& error) {
      setup_error_ = error.what();
      primary_.reset();
    }
  }
  static void TearDownTestSuite() { primary_.reset(); }
  void SetUp() override { ASSERT_TRUE(primary_) << "shared primary failed: " << setup_error_; }

  static PgCluster& primary() { return *primary_; }

  static std::unique_ptr<PgCluster> primary_;
  static std::string setup_error_;
};

std::unique_ptr<PgCluster> ExitCodesTest::primary_;
std::string ExitCodesTest::setup_error_;

TEST_F(ExitCodesTest, UsageErrorIsTwo) {
  const fs::path target = PgCluster::clone_data_dir("exit_usage");
  expect_exit(run_walstream(clone_args(target, primary(), {"--max-rate", "1"}), password_env()),
              kExitUsage, "invalid transfer rate");
  EXPECT_FALSE(fs::exists(target));

  // A target the user named that is not empty: also theirs to fix.
  fs::create_directories(target);
  write_file(target / "keep", "x");
  expect_exit(run_walstream(clone_args(target, primary()), password_env()), kExitUsage,
              "not empty");
  EXPECT_EQ(read_file(target / "keep"), "x");
}

TEST_F(ExitCodesTest, UnreachableServerIsThree) {
  const ReservedPort closed;
  const fs::path target = PgCluster::clone_data_dir("exit_unreachable");
  expect_exit(run_walstream({"clone", "-D", target.string(), "-h", "127.0.0.1", "-p",
                             std::to_string(closed.port()), "-U", "r"},
                            password_env()),
              kExitConnection, "Connection refused");
  EXPECT_FALSE(fs::exists(target));
}

TEST_F(ExitCodesTest, RefusedLoginIsThree) {
  const fs::path target = PgCluster::clone_data_dir("exit_password");
  expect_exit(run_walstream(clone_args(target, primary()), password_env("not-the-password")),
              kExitConnection, "password authentication failed");
  EXPECT_FALSE(fs::exists(target));

  const fs::path archive = TestEnv::unique_path("exit_nohba");
  std::vector<std::string> args{"receive",
                                "-D",
                                archive.string(),
                                "-n",
                                "-h",
                                "127.0.0.1",
                                "-p",
                                std::to_string(primary().port()),
                                "-U",
                                "nohba"};
  expect_exit(run_walstream(args, password_env(), 60s), kExitConnection, "no pg_hba.conf entry");
}

// A server-side error on an established connection. (A missing -S slot for
// clone or receive is found up front and is a usage error, 2.)
TEST_F(ExitCodesTest, ServerErrorIsFour) {
  const fs::path archive = TestEnv::unique_path("exit_server");
  expect_exit(run_walstream(receive_args(archive, primary(), {"-S", "nosuchslot", "--drop-slot"}),
                            password_env(), 60s),
              kExitServer, "\"nosuchslot\" does not exist");
}

TEST_F(ExitCodesTest, UnwritableTargetIsFive) {
  const fs::path parent = TestEnv::make_dir("exit_readonly");
  fs::permissions(parent, fs::perms(0500));
  const fs::path target = parent / "clone";
  const CommandResult result = run_walstream(clone_args(target, primary()), password_env(), 60s);
  fs::permissions(parent, fs::perms(0700));
  expect_exit(result, kExitIo, "ermission denied");
  EXPECT_FALSE(fs::exists(target));
  std::string last;
  EXPECT_TRUE(
      primary().wait_for_value("SELECT count(*) FROM pg_replication_slots", "0", 30s, &last))
      << "slots left: " << last;
}

TEST_F(ExitCodesTest, InterruptedCloneIsOneHundredThirty) {
  const fs::path target = PgCluster::clone_data_dir("exit_interrupted");
  std::vector<std::string> argv{TestEnv::walstream_binary().string()};
  // At 32 kB/s even a fresh cluster takes many minutes.
  for (auto& arg : clone_args(target, primary(), {"-r", "32"})) argv.push_back(arg);
  auto clone = Process::start(argv, password_env());
  ASSERT_TRUE(wait_until([&] { return fs::exists(target / "pg_wal") || !clone->running(); }, 60s));
  ASSERT_TRUE(clone->running()) << "clone ended early: " << clone->wait(10s).describe();
  std::this_thread::sleep_for(1s);  // mid-transfer, not just after mkdir
  clone->send_signal(SIGINT);
  expect_exit(clone->wait(60s), kExitInterrupted, "interrupted");
  EXPECT_FALSE(fs::exists(target)) << target << " was left behind";
}

// Stopping is how receive ends (like pg_receivewal): exit 0, not 130.
TEST_F(ExitCodesTest, StoppedReceiveIsZero) {
  const fs::path archive = TestEnv::unique_path("exit_receive");
  auto receiver = start_walstream(receive_args(archive, primary()), password_env());
  // Streaming once the first .partial segment is there.
  ASSERT_TRUE(wait_until(
      [&] {
        std::error_code error;
        for (fs::directory_iterator it(archive, error), end; !error && it != end;
             it.increment(error)) {
          if (it->path().extension() == ".partial") return true;
        }
        return !receiver->running();
      },
      60s));
  ASSERT_TRUE(receiver->running()) << "receive ended early: " << receiver->wait(10s).describe();
  const CommandResult result = stop_receiver(*receiver, SIGTERM);
  EXPECT_EQ(result.term_signal, 0) << result.describe();
  EXPECT_EQ(result.exit_code, 0) << result.describe();
}

// restore_command: 1 for a file the archive does not have; every other
// failure below 126, which PostgreSQL would take as a reason to stop.
TEST(ExitCodesRestoreWalTest, RestoreWalAnswersPostgres) {
  const fs::path archive = TestEnv::make_dir("exit_restore_archive");
  const fs::path out = TestEnv::make_dir("exit_restore_out");
  const std::string name = "000000010000000000000002";
  auto restore = [&](const std::string& file, const fs::path& destination) {
    return run_walstream({"restore-wal", archive.string(), file, destination.string()}, {}, 60s);
  };

  const CommandResult missing = restore(name, out / "missing");
  EXPECT_EQ(missing.term_signal, 0) << missing.describe();
  EXPECT_EQ(missing.exit_code, kExitFailure) << missing.describe();

  expect_exit(restore("../" + name, out / "bad_name"), kExitUsage, "invalid WAL file name");

  write_file(archive / (name + ".zst"), "this is not zstd");
  expect_exit(restore(name, out / "corrupt"), kExitIo, name);
  EXPECT_FALSE(fs::exists(out / "corrupt"));
}

}  // namespace
}  // namespace walstream::it
