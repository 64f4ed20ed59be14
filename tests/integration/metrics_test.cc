// `walstream receive`'s observability against a real PostgreSQL server: the
// Prometheus endpoint of --metrics-listen (scraped with plain HTTP over a
// socket, as a scraper would) and the live status line on a terminal (a
// pseudo-terminal made here). Servers use 1 MB WAL segments.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <regex>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/integration/metrics_scraper.h"
#include "tests/integration/test_env.h"
#include "tests/integration/wal_archive.h"

extern char** environ;

namespace walstream::it {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr const char* kPrefix = "walstream_receive_";

// --- the fixture: one primary for the suite ---------------------------------

class MetricsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    try {
      primary_ = start_primary("metrics_primary");
    } catch (const std::exception& error) {
      setup_error_ = error.what();
    }
  }
  static void TearDownTestSuite() { primary_.reset(); }
  void SetUp() override { ASSERT_TRUE(primary_) << "primary failed: " << setup_error_; }

  static PgCluster& primary() { return *primary_; }

  static std::unique_ptr<PgCluster> primary_;
  static std::string setup_error_;
};

std::unique_ptr<PgCluster> MetricsTest::primary_;
std::string MetricsTest::setup_error_;

TEST_F(MetricsTest, ScrapesFollowTheStream) {
  const fs::path archive = TestEnv::unique_path("metrics_archive");
  auto receiver =
      start_walstream(receive_args(archive, primary(),
                                   {"--metrics-listen=127.0.0.1:0", "-v", "-P", "--compress=zstd"}),
                      password_env());
  const int port = metrics_port(*receiver);
  ASSERT_NE(port, 0) << receiver->wait(10s).describe();
  Scraper scraper(port);
  const std::string streaming = std::string(kPrefix) + "streaming";
  ASSERT_TRUE(wait_until([&] { return scraper.value(streaming) == 1 || !receiver->running(); }))
      << scraper.last();
  EXPECT_EQ(scraper.value(std::string(kPrefix) + "timeline"), 1);

  // Flushed WAL reaches the server's position.
  primary().exec("CREATE TABLE IF NOT EXISTS metrics_filler (id bigserial, pad text)");
  primary().exec(
      "INSERT INTO metrics_filler (pad) SELECT repeat('x', 100) FROM "
      "generate_series(1, 2000)");
  const std::uint64_t target = parse_lsn(primary().query_value("SELECT pg_current_wal_lsn()"));
  const std::string flushed_lsn = std::string(kPrefix) + "flushed_lsn";
  ASSERT_TRUE(
      wait_until([&] { return scraper.value(flushed_lsn) >= static_cast<double>(target); }, 30s))
      << "flushed LSN never reached " << format_lsn(target) << "\n"
      << scraper.last();
  auto samples = scraper.scrape();
  EXPECT_GT(samples[std::string(kPrefix) + "flushed_bytes_total"], 0);
  EXPECT_GE(samples[std::string(kPrefix) + "received_bytes_total"],
            samples[std::string(kPrefix) + "flushed_bytes_total"]);
  EXPECT_GE(samples[std::string(kPrefix) + "received_lsn"], static_cast<double>(target));
  EXPECT_GT(samples[std::string(kPrefix) + "fdatasync_seconds_count"], 0);
  EXPECT_EQ(samples[std::string(kPrefix) + "fdatasync_seconds_count"],
            samples[std::string(kPrefix) + "fdatasync_seconds_bucket{le=\"+Inf\"}"]);
  EXPECT_GT(samples[std::string(kPrefix) + "write_batch_bytes_count"], 0);
  EXPECT_EQ(samples[std::string(kPrefix) + "reconnects_total"], 0);
  EXPECT_EQ(samples[std::string(kPrefix) + "last_error_timestamp_seconds"], 0);

  // A segment switch completes a segment, which is then compressed.
  const double completed = samples[std::string(kPrefix) + "segments_completed_total"];
  primary().exec("SELECT pg_switch_wal()");
  const std::string segments = std::string(kPrefix) + "segments_completed_total";
  EXPECT_TRUE(wait_until([&] { return scraper.value(segments) > completed; }, 30s))
      << scraper.last();
  const std::string compressed = std::string(kPrefix) + "segments_compressed_total";
  EXPECT_TRUE(wait_until([&] { return scraper.value(compressed) > 0; }, 30s)) << scraper.last();
  // With nothing more to send, the lag drops to nothing.
  EXPECT_TRUE(wait_until(
      [&] {
        samples = scraper.scrape();
        return samples[std::string(kPrefix) + "lag_bytes"] == 0 &&
               samples[std::string(kPrefix) + "lag_seconds"] == 0;
      },
      30s))
      << scraper.last();

  // Other paths are not found; HEAD is answered without a body.
  const HttpResponse other = http_request(port, "GET", "/other");
  EXPECT_EQ(other.status, 404) << other.head;
  const HttpResponse head = http_request(port, "HEAD", "/metrics");
  EXPECT_EQ(head.status, 200) << head.head;
  EXPECT_EQ(head.body, "");
  EXPECT_EQ(http_request(port, "POST", "/metrics").status, 405);

  // A lost connection is counted, with its time, and streaming resumes.
  const double before_loss =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  EXPECT_EQ(primary().query_value("SELECT pg_terminate_backend(pid) FROM pg_stat_replication "
                                  "WHERE application_name = 'walstream'"),
            "t");
  EXPECT_TRUE(wait_until(
      [&] {
        samples = scraper.scrape();
        return samples[std::string(kPrefix) + "reconnects_total"] == 1 &&
               samples[std::string(kPrefix) + "streaming"] == 1;
      },
      30s))
      << scraper.last();
  EXPECT_GE(samples[std::string(kPrefix) + "last_error_timestamp_seconds"], before_loss - 1);

  const CommandResult result = stop_receiver(*receiver);
  EXPECT_EQ(result.exit_code, 0) << result.describe();
  // -P without a terminal: plain lines, nothing redrawn.
  EXPECT_THAT(non_empty_lines(result.err), ::testing::Contains("connecting")) << result.describe();
  EXPECT_EQ(result.err.find('\r'), std::string::npos) << result.describe();
}

TEST_F(MetricsTest, KeepAliveServesSeveralRequestsOnOneConnection) {
  const fs::path archive = TestEnv::unique_path("metrics_keepalive");
  auto receiver = start_walstream(
      receive_args(archive, primary(), {"--metrics-listen=127.0.0.1:0", "-v"}), password_env());
  const int port = metrics_port(*receiver);
  ASSERT_NE(port, 0) << receiver->wait(10s).describe();
  LoopbackConnection connection(port);
  connection.send(
      "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"
      "GET /nothing HTTP/1.1\r\nHost: x\r\n\r\n"
      "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  const std::optional<std::string> text = connection.read_to_end(10s);
  ASSERT_TRUE(text);
  std::vector<std::string> statuses;
  static const std::regex status_line(R"(HTTP/1\.1 ([0-9]{3}) )");
  for (auto it = std::sregex_iterator(text->begin(), text->end(), status_line);
       it != std::sregex_iterator(); ++it) {
    statuses.push_back((*it)[1]);
  }
  EXPECT_EQ(statuses, (std::vector<std::string>{"200", "404", "200"})) << *text;
  const CommandResult result = stop_receiver(*receiver);
  EXPECT_EQ(result.exit_code, 0) << result.describe();
}

// Scrapers that stall (half a request, or nothing at all) hold up neither the
// stream nor other scrapes, and are dropped after a few seconds.
TEST_F(MetricsTest, StalledScrapersDoNotStallReceiving) {
  const fs::path archive = TestEnv::unique_path("metrics_stalled");
  auto receiver = start_walstream(
      receive_args(archive, primary(), {"--metrics-listen=127.0.0.1:0", "-v"}), password_env());
  const int port = metrics_port(*receiver);
  ASSERT_NE(port, 0) << receiver->wait(10s).describe();
  Scraper scraper(port);
  ASSERT_TRUE(wait_until([&] {
    return scraper.value(std::string(kPrefix) + "streaming") == 1 || !receiver->running();
  }));

  const auto stalled_at = std::chrono::steady_clock::now();
  LoopbackConnection half(port);
  half.send("GET /metr");
  LoopbackConnection silent(port);
  // An oversized request is cut off as soon as it passes the limit.
  LoopbackConnection oversized(port);
  oversized.send("GET /metrics HTTP/1.1\r\nX-Filler: " + std::string(20000, 'a') + "\r\n\r\n");

  const std::uint64_t lsn = parse_lsn(generate_wal(primary(), 2));
  const fs::path complete = archive / segment_name(1, segno_of(lsn));
  EXPECT_TRUE(wait_until([&] { return fs::exists(complete) || !receiver->running(); }, 30s))
      << describe_archive(archive);
  EXPECT_GT(scraper.value(std::string(kPrefix) + "segments_completed_total"), 0);

  const auto dropped = [](LoopbackConnection& connection) {
    const auto text = connection.read_to_end(20s);
    return text.has_value() && text->empty();
  };
  EXPECT_TRUE(dropped(half));
  EXPECT_TRUE(dropped(silent));
  EXPECT_TRUE(oversized.read_to_end(20s).has_value());
  EXPECT_LT(std::chrono::steady_clock::now() - stalled_at, 30s);
  EXPECT_TRUE(receiver->running());
  const CommandResult result = stop_receiver(*receiver);
  EXPECT_EQ(result.exit_code, 0) << result.describe();
}

TEST_F(MetricsTest, BadListenAddressIsAUsageError) {
  for (const std::string value : {"9187", "localhost", "127.0.0.1:99999", "::1:9187"}) {
    const CommandResult result =
        run_walstream(receive_args(TestEnv::unique_path("metrics_usage"), primary(),
                                   {"--metrics-listen=" + value}),
                      password_env(), 60s);
    EXPECT_EQ(result.exit_code, kExitUsage) << result.describe();
    const std::vector<std::string> lines = non_empty_lines(result.err);
    ASSERT_EQ(lines.size(), 1U) << result.describe();
    EXPECT_THAT(lines.front(), StartsWith("walstream: error: invalid --metrics-listen \"" + value));
    EXPECT_THAT(lines.front(), HasSubstr("hint: give HOST:PORT"));
  }
}

TEST_F(MetricsTest, PortInUseFailsBeforeStreaming) {
  // A socket listening on the port the receiver is told to use.
  const int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(listener, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  ASSERT_EQ(::listen(listener, 1), 0);
  socklen_t length = sizeof address;
  ASSERT_EQ(::getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length), 0);
  const std::string port = std::to_string(ntohs(address.sin_port));

  const fs::path archive = TestEnv::unique_path("metrics_in_use");
  const CommandResult result =
      run_walstream(receive_args(archive, primary(), {"--metrics-listen=127.0.0.1:" + port}),
                    password_env(), 60s);
  ::close(listener);
  EXPECT_EQ(result.exit_code, kExitIo) << result.describe();
  const std::vector<std::string> lines = non_empty_lines(result.err);
  ASSERT_EQ(lines.size(), 1U) << result.describe();
  EXPECT_THAT(lines.front(), StartsWith("walstream: error: could not listen for metrics on "
                                        "127.0.0.1:" +
                                        port + ": "));
  // Nothing was streamed.
  EXPECT_TRUE(!fs::exists(archive) || fs::is_empty(archive)) << describe_archive(archive);
}

// --- the live status line on a terminal -------------------------------------

// A child whose stderr is a pseudo-terminal; what it writes there is kept.
class TerminalChild {
 public:
  TerminalChild(const std::vector<std::string>& args, const std::string& password) {
    master_ = ::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (master_ < 0 || ::grantpt(master_) != 0 || ::unlockpt(master_) != 0) {
      throw std::runtime_error("no pseudo-terminal: " + std::string(std::strerror(errno)));
    }
    const std::string slave_name = ::ptsname(master_);
    std::vector<std::string> argv{TestEnv::walstream_binary().string()};
    argv.insert(argv.end(), args.begin(), args.end());
    std::vector<char*> c_argv;
    for (auto& arg : argv) c_argv.push_back(arg.data());
    c_argv.push_back(nullptr);
    std::vector<std::string> environment{"PGPASSWORD=" + password};
    for (char** entry = environ; *entry != nullptr; ++entry) {
      if (!std::string_view(*entry).starts_with("PGPASSWORD=")) environment.emplace_back(*entry);
    }
    std::vector<char*> c_env;
    for (auto& entry : environment) c_env.push_back(entry.data());
    c_env.push_back(nullptr);

    pid_ = ::fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) {
      // Child: async-signal-safe calls only.
      ::setsid();
      const int slave = ::open(slave_name.c_str(), O_RDWR);
      const int dev_null = ::open("/dev/null", O_RDWR);
      ::dup2(dev_null, STDIN_FILENO);
      ::dup2(dev_null, STDOUT_FILENO);
      ::dup2(slave, STDERR_FILENO);
      ::close_range(3, ~0U, 0);
      ::execve(c_argv[0], c_argv.data(), c_env.data());
      ::_exit(127);
    }
  }
  ~TerminalChild() {
    if (pid_ > 0 && !status_) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    if (master_ >= 0) ::close(master_);
  }
  TerminalChild(const TerminalChild&) = delete;
  TerminalChild& operator=(const TerminalChild&) = delete;

  // Reads what is there (waiting up to `wait`); false once the terminal has
  // no writer left.
  bool read_some(std::chrono::milliseconds wait) {
    pollfd poll_fd{master_, POLLIN, 0};
    if (::poll(&poll_fd, 1, static_cast<int>(wait.count())) <= 0) return true;
    char buffer[4096];
    const ssize_t n = ::read(master_, buffer, sizeof buffer);
    if (n <= 0) return false;  // EIO: the child closed its side
    output_.append(buffer, static_cast<std::size_t>(n));
    return true;
  }
  bool read_until(const std::string& text, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (output_.find(text) == std::string::npos) {
      if (std::chrono::steady_clock::now() > deadline || !read_some(100ms)) return false;
    }
    return true;
  }
  // Signals the child, reads to the end, and returns its exit code.
  int stop(int sig) {
    ::kill(pid_, sig);
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    while (std::chrono::steady_clock::now() < deadline && read_some(100ms)) {
    }
    int status = 0;
    ::waitpid(pid_, &status, 0);
    status_ = status;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
  const std::string& output() const { return output_; }

 private:
  int master_ = -1;
  pid_t pid_ = -1;
  std::optional<int> status_;
  std::string output_;
};

// What a terminal shows after `output`: "\r" returns to the start of the
// line, "\n" starts the next, anything else overwrites.
std::vector<std::string> screen_of(const std::string& output) {
  std::vector<std::string> lines(1);
  std::size_t column = 0;
  for (const char c : output) {
    if (c == '\r') {
      column = 0;
    } else if (c == '\n') {
      lines.emplace_back();
      column = 0;
    } else {
      std::string& line = lines.back();
      if (column < line.size()) {
        line[column] = c;
      } else {
        line += c;
      }
      ++column;
    }
  }
  return lines;
}

TEST_F(MetricsTest, LiveStatusLineOnATerminal) {
  const fs::path archive = TestEnv::unique_path("metrics_tty");
  TerminalChild child(receive_args(archive, primary(), {"-v"}), kPassword);
  ASSERT_TRUE(child.read_until("streaming WAL from", 30s)) << child.output();
  generate_wal(primary(), 1);
  ASSERT_TRUE(child.read_until("\rtimeline 1: received 0/", 30s)) << child.output();
  // A second draw replaces the first in place.
  const std::size_t first = child.output().find("\rtimeline 1: received");
  ASSERT_TRUE(wait_until([&] {
    child.read_some(100ms);
    return child.output().find("\rtimeline 1: received", first + 1) != std::string::npos;
  }));
  EXPECT_EQ(child.stop(SIGINT), 0) << child.output();

  const std::vector<std::string> screen = screen_of(child.output());
  std::size_t log_lines = 0;
  for (const std::string& line : screen) {
    if (line.find("walstream[") == std::string::npos) continue;
    ++log_lines;
    // Log lines start at the left edge, whole, with no status text over them.
    EXPECT_TRUE(std::regex_search(line, std::regex("^[0-9]{4}-[0-9]{2}-[0-9]{2} "))) << line;
    for (const char* status : {"timeline 1: received", "timeline 1: waiting", "connecting"}) {
      EXPECT_EQ(line.find(status), std::string::npos) << line;
    }
  }
  EXPECT_GE(log_lines, 3U) << child.output();
  EXPECT_THAT(child.output(), HasSubstr("stopped at"));
  // At exit the status line is gone: the screen ends with an empty line.
  const std::string& last = screen.back();
  EXPECT_EQ(last.find_first_not_of(' '), std::string::npos)
      << "left on the screen: \"" << last << "\"";
}

}  // namespace
}  // namespace walstream::it
