// A real S3 server for the integration tests: Ceph's RADOS Gateway on a
// one-node cluster (monitor, one in-memory OSD, gateway), started by
// tools/rgw-server.sh under the scratch directory on free loopback ports, and
// the gtest fixture that runs one per test suite.
//
// When Ceph is not installed the tests fail, naming the packages: a missing
// server must not turn S3 tests into silent skips.
#pragma once

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include "tests/integration/test_env.h"

namespace walstream::it {

class RgwServer {
 public:
  // Starts a gateway in scratch/<name>-N (ports picked with pick_free_port,
  // tried again with others when taken). Throws std::runtime_error with the
  // script's message (and the daemon's log) when it cannot.
  static std::unique_ptr<RgwServer> start(std::string_view name);
  // Stops the daemons (gateway, OSD, monitor).
  ~RgwServer();
  RgwServer(const RgwServer&) = delete;
  RgwServer& operator=(const RgwServer&) = delete;

  // http://127.0.0.1:PORT
  const std::string& endpoint() const { return endpoint_; }
  const std::string& region() const { return region_; }
  const std::string& access_key_id() const { return access_key_id_; }
  const std::string& secret_access_key() const { return secret_access_key_; }
  int s3_port() const { return s3_port_; }
  const std::filesystem::path& dir() const { return dir_; }
  // How long start() took (the last, successful attempt).
  std::chrono::milliseconds startup_time() const { return startup_time_; }

  // AWS_ENDPOINT_URL, AWS_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY
  // for a walstream child; the other AWS_* variables removed.
  EnvOverrides aws_env() const;

  // Independent of walstream's client: curl --aws-sigv4, its credentials in
  // a curl config file (never on a command line). Each returns curl's result
  // with the HTTP status as the last line of `out`.
  CommandResult curl(const std::vector<std::string>& args) const;
  // Creates a bucket; throws std::runtime_error unless the server says 200.
  void create_bucket(const std::string& bucket) const;
  // PUTs `content` as BUCKET/KEY; throws unless 200.
  void put_object(const std::string& bucket, const std::string& key,
                  const std::string& content) const;
  // The object's bytes; throws unless 200.
  std::string get_object(const std::string& bucket, const std::string& key) const;

  // Last lines of the gateway's log, for assertion messages.
  std::string log_tail(int lines = 30) const;

 private:
  RgwServer() = default;
  void stop();

  std::filesystem::path dir_;
  std::filesystem::path script_;
  std::string endpoint_;
  std::string region_;
  std::string access_key_id_;
  std::string secret_access_key_;
  int s3_port_ = 0;
  std::chrono::milliseconds startup_time_{0};
};

// A test suite against one gateway with one bucket, both shared by the
// suite's tests (each test uses keys of its own). The gateway starts in
// SetUpTestSuite; if it cannot start, every test of the suite fails with the
// reason.
class RgwTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite();
  static void TearDownTestSuite();
  void SetUp() override;

  static RgwServer& server() { return *server_; }
  // The suite's bucket (exists, path-style addressing).
  static const std::string& bucket() { return bucket_; }
  // A key prefix no other test of the run uses: "<test name>/".
  static std::string unique_prefix();

 private:
  static std::unique_ptr<RgwServer> server_;
  static std::string start_error_;
  static std::string bucket_;
};

}  // namespace walstream::it
