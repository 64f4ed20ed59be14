#include "tests/integration/rgw_server.h"

#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <iostream>
#include <map>
#include <random>
#include <sstream>
#include <stdexcept>

namespace walstream::it {

namespace fs = std::filesystem;

namespace {

constexpr int kStartAttempts = 3;
// The script bounds each of its waits by 60 s; this bounds the whole start.
constexpr auto kStartTimeout = 240s;
constexpr auto kStopTimeout = 60s;
constexpr auto kCurlTimeout = 120s;
// Where the OSD takes its ports: the monitor and the gateway stay out.
constexpr int kOsdPortMin = 6800;
constexpr int kOsdPortMax = 7300;
constexpr const char* kCephPrograms[] = {"/usr/bin/ceph", "/usr/bin/ceph-mon", "/usr/bin/ceph-osd",
                                         "/usr/bin/radosgw", "/usr/bin/radosgw-admin"};

int pick_port_outside_osd_range() {
  for (;;) {
    const int port = pick_free_port();
    if (port < kOsdPortMin || port > kOsdPortMax) return port;
  }
}

void require_ceph() {
  for (const char* program : kCephPrograms) {
    if (::access(program, X_OK) != 0) {
      throw std::runtime_error(std::string("Ceph's RADOS Gateway is not installed (no ") + program +
                               "): the S3 tests need the packages radosgw ceph-mon ceph-osd "
                               "ceph-common; run tools/install-deps.sh as root");
    }
  }
}

std::map<std::string, std::string> read_env_file(const fs::path& path) {
  std::map<std::string, std::string> values;
  for (const std::string& line : non_empty_lines(read_file(path))) {
    const auto eq = line.find('=');
    if (eq != std::string::npos) values[line.substr(0, eq)] = line.substr(eq + 1);
  }
  return values;
}

std::string required(const std::map<std::string, std::string>& values, const std::string& name,
                     const fs::path& file) {
  const auto found = values.find(name);
  if (found == values.end() || found->second.empty()) {
    throw std::runtime_error(file.string() + " has no " + name);
  }
  return found->second;
}

// Splits curl's output into the body and the status written by -w.
int split_status(CommandResult& result) {
  const auto newline = result.out.rfind('\n');
  const std::string status =
      newline == std::string::npos ? result.out : result.out.substr(newline + 1);
  result.out.resize(newline == std::string::npos ? 0 : newline);
  try {
    return std::stoi(status);
  } catch (const std::exception&) {
    return 0;
  }
}

// In the shared gateway's directory: the started gateway's own directory,
// or why none started.
constexpr const char* kSharedCurrentFile = "current";
constexpr const char* kSharedErrorFile = "error";

// Stops every gateway an earlier run left under `shared_dir`.
void stop_shared_gateways(const fs::path& shared_dir, const fs::path& script) {
  std::error_code error;
  for (const auto& entry : fs::directory_iterator(shared_dir, error)) {
    if (!fs::exists(entry.path() / "ceph.conf")) continue;
    const CommandResult result =
        run_command({"bash", script.string(), "stop", entry.path().string()}, {}, kStopTimeout);
    if (result.exit_code != 0) std::cerr << result.describe() << "\n";
  }
}

}  // namespace

std::unique_ptr<RgwServer> RgwServer::start(std::string_view name) { return start_under({}, name); }

// Under `parent` when given, else in the scratch directory.
std::unique_ptr<RgwServer> RgwServer::start_under(const fs::path& parent, std::string_view name) {
  require_ceph();
  const fs::path script = TestEnv::walstream_binary().parent_path() / "rgw-server.sh";
  if (!fs::exists(script)) {
    throw std::runtime_error("missing " + script.string() +
                             " (integration_tests copies tools/rgw-server.sh there)");
  }
  std::string failures;
  for (int attempt = 1; attempt <= kStartAttempts; ++attempt) {
    std::unique_ptr<RgwServer> server(new RgwServer());
    server->script_ = script;
    server->dir_ = parent.empty() ? TestEnv::unique_path(name)
                                  : parent / (std::string(name) + "-" + std::to_string(attempt));
    const int mon_port = pick_port_outside_osd_range();
    int s3_port = pick_port_outside_osd_range();
    while (s3_port == mon_port) s3_port = pick_port_outside_osd_range();
    const auto started = std::chrono::steady_clock::now();
    const CommandResult result =
        run_command({"bash", script.string(), "start", server->dir_.string(),
                     std::to_string(mon_port), std::to_string(s3_port)},
                    {}, kStartTimeout);
    server->startup_time_ = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - started);
    if (result.exit_code != 0) {
      // The script stopped what it started; a timeout may have left daemons.
      server->stop();
      failures += "\nattempt " + std::to_string(attempt) + ": " + result.describe();
      continue;
    }
    server->read_env();
    // curl reads its credentials from here, not from its command line.
    write_file(server->dir_ / "curl.conf",
               "user = \"" + server->access_key_id_ + ":" + server->secret_access_key_ +
                   "\"\naws-sigv4 = \"aws:amz:" + server->region_ +
                   ":s3\"\nheader = \"x-amz-content-sha256: UNSIGNED-PAYLOAD\"\n");
    fs::permissions(server->dir_ / "curl.conf", fs::perms::owner_read | fs::perms::owner_write);
    return server;
  }
  throw std::runtime_error("could not start a RADOS Gateway:" + failures);
}

void RgwServer::read_env() {
  const fs::path env_file = dir_ / "env";
  const auto values = read_env_file(env_file);
  endpoint_ = required(values, "AWS_ENDPOINT_URL", env_file);
  region_ = required(values, "AWS_REGION", env_file);
  access_key_id_ = required(values, "AWS_ACCESS_KEY_ID", env_file);
  secret_access_key_ = required(values, "AWS_SECRET_ACCESS_KEY", env_file);
  const auto port = endpoint_.rfind(':');
  s3_port_ = port == std::string::npos ? 0 : std::stoi(endpoint_.substr(port + 1));
}

std::unique_ptr<RgwServer> RgwServer::attach(const fs::path& shared_dir) {
  const fs::path error_file = shared_dir / kSharedErrorFile;
  if (fs::exists(error_file)) {
    throw std::runtime_error("the shared RADOS Gateway did not start: " + read_file(error_file));
  }
  const fs::path current = shared_dir / kSharedCurrentFile;
  if (!fs::exists(current)) {
    throw std::runtime_error("no shared RADOS Gateway in " + shared_dir.string() +
                             " (ctest starts it with the fixture rgw: run the S3 tests through "
                             "ctest, or unset WALSTREAM_TEST_SHARED_RGW)");
  }
  std::unique_ptr<RgwServer> server(new RgwServer());
  server->owned_ = false;
  server->dir_ = read_file(current);
  server->script_ = TestEnv::walstream_binary().parent_path() / "rgw-server.sh";
  server->read_env();
  return server;
}

RgwServer::~RgwServer() {
  if (owned_) stop();
}

void RgwServer::purge_bucket(const std::string& bucket) const {
  const CommandResult result =
      run_command({"bash", script_.string(), "purge", dir_.string(), bucket}, {}, kStopTimeout);
  if (result.exit_code != 0) {
    throw std::runtime_error("deleting bucket " + bucket + " failed: " + result.describe());
  }
}

void RgwServer::stop_gateway() const {
  if (!owned_) throw std::runtime_error("the shared gateway is not ours to stop");
  const CommandResult result =
      run_command({"bash", script_.string(), "stop-gateway", dir_.string()}, {}, kStopTimeout);
  if (result.exit_code != 0) {
    throw std::runtime_error("stopping the gateway failed: " + result.describe());
  }
}

void RgwServer::start_gateway() const {
  if (!owned_) throw std::runtime_error("the shared gateway is not ours to start");
  const CommandResult result =
      run_command({"bash", script_.string(), "start-gateway", dir_.string()}, {}, kStartTimeout);
  if (result.exit_code != 0) {
    throw std::runtime_error("starting the gateway again failed: " + result.describe());
  }
}

namespace {

void signal_gateway(const fs::path& dir, int signal) {
  const fs::path pid_file = dir / "run" / "ceph-client.rgw.walstream.pid";
  const std::string text = read_file(pid_file);
  const pid_t pid = static_cast<pid_t>(std::stol(text));
  if (pid <= 1 || ::kill(pid, signal) != 0) {
    throw std::runtime_error("cannot signal the gateway (" + pid_file.string() + ": " + text + ")");
  }
}

}  // namespace

void RgwServer::freeze_gateway() const {
  if (!owned_) throw std::runtime_error("the shared gateway is not ours to freeze");
  signal_gateway(dir_, SIGSTOP);
}

void RgwServer::thaw_gateway() const {
  if (!owned_) throw std::runtime_error("the shared gateway is not ours to thaw");
  signal_gateway(dir_, SIGCONT);
}

void RgwServer::stop() {
  if (dir_.empty()) return;
  const CommandResult result =
      run_command({"bash", script_.string(), "stop", dir_.string()}, {}, kStopTimeout);
  if (result.exit_code != 0) {
    std::cerr << "stopping the RADOS Gateway in " << dir_.string()
              << " failed: " << result.describe() << "\n";
  }
}

EnvOverrides RgwServer::aws_env() const {
  return {
      {"AWS_ENDPOINT_URL", endpoint_},
      {"AWS_REGION", region_},
      {"AWS_ACCESS_KEY_ID", access_key_id_},
      {"AWS_SECRET_ACCESS_KEY", secret_access_key_},
      {"AWS_SESSION_TOKEN", std::nullopt},
      {"AWS_PROFILE", std::nullopt},
      {"AWS_SHARED_CREDENTIALS_FILE", std::nullopt},
      {"AWS_DEFAULT_REGION", std::nullopt},
  };
}

CommandResult RgwServer::curl(const std::vector<std::string>& args) const {
  std::vector<std::string> argv{
      "curl", "-sS",           "--max-time", "60", "-K", (dir_ / "curl.conf").string(),
      "-w",   "\n%{http_code}"};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_command(argv, {}, kCurlTimeout);
}

void RgwServer::create_bucket(const std::string& bucket) const {
  CommandResult result = curl({"-X", "PUT", endpoint_ + "/" + bucket});
  if (split_status(result) != 200) {
    throw std::runtime_error("creating bucket " + bucket + " failed: " + result.describe());
  }
}

void RgwServer::put_object(const std::string& bucket, const std::string& key,
                           const std::string& content) const {
  const fs::path file = TestEnv::unique_path("s3-upload");
  write_file(file, content);
  CommandResult result = curl({"-T", file.string(), endpoint_ + "/" + bucket + "/" + key});
  fs::remove(file);
  if (split_status(result) != 200) {
    throw std::runtime_error("PUT " + bucket + "/" + key + " failed: " + result.describe());
  }
}

std::string RgwServer::get_object(const std::string& bucket, const std::string& key) const {
  CommandResult result = curl({endpoint_ + "/" + bucket + "/" + key});
  if (split_status(result) != 200) {
    throw std::runtime_error("GET " + bucket + "/" + key + " failed: " + result.describe());
  }
  return std::move(result.out);
}

std::string RgwServer::log_tail(int lines) const {
  const fs::path log = dir_ / "log" / "ceph-client.rgw.walstream.log";
  const CommandResult result =
      run_command({"tail", "-n", std::to_string(lines), log.string()}, {}, 10s);
  return result.out;
}

int run_shared_rgw(const std::string& action, const fs::path& shared_dir) {
  const fs::path script = TestEnv::walstream_binary().parent_path() / "rgw-server.sh";
  if (action != "start" && action != "stop") {
    std::cerr << "integration_tests: --shared-rgw start|stop DIR\n";
    return 2;
  }
  stop_shared_gateways(shared_dir, script);
  std::error_code error;
  fs::remove_all(shared_dir, error);
  if (error) {
    std::cerr << "integration_tests: cannot delete " << shared_dir.string() << ": "
              << error.message() << "\n";
    return 1;
  }
  if (action == "stop") return 0;
  fs::create_directories(shared_dir);
  try {
    std::unique_ptr<RgwServer> server = RgwServer::start_under(shared_dir, "gateway");
    // Written last and whole: a test that sees it sees a gateway that answers.
    write_file(shared_dir / "current.tmp", server->dir().string());
    fs::rename(shared_dir / "current.tmp", shared_dir / kSharedCurrentFile);
    std::cout << "RADOS Gateway at " << server->endpoint() << " started in "
              << server->startup_time().count() << " ms, shared by the S3 tests\n";
    server->owned_ = false;  // runs on after this process: the cleanup stops it
  } catch (const std::exception& failure) {
    std::cerr << "integration_tests: " << failure.what() << "\n";
    write_file(shared_dir / kSharedErrorFile, failure.what());
  }
  return 0;
}

// ---------------------------------------------------------------------------
// RgwTest

std::unique_ptr<RgwServer> RgwTest::server_;
std::string RgwTest::start_error_;
std::string RgwTest::bucket_;

namespace {

// Bucket names are 3-63 lowercase letters, digits and hyphens.
std::string fresh_bucket_name() {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::random_device random;
  std::string name = "walstream-test-";
  for (int i = 0; i < 12; ++i) name += kDigits[random() % 16];
  return name;
}

const char* shared_gateway_dir() {
  const char* dir = std::getenv("WALSTREAM_TEST_SHARED_RGW");
  return dir != nullptr && *dir != '\0' ? dir : nullptr;
}

}  // namespace

void RgwTest::SetUpTestSuite() {
  start_error_.clear();
  try {
    if (const char* shared = shared_gateway_dir()) {
      server_ = RgwServer::attach(shared);
      bucket_ = fresh_bucket_name();
    } else {
      server_ = RgwServer::start("rgw");
      std::cout << "RADOS Gateway at " << server_->endpoint() << " started in "
                << server_->startup_time().count() << " ms\n";
      bucket_ = "walstream-test";
    }
    server_->create_bucket(bucket_);
  } catch (const std::exception& error) {
    server_.reset();
    start_error_ = error.what();
  }
}

void RgwTest::TearDownTestSuite() {
  // The shared gateway outlives the suite: its objects would fill the
  // in-memory OSD over a run.
  if (server_ && shared_gateway_dir()) {
    try {
      server_->purge_bucket(bucket_);
    } catch (const std::exception& error) {
      std::cerr << error.what() << "\n";
    }
  }
  server_.reset();
}

void RgwTest::SetUp() {
  if (!server_) FAIL() << start_error_;
}

std::string RgwTest::unique_prefix() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string prefix = std::string(info->test_suite_name()) + "." + info->name();
  for (char& c : prefix) {
    if (c == '/') c = '.';
  }
  return prefix + "/";
}

}  // namespace walstream::it
