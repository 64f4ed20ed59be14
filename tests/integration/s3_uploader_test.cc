// storage::S3ArchiveUploader against a real S3 server (Ceph's RADOS Gateway,
// rgw_server.h): spool files go up, are read back, and leave the spool; what
// cannot be uploaded stays, and is reported once.
#include "storage/s3_archive_uploader.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "protocol/error.h"
#include "protocol/s3_location.h"
#include "tests/integration/rgw_server.h"
#include "tests/integration/tcp_fault_proxy.h"
#include "tests/integration/test_env.h"

namespace walstream::it {
namespace {

namespace fs = std::filesystem;
using storage::S3ArchiveUploader;
using storage::S3ArchiveUploaderOptions;
using testing::HasSubstr;

std::string random_bytes(std::size_t size, std::uint32_t seed) {
  std::mt19937 generator(seed);
  std::string out(size, '\0');
  for (char& c : out) c = static_cast<char>(generator());
  return out;
}

// What the callbacks saw, from the uploader's threads.
struct Outcomes {
  std::mutex mutex;
  std::vector<std::string> confirmed;
  std::vector<std::exception_ptr> failures;

  S3ArchiveUploader::ConfirmedCallback on_confirmed() {
    return [this](const std::string& name) {
      std::lock_guard lock(mutex);
      confirmed.push_back(name);
    };
  }
  S3ArchiveUploader::FailureCallback on_failure() {
    return [this](std::exception_ptr failure) {
      std::lock_guard lock(mutex);
      failures.push_back(failure);
    };
  }
  std::size_t confirmed_count() {
    std::lock_guard lock(mutex);
    return confirmed.size();
  }
  std::size_t failure_count() {
    std::lock_guard lock(mutex);
    return failures.size();
  }
  std::set<std::string> confirmed_set() {
    std::lock_guard lock(mutex);
    return {confirmed.begin(), confirmed.end()};
  }
  // The first failure's message and hint; empty when there is none.
  std::string failure_text() {
    std::lock_guard lock(mutex);
    if (failures.empty()) return {};
    try {
      std::rethrow_exception(failures.front());
    } catch (const Error& error) {
      return std::string(error.what()) + " hint: " + error.hint();
    } catch (const std::exception& error) {
      return std::string("not a walstream::Error: ") + error.what();
    }
  }
};

class S3UploaderTest : public RgwTest {
 protected:
  void SetUp() override {
    RgwTest::SetUp();
    spool_ = TestEnv::make_dir("s3_spool");
    location_ = {bucket(), unique_prefix() + "db/"};
  }

  S3ArchiveUploaderOptions options(int parallelism = 2, int port = 0) const {
    S3ArchiveUploaderOptions options;
    options.client.endpoint =
        port == 0 ? server().endpoint() : "http://127.0.0.1:" + std::to_string(port);
    options.client.region = server().region();
    options.client.connect_timeout = 5s;
    options.client.retry.max_attempts = 3;
    options.client.retry.initial_backoff = 20ms;
    options.credentials = {server().access_key_id(), server().secret_access_key(), ""};
    options.location = location_;
    options.spool = spool_;
    options.parallelism = parallelism;
    return options;
  }

  std::string key(const std::string& name) const { return location_.prefix + name; }

  fs::path spool_;
  protocol::S3Location location_;
};

TEST_F(S3UploaderTest, UploadsSegmentsCompressedSegmentsAndHistoryFiles) {
  const std::map<std::string, std::string> files = {
      {"000000010000000000000003", random_bytes(16 * 1024 * 1024, 3)},
      {"000000010000000000000004", random_bytes(16 * 1024 * 1024, 4)},
      {"000000010000000000000005.zst", random_bytes(300000, 5)},
      {"00000002.history", "1\t0/5000000\tno recovery target specified\n"},
  };
  for (const auto& [name, content] : files) write_file(spool_ / name, content);
  Outcomes outcomes;
  {
    S3ArchiveUploader uploader(options(), outcomes.on_confirmed(), outcomes.on_failure());
    for (const auto& [name, content] : files) uploader.enqueue(name);
    EXPECT_GE(uploader.pending(), 1u);
    ASSERT_TRUE(wait_until([&] {
      return outcomes.confirmed_count() == files.size() || outcomes.failure_count() > 0;
    })) << outcomes.confirmed_count();
    EXPECT_EQ(uploader.pending(), 0u);
    EXPECT_FALSE(uploader.failed());
  }
  EXPECT_EQ(outcomes.failure_text(), "");
  std::set<std::string> names;
  for (const auto& [name, content] : files) {
    names.insert(name);
    EXPECT_TRUE(server().get_object(bucket(), key(name)) == content) << name;
  }
  EXPECT_EQ(outcomes.confirmed_set(), names);
  // Segments left the spool; the history file stays for timeline following.
  EXPECT_FALSE(fs::exists(spool_ / "000000010000000000000003"));
  EXPECT_FALSE(fs::exists(spool_ / "000000010000000000000004"));
  EXPECT_FALSE(fs::exists(spool_ / "000000010000000000000005.zst"));
  EXPECT_TRUE(fs::exists(spool_ / "00000002.history"));
}

TEST_F(S3UploaderTest, AFileUploadedBeforeIsConfirmedWithoutOverwriting) {
  const std::string name = "000000010000000000000007";
  const std::string content = random_bytes(1024 * 1024, 7);
  server().put_object(bucket(), key(name), content);
  const auto before = server().curl({"-I", server().endpoint() + "/" + bucket() + "/" + key(name)});
  write_file(spool_ / name, content);
  // And one whose PUT answer is lost: the gateway stores it, the uploader
  // finds the key taken by its own bytes.
  const std::string lost = "000000010000000000000008";
  const std::string lost_content = random_bytes(1024 * 1024, 8);
  write_file(spool_ / lost, lost_content);
  TcpFaultProxy proxy(server().s3_port());
  proxy.plan({{TcpFaultProxy::Fault::kCutAnswerAfter, 0}});

  Outcomes outcomes;
  {
    S3ArchiveUploader uploader(options(1, proxy.port()), outcomes.on_confirmed(),
                               outcomes.on_failure());
    uploader.enqueue(lost);
    uploader.enqueue(name);
    ASSERT_TRUE(wait_until(
        [&] { return outcomes.confirmed_count() == 2 || outcomes.failure_count() > 0; }));
  }
  EXPECT_EQ(outcomes.failure_text(), "");
  EXPECT_EQ(outcomes.confirmed_set(), (std::set<std::string>{name, lost}));
  // The PUT whose answer was cut, then its retry on a new connection.
  EXPECT_EQ(proxy.request_heads().size(), 2u);
  EXPECT_FALSE(fs::exists(spool_ / name));
  EXPECT_FALSE(fs::exists(spool_ / lost));
  EXPECT_TRUE(server().get_object(bucket(), key(lost)) == lost_content);
  // The pre-placed object is the same one (same Last-Modified).
  const auto after = server().curl({"-I", server().endpoint() + "/" + bucket() + "/" + key(name)});
  const auto last_modified = [](const std::string& head) {
    const auto at = head.find("Last-Modified:");
    return at == std::string::npos ? std::string() : head.substr(at, head.find('\n', at) - at);
  };
  EXPECT_NE(last_modified(before.out), "");
  EXPECT_EQ(last_modified(after.out), last_modified(before.out));
}

TEST_F(S3UploaderTest, ADifferentObjectUnderTheKeyIsAConflictAndStopsTheUploader) {
  const std::string name = "000000010000000000000009.zst";
  server().put_object(bucket(), key(name), "someone else's bytes");
  write_file(spool_ / name, random_bytes(5000, 9));
  const std::string later = "00000001000000000000000A";
  write_file(spool_ / later, random_bytes(5000, 10));
  Outcomes outcomes;
  {
    S3ArchiveUploader uploader(options(1), outcomes.on_confirmed(), outcomes.on_failure());
    uploader.enqueue(name);
    ASSERT_TRUE(wait_until([&] { return outcomes.failure_count() > 0; }));
    EXPECT_TRUE(uploader.failed());
    // No more work is taken after a failure.
    uploader.enqueue(later);
    EXPECT_EQ(uploader.pending(), 0u);
  }
  EXPECT_EQ(outcomes.failure_count(), 1u);
  EXPECT_EQ(outcomes.confirmed_count(), 0u);
  const std::string text = outcomes.failure_text();
  EXPECT_THAT(text, HasSubstr("already holds a different object"));
  EXPECT_THAT(text, HasSubstr("s3://" + bucket() + "/" + key(name)));
  EXPECT_THAT(text, HasSubstr("use another prefix for each database system"));
  EXPECT_TRUE(fs::exists(spool_ / name));
  EXPECT_TRUE(fs::exists(spool_ / later));
  EXPECT_EQ(server().get_object(bucket(), key(name)), "someone else's bytes");
  EXPECT_THAT(server().curl({"-I", server().endpoint() + "/" + bucket() + "/" + key(later)}).out,
              testing::EndsWith("\n404"));
}

TEST_F(S3UploaderTest, AServerThatKeepsRefusingFailsOnceAndKeepsTheFiles) {
  TcpFaultProxy proxy(server().s3_port());
  // Every connection answered 503: more than the attempts of all the files.
  proxy.plan(std::vector<TcpFaultProxy::Plan>(100, {TcpFaultProxy::Fault::kAnswer503}));
  std::vector<std::string> names;
  for (int i = 0; i < 4; ++i) {
    names.push_back("0000000100000000000000" + std::to_string(10 + i));
    write_file(spool_ / names.back(), random_bytes(4096, 20 + i));
  }
  Outcomes outcomes;
  {
    S3ArchiveUploader uploader(options(2, proxy.port()), outcomes.on_confirmed(),
                               outcomes.on_failure());
    for (const auto& name : names) uploader.enqueue(name);
    ASSERT_TRUE(wait_until([&] { return outcomes.failure_count() > 0; }));
  }
  EXPECT_EQ(outcomes.failure_count(), 1u);
  EXPECT_EQ(outcomes.confirmed_count(), 0u);
  EXPECT_THAT(outcomes.failure_text(), HasSubstr("503"));
  for (const auto& name : names) EXPECT_TRUE(fs::exists(spool_ / name)) << name;
}

// Told to wait out an unavailable bucket, the uploader keeps every file
// through rounds of 503s (each round: the client's own attempts) and uploads
// them all once the server answers, reporting the outage and its end.
TEST_F(S3UploaderTest, WaitsOutAnUnavailableBucketAndThenUploadsEverything) {
  TcpFaultProxy proxy(server().s3_port());
  // Three attempts per round: more than two rounds of both threads.
  proxy.plan(std::vector<TcpFaultProxy::Plan>(14, {TcpFaultProxy::Fault::kAnswer503}));
  std::vector<std::string> names;
  for (int i = 0; i < 4; ++i) {
    names.push_back("0000000100000000000000" + std::to_string(30 + i));
    write_file(spool_ / names.back(), random_bytes(4096, 40 + i));
  }
  std::mutex mutex;
  std::vector<std::string> unavailable;
  std::vector<std::chrono::milliseconds> waits;
  int available = 0;
  S3ArchiveUploaderOptions with_retries = options(2, proxy.port());
  with_retries.retry_while_unavailable = true;
  with_retries.first_outage_wait = 10ms;
  with_retries.max_outage_wait = 40ms;
  with_retries.on_unavailable = [&](const Error& error, std::chrono::milliseconds retry_in) {
    std::lock_guard lock(mutex);
    unavailable.emplace_back(error.what());
    waits.push_back(retry_in);
  };
  with_retries.on_available = [&] {
    std::lock_guard lock(mutex);
    ++available;
  };
  Outcomes outcomes;
  {
    S3ArchiveUploader uploader(with_retries, outcomes.on_confirmed(), outcomes.on_failure());
    for (const auto& name : names) uploader.enqueue(name);
    ASSERT_TRUE(wait_until([&] { return outcomes.confirmed_count() == names.size(); }, 60s))
        << outcomes.failure_text();
    EXPECT_EQ(uploader.pending(), 0u);
  }
  EXPECT_EQ(outcomes.failure_count(), 0u) << outcomes.failure_text();
  EXPECT_EQ(outcomes.confirmed_set(), std::set<std::string>(names.begin(), names.end()));
  for (const auto& name : names) EXPECT_FALSE(fs::exists(spool_ / name)) << name;
  std::lock_guard lock(mutex);
  ASSERT_GE(unavailable.size(), 2u);
  EXPECT_THAT(unavailable.front(), HasSubstr("503"));
  EXPECT_GE(available, 1);
  for (const auto wait : waits) {
    EXPECT_GE(wait, 10ms);
    EXPECT_LE(wait, 40ms);
  }
}

// A failure that waiting cannot mend (a conflict) still stops the uploader
// when outages are waited out.
TEST_F(S3UploaderTest, WaitingOutOutagesStillFailsOnAConflict) {
  const std::string name = "000000010000000000000041";
  write_file(spool_ / name, random_bytes(4096, 50));
  server().put_object(bucket(), key(name), "someone else's bytes");
  S3ArchiveUploaderOptions with_retries = options(1);
  with_retries.retry_while_unavailable = true;
  Outcomes outcomes;
  {
    S3ArchiveUploader uploader(with_retries, outcomes.on_confirmed(), outcomes.on_failure());
    uploader.enqueue(name);
    ASSERT_TRUE(wait_until([&] { return outcomes.failure_count() > 0; }, 60s));
  }
  EXPECT_THAT(outcomes.failure_text(), HasSubstr("never overwritten"));
  EXPECT_TRUE(fs::exists(spool_ / name));
}

TEST_F(S3UploaderTest, NeverRunsMoreUploadsThanItsBound) {
  TcpFaultProxy proxy(server().s3_port());
  std::set<std::string> names;
  for (int i = 0; i < 8; ++i) {
    const std::string name = "0000000100000000000000" + std::to_string(20 + i);
    write_file(spool_ / name, random_bytes(2 * 1024 * 1024, 30 + i));
    names.insert(name);
  }
  Outcomes outcomes;
  {
    S3ArchiveUploader uploader(options(2, proxy.port()), outcomes.on_confirmed(),
                               outcomes.on_failure());
    for (const auto& name : names) uploader.enqueue(name);
    ASSERT_TRUE(wait_until([&] {
      return outcomes.confirmed_count() == names.size() || outcomes.failure_count() > 0;
    }));
    EXPECT_GE(uploader.peak_uploads(), 1u);
    EXPECT_LE(uploader.peak_uploads(), 2u);
  }
  EXPECT_EQ(outcomes.failure_text(), "");
  EXPECT_EQ(outcomes.confirmed_set(), names);
  // One kept-alive connection per upload thread, two threads.
  EXPECT_LE(proxy.request_heads().size(), 2u);
  for (const auto& name : names) EXPECT_FALSE(fs::exists(spool_ / name)) << name;
}

TEST_F(S3UploaderTest, RefusesNamesThatAreNeverUploadedAndSymlinks) {
  Outcomes outcomes;
  {
    S3ArchiveUploader uploader(options(1), outcomes.on_confirmed(), outcomes.on_failure());
    EXPECT_THROW(uploader.enqueue("000000010000000000000003.partial"), Error);
    EXPECT_THROW(uploader.enqueue("000000010000000000000003.zst.tmp"), Error);
    EXPECT_THROW(uploader.enqueue("postgresql.conf"), Error);
    // A symlink in the spool is not followed.
    const fs::path target = TestEnv::unique_path("elsewhere");
    write_file(target, "not WAL");
    fs::create_symlink(target, spool_ / "000000010000000000000030");
    uploader.enqueue("000000010000000000000030");
    ASSERT_TRUE(
        wait_until([&] { return outcomes.failure_count() > 0 || outcomes.confirmed_count() > 0; }));
  }
  EXPECT_THAT(outcomes.failure_text(), HasSubstr("000000010000000000000030"));
  EXPECT_EQ(outcomes.confirmed_count(), 0u);
  EXPECT_TRUE(fs::is_symlink(spool_ / "000000010000000000000030"));
}

}  // namespace
}  // namespace walstream::it
