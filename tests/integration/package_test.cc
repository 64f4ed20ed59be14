// The .deb that CPack builds, installed with dpkg on this Debian machine:
// it provides the binary, the man pages, the systemd unit and the dedicated
// user, and `walstream check` from the package works against a server.
// Installing needs root and this binary drops root before any test runs, so
// tools/run-tests.sh builds and installs the package first, names it in
// WALSTREAM_TEST_INSTALLED_DEB, and purges it after the tests (checking that
// the purge removes it). Without that variable (a developer's run) the test
// is skipped.
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
  const char* installed = std::getenv("WALSTREAM_TEST_INSTALLED_DEB");
  if (installed == nullptr || *installed == '\0') {
    GTEST_SKIP() << "tools/run-tests.sh installs the .deb and sets WALSTREAM_TEST_INSTALLED_DEB";
  }
  const fs::path deb = installed;
  ASSERT_TRUE(fs::exists(deb)) << deb;
  // What dpkg installed is this package, and this package is this build.
  const CommandResult status = run_command({"dpkg-query", "-W", "-f=${Status}", "walstream"});
  EXPECT_EQ(status.out, "install ok installed") << status.describe();
  const CommandResult listed = run_command({"dpkg-deb", "-c", deb.string()});
  EXPECT_THAT(listed.out, HasSubstr("./usr/bin/walstream")) << listed.describe();
  const CommandResult version = run_command({"/usr/bin/walstream", "--version"});
  EXPECT_EQ(version.exit_code, 0) << version.describe();
  EXPECT_THAT(version.out, StartsWith("walstream "));
  const CommandResult help = run_command({"/usr/bin/walstream", "--help"});
  const CommandResult built_help = run_command({TestEnv::walstream_binary().string(), "--help"});
  EXPECT_EQ(help.out, built_help.out) << "the installed walstream is not this build's";
  for (const char* page : {"walstream", "walstream-clone", "walstream-receive", "walstream-check",
                           "walstream-verify", "walstream-restore-wal", "walstream-bench"}) {
    const fs::path man = fs::path("/usr/share/man/man1") / (std::string(page) + ".1.gz");
    const fs::path plain = fs::path("/usr/share/man/man1") / (std::string(page) + ".1");
    EXPECT_TRUE(fs::exists(man) || fs::exists(plain)) << page << ".1 is not installed";
  }
  EXPECT_TRUE(fs::exists("/usr/lib/systemd/system/walstream-receive@.service"));
  EXPECT_EQ(run_command({"getent", "passwd", "walstream"}).exit_code, 0)
      << "the package did not create the walstream user";

  auto primary = PgCluster::create_primary("package_primary");
  primary->start();
  primary->exec("CREATE ROLE r REPLICATION LOGIN PASSWORD " + sql_literal(kPassword));
  const CommandResult check = run_command({"/usr/bin/walstream", "check", "-h", "127.0.0.1", "-p",
                                           std::to_string(primary->port()), "-U", "r", "-w"},
                                          password_env());
  EXPECT_EQ(check.exit_code, 0) << check.describe();
  EXPECT_THAT(check.out, HasSubstr("✓ server version supported"));
}

}  // namespace
}  // namespace walstream::it
