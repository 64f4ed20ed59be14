// Entry point of integration_tests. PostgreSQL refuses to run as root, so
// when started as root (CI) this creates the unprivileged OS user
// `walstream-test`, prepares a scratch directory it owns with a copy of the
// walstream binary (the build tree may sit where that user cannot look, e.g.
// under /root), drops privileges, and only then runs the tests.
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tests/integration/test_env.h"

#ifndef WALSTREAM_BINARY
#error "WALSTREAM_BINARY must name the walstream binary under test"
#endif

extern char** environ;

namespace {

namespace fs = std::filesystem;
namespace it = walstream::it;

constexpr const char* kTestUser = "walstream-test";

[[noreturn]] void die(const std::string& message) {
  std::cerr << "integration_tests: " << message << "\n";
  std::exit(1);
}

struct TestUser {
  uid_t uid;
  gid_t gid;
  std::string name;
  std::string home;
};

std::optional<TestUser> find_user(const char* name) {
  const passwd* entry = ::getpwnam(name);
  if (entry == nullptr) return std::nullopt;
  return TestUser{entry->pw_uid, entry->pw_gid, entry->pw_name, entry->pw_dir};
}

// Looks the test user up, creating it if missing.
TestUser ensure_test_user() {
  if (auto user = find_user(kTestUser)) return *user;
  const it::CommandResult result =
      it::run_command({fs::exists("/usr/sbin/useradd") ? "/usr/sbin/useradd" : "useradd",
                       "--system", "--create-home", "--shell", "/bin/bash", kTestUser},
                      {}, std::chrono::seconds(60));
  // Another test process may have created it concurrently: look again.
  if (auto user = find_user(kTestUser)) return *user;
  die("cannot create user " + std::string(kTestUser) + ": " + result.describe());
}

fs::path make_scratch_dir() {
  const char* tmp = std::getenv("TMPDIR");
  const fs::path base = tmp != nullptr && *tmp != '\0' && ::geteuid() != 0 ? tmp : "/tmp";
  std::string pattern =
      (base / ("walstream-it-" + std::to_string(::getpid()) + "-XXXXXX")).string();
  if (::mkdtemp(pattern.data()) == nullptr) die("mkdtemp " + pattern + ": " + strerror(errno));
  return pattern;
}

fs::path copy_binary(const fs::path& scratch) {
  const fs::path source = WALSTREAM_BINARY;
  const fs::path bin_dir = scratch / "bin";
  const fs::path target = bin_dir / "walstream";
  std::error_code error;
  fs::create_directories(bin_dir, error);
  if (!error) fs::copy_file(source, target, fs::copy_options::overwrite_existing, error);
  if (error) {
    // Not fatal: every test that runs walstream then fails with a clear
    // "exec failed" message, and the rest of the suite still runs.
    std::cerr << "integration_tests: cannot copy " << source << ": " << error.message() << "\n";
    return target;
  }
  fs::permissions(target, fs::perms(0755), error);
  return target;
}

void chown_tree(const fs::path& root, uid_t uid, gid_t gid) {
  if (::lchown(root.c_str(), uid, gid) != 0) die("chown " + root.string());
  for (const auto& entry : fs::recursive_directory_iterator(root)) {
    if (::lchown(entry.path().c_str(), uid, gid) != 0) die("chown " + entry.path().string());
  }
}

void drop_privileges(const TestUser& user) {
  if (::setgroups(1, &user.gid) != 0) die("setgroups: " + std::string(strerror(errno)));
  if (::setgid(user.gid) != 0) die("setgid: " + std::string(strerror(errno)));
  if (::setuid(user.uid) != 0) die("setuid: " + std::string(strerror(errno)));
  if (::setuid(0) == 0 || ::geteuid() == 0) die("could not drop root privileges");
  ::setenv("HOME", user.home.c_str(), 1);
  ::setenv("USER", user.name.c_str(), 1);
  ::setenv("LOGNAME", user.name.c_str(), 1);
}

// libpq reads PGHOST, PGPASSWORD, ... : none of the caller's may leak into
// the servers, the test's own connections, or the walstream runs.
void unset_libpq_environment() {
  std::vector<std::string> names;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    const std::string_view text(*entry);
    if (text.starts_with("PG")) names.emplace_back(text.substr(0, text.find('=')));
  }
  for (const auto& name : names) ::unsetenv(name.c_str());
}

}  // namespace

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  // Test discovery at build time must not create users or directories.
  if (GTEST_FLAG_GET(list_tests)) return RUN_ALL_TESTS();

  ::umask(022);
  const fs::path scratch = make_scratch_dir();
  const fs::path walstream = copy_binary(scratch);
  if (::geteuid() == 0) {
    const TestUser user = ensure_test_user();
    chown_tree(scratch, user.uid, user.gid);
    drop_privileges(user);
  }
  unset_libpq_environment();
  if (::chdir(scratch.c_str()) != 0) die("chdir " + scratch.string());
  it::TestEnv::init(scratch, walstream);

  const int status = RUN_ALL_TESTS();
  if (status == 0) {
    std::error_code error;
    fs::remove_all(scratch, error);
  } else {
    std::cerr << "integration_tests: scratch directory kept for inspection: " << scratch.string()
              << "\n";
  }
  return status;
}
