#include "tests/integration/rgw_server.h"

#include <unistd.h>

#include <iostream>
#include <map>
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

}  // namespace

std::unique_ptr<RgwServer> RgwServer::start(std::string_view name) {
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
    server->dir_ = TestEnv::unique_path(name);
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
    const fs::path env_file = server->dir_ / "env";
    const auto values = read_env_file(env_file);
    server->endpoint_ = required(values, "AWS_ENDPOINT_URL", env_file);
    server->region_ = required(values, "AWS_REGION", env_file);
    server->access_key_id_ = required(values, "AWS_ACCESS_KEY_ID", env_file);
    server->secret_access_key_ = required(values, "AWS_SECRET_ACCESS_KEY", env_file);
    server->s3_port_ = s3_port;
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

RgwServer::~RgwServer() { stop(); }

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

// ---------------------------------------------------------------------------
// RgwTest

std::unique_ptr<RgwServer> RgwTest::server_;
std::string RgwTest::start_error_;
std::string RgwTest::bucket_;

void RgwTest::SetUpTestSuite() {
  start_error_.clear();
  bucket_ = "walstream-test";
  try {
    server_ = RgwServer::start("rgw");
    std::cout << "RADOS Gateway at " << server_->endpoint() << " started in "
              << server_->startup_time().count() << " ms\n";
    server_->create_bucket(bucket_);
  } catch (const std::exception& error) {
    server_.reset();
    start_error_ = error.what();
  }
}

void RgwTest::TearDownTestSuite() { server_.reset(); }

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
