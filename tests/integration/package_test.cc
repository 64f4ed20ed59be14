// The .deb that CPack builds: installed with dpkg on this Debian machine, it
// provides the binary, the man pages, the systemd unit and the dedicated
// user, and `walstream check` from the package works against a server.
// It changes the machine (a package, a system user), so it runs only where
// WALSTREAM_TEST_PACKAGE=1 says that is fine (tools/run-tests.sh in CI).
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/integration/test_env.h"

namespace walstream::it {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::StartsWith;

TEST(PackageTest, TheDebInstallsAndRuns) {
  const char* wanted = std::getenv("WALSTREAM_TEST_PACKAGE");
  if (wanted == nullptr || std::string(wanted) != "1" || ::geteuid() != 0) {
    GTEST_SKIP() << "set WALSTREAM_TEST_PACKAGE=1 (as root) to install the .deb on this machine";
  }
  const fs::path out = TestEnv::make_dir("package");
  const CommandResult pack =
      run_command({"cpack", "-G", "DEB", "--config",
                   std::string(WALSTREAM_BUILD_DIR) + "/CPackConfig.cmake", "-B", out.string()},
                  {}, std::chrono::seconds(300));
  ASSERT_EQ(pack.exit_code, 0) << pack.describe();
  fs::path deb;
  for (const auto& entry : fs::recursive_directory_iterator(out)) {
    if (entry.path().extension() == ".deb") deb = entry.path();
  }
  ASSERT_FALSE(deb.empty()) << pack.describe();

  const CommandResult install =
      run_command({"dpkg", "-i", deb.string()}, {}, std::chrono::seconds(300));
  ASSERT_EQ(install.exit_code, 0) << install.describe();
  const CommandResult version = run_command({"/usr/bin/walstream", "--version"});
  EXPECT_EQ(version.exit_code, 0) << version.describe();
  EXPECT_THAT(version.out, StartsWith("walstream "));
  EXPECT_TRUE(fs::exists("/usr/share/man/man1/walstream-check.1"));
  EXPECT_TRUE(fs::exists("/usr/lib/systemd/system/walstream-receive@.service"));
  EXPECT_EQ(run_command({"getent", "passwd", "walstream"}).exit_code, 0);

  auto primary = PgCluster::create_primary("package_primary");
  primary->start();
  primary->exec("CREATE ROLE r REPLICATION LOGIN PASSWORD " + sql_literal(kPassword));
  const CommandResult check = run_command({"/usr/bin/walstream", "check", "-h", "127.0.0.1", "-p",
                                           std::to_string(primary->port()), "-U", "r", "-w"},
                                          password_env());
  EXPECT_EQ(check.exit_code, 0) << check.describe();
  EXPECT_THAT(check.out, HasSubstr("✓ server version supported"));

  const CommandResult remove =
      run_command({"dpkg", "--purge", "walstream"}, {}, std::chrono::seconds(300));
  EXPECT_EQ(remove.exit_code, 0) << remove.describe();
  EXPECT_FALSE(fs::exists("/usr/bin/walstream"));
}

}  // namespace
}  // namespace walstream::it
