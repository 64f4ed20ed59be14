// A real S3 server for the integration tests: Ceph's RADOS Gateway on a
// one-node cluster (monitor, one in-memory OSD, gateway), started by
// tools/rgw-server.sh on free loopback ports, and the gtest fixture the S3
// tests derive from.
//
// Starting a cluster takes seconds, and ctest runs every test in a process of
// its own: so under ctest one gateway serves the whole run. The ctest fixture
// `rgw` (tests/CMakeLists.txt) starts it before the first S3 test
// (`integration_tests --shared-rgw start DIR`) and stops it after the last,
// and the S3 tests find it through WALSTREAM_TEST_SHARED_RGW=DIR; each test
// suite gets a bucket of its own there, deleted with its objects when the
// suite ends. Run without that variable (the test binary by hand), a suite
// starts a gateway of its own.
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
  // The shared gateway that `--shared-rgw start DIR` started. Throws
  // std::runtime_error with the reason it could not start.
  static std::unique_ptr<RgwServer> attach(const std::filesystem::path& shared_dir);
  // Stops the daemons (gateway, OSD, monitor) unless attached.
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

  // Deletes the bucket and all its objects at once (tools/rgw-server.sh
  // purge). Throws std::runtime_error when the script fails.
  void purge_bucket(const std::string& bucket) const;

  // An outage: the gateway alone stops (connections to the endpoint are
  // refused; the buckets stay), then starts again on the same port. Only for
  // a gateway of one's own (start()); throw std::runtime_error on failure.
  void stop_gateway() const;
  void start_gateway() const;
  // A hung server: the gateway's process is stopped (SIGSTOP), so the kernel
  // still accepts connections and requests then wait for an answer that
  // does not come; thaw_gateway() sends SIGCONT. Own gateway only.
  void freeze_gateway() const;
  void thaw_gateway() const;

  // Last lines of the gateway's log, for assertion messages.
  std::string log_tail(int lines = 30) const;

 private:
  RgwServer() = default;
  static std::unique_ptr<RgwServer> start_under(const std::filesystem::path& parent,
                                                std::string_view name);
  void read_env();
  void stop();
  friend int run_shared_rgw(const std::string& action, const std::filesystem::path& shared_dir);

  std::filesystem::path dir_;
  std::filesystem::path script_;
  std::string endpoint_;
  std::string region_;
  std::string access_key_id_;
  std::string secret_access_key_;
  int s3_port_ = 0;
  std::chrono::milliseconds startup_time_{0};
  // Attached to the shared gateway: someone else stops it.
  bool owned_ = true;
};

// `integration_tests --shared-rgw start|stop DIR`, the ctest fixture's setup
// and cleanup. start stops and deletes what an earlier run left in DIR, then
// starts a gateway under it; when that fails, it writes the reason to
// DIR/error for the S3 tests to report and still exits 0, so that a gateway
// that cannot start fails the S3 tests only. stop stops it and deletes DIR.
int run_shared_rgw(const std::string& action, const std::filesystem::path& shared_dir);

// A test suite against one gateway with one bucket, both shared by the
// suite's tests (each test uses keys of its own). The gateway is the shared
// one, or starts in SetUpTestSuite; if there is none, every test of the suite
// fails with the reason.
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
