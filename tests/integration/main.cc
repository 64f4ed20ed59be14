// Entry point of integration_tests. PostgreSQL refuses to run as root, so
// when started as root (CI) this creates the unprivileged OS user
// `walstream-test`, prepares a scratch directory it owns with a copy of the
// walstream binary (the build tree may sit where that user cannot look, e.g.
// under /root), drops privileges, and only then runs the tests. While still
// root it also mounts a small tmpfs (scratch/smallfs) for disk-full tests; a
// helper process that keeps root unmounts it when the tests end (or when this
// process dies), since the unprivileged test process no longer can.
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include "tests/integration/rgw_server.h"
#include "tests/integration/test_env.h"

#ifndef WALSTREAM_BINARY
#error "WALSTREAM_BINARY must name the walstream binary under test"
#endif
#ifndef WALSTREAM_FAULT_SHIM
#error "WALSTREAM_FAULT_SHIM must name the storage fault shim library"
#endif
#ifndef WALSTREAM_RGW_SERVER_SCRIPT
#error "WALSTREAM_RGW_SERVER_SCRIPT must name tools/rgw-server.sh"
#endif

extern char** environ;

namespace {

namespace fs = std::filesystem;
namespace it = walstream::it;

constexpr const char* kTestUser = "walstream-test";
constexpr const char* kSmallFsSize = "48M";

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

// The binary under test: the one built with these tests, or another build
// named by WALSTREAM_TEST_BINARY (to run new tests against an older build).
fs::path binary_under_test() {
  const char* other = std::getenv("WALSTREAM_TEST_BINARY");
  return other != nullptr && *other != '\0' ? fs::path(other) : fs::path(WALSTREAM_BINARY);
}

fs::path copy_binary(const fs::path& scratch) {
  const fs::path source = binary_under_test();
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

// The fault shim goes next to the binary, for the same reason. Empty if it
// cannot be copied: the fault tests then fail saying so.
fs::path copy_fault_shim(const fs::path& scratch) {
  const fs::path source = WALSTREAM_FAULT_SHIM;
  const fs::path target = scratch / "bin" / source.filename();
  std::error_code error;
  fs::copy_file(source, target, fs::copy_options::overwrite_existing, error);
  if (!error) fs::permissions(target, fs::perms(0755), error);
  if (error) {
    std::cerr << "integration_tests: cannot copy " << source << ": " << error.message() << "\n";
    return {};
  }
  return target;
}

// tools/rgw-server.sh goes next to the binary too (tests/integration/
// rgw_server.h runs it from there). Not fatal if it cannot be copied: the
// S3 tests then fail naming the missing script.
void copy_rgw_server_script(const fs::path& scratch) {
  const fs::path source = WALSTREAM_RGW_SERVER_SCRIPT;
  std::error_code error;
  fs::copy_file(source, scratch / "bin" / source.filename(), fs::copy_options::overwrite_existing,
                error);
  if (error) {
    std::cerr << "integration_tests: cannot copy " << source << ": " << error.message() << "\n";
  }
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

// A tmpfs mounted at `dir` plus a helper process, still root, that unmounts
// it when asked through a pipe or when the pipe's write end closes because
// this process ended, however it ended.
class SmallFs {
 public:
  // Mounts; nullopt (with a note on stderr) if that is not possible.
  static std::optional<SmallFs> mount(const fs::path& dir, const TestUser& user) {
    std::error_code error;
    fs::create_directories(dir, error);
    const std::string options = "size=" + std::string(kSmallFsSize) +
                                ",mode=0700,uid=" + std::to_string(user.uid) +
                                ",gid=" + std::to_string(user.gid);
    if (error ||
        ::mount("tmpfs", dir.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, options.c_str()) != 0) {
      std::cerr << "integration_tests: no small tmpfs at " << dir.string() << " ("
                << (error ? error.message() : std::string(strerror(errno)))
                << "); disk-full tests will be skipped\n";
      fs::remove(dir, error);
      return std::nullopt;
    }
    int request[2];
    int ack[2];
    if (::pipe2(request, O_CLOEXEC) != 0 || ::pipe2(ack, O_CLOEXEC) != 0) {
      ::umount2(dir.c_str(), MNT_DETACH);
      die("pipe2: " + std::string(strerror(errno)));
    }
    const pid_t pid = ::fork();
    if (pid < 0) {
      ::umount2(dir.c_str(), MNT_DETACH);
      die("fork: " + std::string(strerror(errno)));
    }
    if (pid == 0) {
      // Helper: outlive Ctrl-C of the test run so the unmount still happens.
      ::signal(SIGINT, SIG_IGN);
      ::signal(SIGTERM, SIG_IGN);
      ::signal(SIGHUP, SIG_IGN);
      ::close(request[1]);
      ::close(ack[0]);
      char byte = 0;
      while (::read(request[0], &byte, 1) < 0 && errno == EINTR) {
      }
      if (::umount2(dir.c_str(), 0) != 0) ::umount2(dir.c_str(), MNT_DETACH);
      ::rmdir(dir.c_str());
      (void)::write(ack[1], "u", 1);
      ::_exit(0);
    }
    ::close(request[0]);
    ::close(ack[1]);
    return SmallFs(pid, request[1], ack[0]);
  }

  // Asks the helper to unmount and waits until it has.
  void unmount() {
    if (helper_ < 0) return;
    (void)::write(request_fd_, "u", 1);
    char byte = 0;
    while (::read(ack_fd_, &byte, 1) < 0 && errno == EINTR) {
    }
    ::close(request_fd_);
    ::close(ack_fd_);
    int status = 0;
    ::waitpid(helper_, &status, 0);
    helper_ = -1;
  }

 private:
  SmallFs(pid_t helper, int request_fd, int ack_fd)
      : helper_(helper), request_fd_(request_fd), ack_fd_(ack_fd) {}
  pid_t helper_ = -1;
  int request_fd_ = -1;
  int ack_fd_ = -1;
};

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
  const fs::path fault_shim = copy_fault_shim(scratch);
  copy_rgw_server_script(scratch);
  std::optional<SmallFs> small_fs;
  if (::geteuid() == 0) {
    const TestUser user = ensure_test_user();
    chown_tree(scratch, user.uid, user.gid);
    small_fs = SmallFs::mount(scratch / "smallfs", user);
    drop_privileges(user);
  }
  unset_libpq_environment();
  if (::chdir(scratch.c_str()) != 0) die("chdir " + scratch.string());
  it::TestEnv::init(scratch, walstream);
  it::TestEnv::set_fault_shim(fault_shim);
  if (small_fs) it::TestEnv::set_small_fs_dir(scratch / "smallfs");

  // The ctest fixture that starts and stops the gateway the S3 tests share
  // (tests/integration/rgw_server.h): as the test user, like the tests.
  const bool shared_rgw = argc == 4 && std::string_view(argv[1]) == "--shared-rgw";
  const int status = shared_rgw ? it::run_shared_rgw(argv[2], argv[3]) : RUN_ALL_TESTS();
  if (small_fs) small_fs->unmount();
  if (status == 0) {
    std::error_code error;
    fs::remove_all(scratch, error);
  } else {
    std::cerr << "integration_tests: scratch directory kept for inspection: " << scratch.string()
              << "\n";
  }
  return status;
}
