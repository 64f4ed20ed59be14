// The uploader's threads against endpoints that never work: a port that
// refuses connections and one that accepts them and never answers. What is
// checked is the threading (queue, retries, waits, stop and cancel), also
// under ThreadSanitizer; uploads that succeed are tested against a real
// gateway (tests/integration/s3_uploader_test.cc).
#include "storage/s3_archive_uploader.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "protocol/error.h"
#include "storage/s3_client.h"

namespace walstream::storage {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// A loopback port held for the test: bound only (connections are refused)
// or listening without ever accepting (connections hang after the
// handshake, as with a server that stopped answering).
class LocalPort {
 public:
  explicit LocalPort(bool listening) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    EXPECT_GE(fd_, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
    socklen_t length = sizeof address;
    EXPECT_EQ(::getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length), 0);
    port_ = ntohs(address.sin_port);
    if (listening) {
      EXPECT_EQ(::listen(fd_, 16), 0);
    }
  }
  ~LocalPort() { ::close(fd_); }
  LocalPort(const LocalPort&) = delete;
  LocalPort& operator=(const LocalPort&) = delete;
  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }

 private:
  int fd_ = -1;
  int port_ = 0;
};

class S3ArchiveUploaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    spool_ = fs::temp_directory_path() /
             ("walstream-uploader-test-" + std::to_string(::getpid()) + "-" +
              ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(spool_);
    fs::create_directories(spool_);
    for (int i = 0; i < 3; ++i) {
      names_.push_back("00000001000000000000000" + std::to_string(i + 1));
      std::ofstream(spool_ / names_.back()) << std::string(4096, static_cast<char>('a' + i));
    }
  }
  void TearDown() override { fs::remove_all(spool_); }

  S3ArchiveUploaderOptions options(const std::string& endpoint) const {
    S3ArchiveUploaderOptions options;
    options.client.endpoint = endpoint;
    options.client.region = "us-east-1";
    options.client.connect_timeout = 2s;
    options.client.retry.max_attempts = 2;
    options.client.retry.initial_backoff = 1ms;
    options.credentials = {"AKIDEXAMPLE", "not-a-real-secret", ""};
    options.location = {"bucket", "db/"};
    options.spool = spool_;
    options.parallelism = 2;
    return options;
  }

  void expect_files_in_spool() const {
    for (const auto& name : names_) EXPECT_TRUE(fs::exists(spool_ / name)) << name;
  }

  // Polls `done` every 5 ms for up to 30 s.
  template <typename Predicate>
  static bool eventually(Predicate done) {
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    while (!done()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      std::this_thread::sleep_for(5ms);
    }
    return true;
  }

  fs::path spool_;
  std::vector<std::string> names_;
};

TEST_F(S3ArchiveUploaderTest, ARefusedEndpointFailsOnceAndKeepsTheFiles) {
  LocalPort refusing(/*listening=*/false);
  std::mutex mutex;
  std::vector<std::exception_ptr> failures;
  std::atomic<int> confirmed{0};
  S3ArchiveUploader uploader(
      options(refusing.endpoint()), [&](const std::string&) { ++confirmed; },
      [&](std::exception_ptr failure) {
        std::lock_guard lock(mutex);
        failures.push_back(failure);
      });
  for (const auto& name : names_) uploader.enqueue(name);
  ASSERT_TRUE(eventually([&] { return uploader.failed(); }));
  uploader.stop();
  EXPECT_EQ(confirmed.load(), 0);
  ASSERT_EQ(failures.size(), 1u) << "the first failure only";
  try {
    std::rethrow_exception(failures.front());
  } catch (const S3Unavailable& error) {
    EXPECT_EQ(error.kind(), ErrorKind::kConnection);
    EXPECT_NE(std::string(error.what()).find("(after 2 attempts)"), std::string::npos)
        << error.what();
  } catch (const std::exception& error) {
    ADD_FAILURE() << "not S3Unavailable: " << error.what();
  }
  expect_files_in_spool();
}

TEST_F(S3ArchiveUploaderTest, WaitingOutAnOutageKeepsEveryFileQueuedAndStopsAtOnce) {
  LocalPort refusing(/*listening=*/false);
  S3ArchiveUploaderOptions waiting = options(refusing.endpoint());
  waiting.retry_while_unavailable = true;
  waiting.first_outage_wait = 2ms;
  waiting.max_outage_wait = 8ms;
  std::mutex mutex;
  std::vector<std::chrono::milliseconds> waits;
  waiting.on_unavailable = [&](const Error& error, std::chrono::milliseconds retry_in) {
    EXPECT_EQ(error.kind(), ErrorKind::kConnection);
    std::lock_guard lock(mutex);
    waits.push_back(retry_in);
  };
  std::atomic<int> failures{0};
  std::atomic<int> available{0};
  waiting.on_available = [&] { ++available; };
  S3ArchiveUploader uploader(
      std::move(waiting), [](const std::string&) {}, [&](std::exception_ptr) { ++failures; });
  for (const auto& name : names_) uploader.enqueue(name);
  ASSERT_TRUE(eventually([&] {
    std::lock_guard lock(mutex);
    return waits.size() >= 8;
  }));
  EXPECT_EQ(uploader.pending(), names_.size()) << "a file that failed goes back to the queue";
  EXPECT_FALSE(uploader.failed());
  const auto stopping = std::chrono::steady_clock::now();
  uploader.stop();
  EXPECT_LT(std::chrono::steady_clock::now() - stopping, 5s);
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(available.load(), 0);
  std::lock_guard lock(mutex);
  EXPECT_EQ(waits.front(), 2ms);
  for (const auto wait : waits) {
    EXPECT_GE(wait, 2ms);
    EXPECT_LE(wait, 8ms);
  }
  EXPECT_EQ(waits.back(), 8ms) << "the wait doubles up to its bound";
  expect_files_in_spool();
}

TEST_F(S3ArchiveUploaderTest, StopCancelsAnUploadThatHangs) {
  LocalPort hanging(/*listening=*/true);
  S3ArchiveUploaderOptions hung = options(hanging.endpoint());
  hung.client.stall_timeout = 60s;
  hung.parallelism = 1;
  std::atomic<int> failures{0};
  S3ArchiveUploader uploader(
      std::move(hung), [](const std::string&) {}, [&](std::exception_ptr) { ++failures; });
  uploader.enqueue(names_.front());
  std::this_thread::sleep_for(300ms);  // connected, request sent, no answer
  EXPECT_EQ(uploader.pending(), 1u);
  const auto stopping = std::chrono::steady_clock::now();
  uploader.stop();
  EXPECT_LT(std::chrono::steady_clock::now() - stopping, 5s) << "stop waited for the stall timeout";
  EXPECT_EQ(failures.load(), 0) << "a cancelled upload is no failure";
  expect_files_in_spool();
}

}  // namespace
}  // namespace walstream::storage
