// A scripted PostgreSQL replication server on loopback, speaking the v3 wire
// protocol, for the inputs no real server can be made to send: hostile base
// backups and WAL streams. Every other behaviour is tested against real
// PostgreSQL. It answers as a PostgreSQL 15 server in trust mode; each query
// goes first to the test's handler, then to defaults that answer the commands
// a clone or a receive issues (IDENTIFY_SYSTEM, SHOW, slots, a quiet
// START_REPLICATION), so a test scripts only what it makes hostile.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace walstream::it {

// What the fake server says about itself.
struct FakeServerFacts {
  std::string server_version = "15.4";
  std::uint64_t system_id = 7301234567890123456ULL;  // tests/support/wal_builder.h
  std::uint32_t timeline = 1;
  std::string xlogpos = "0/1000000";
  std::string wal_segment_size = "1MB";
  std::string data_directory_mode = "0700";
};

// One client connection, on its own thread.
class FakeSession {
 public:
  explicit FakeSession(int fd, const FakeServerFacts& facts) : fd_(fd), facts_(facts) {}

  const FakeServerFacts& facts() const { return facts_; }

  // Result sets. A nullopt cell is NULL.
  using Row = std::vector<std::optional<std::string>>;
  void send_rows(const std::vector<std::string>& columns, const std::vector<Row>& rows,
                 std::string_view tag = "SELECT");
  void send_command_complete(std::string_view tag);
  void send_error(std::string_view sqlstate, std::string_view message);
  void send_ready();
  // CopyOutResponse ('H') and CopyBothResponse ('W'), then CopyData/CopyDone.
  void start_copy_out();
  void start_copy_both();
  void send_copy_data(std::string_view bytes);
  void send_copy_done();

  // The next message from the client; nullopt when it hung up.
  struct Message {
    char type = 0;
    std::string body;
  };
  std::optional<Message> read_message();

  // Serves the connection: startup, then every query until the client leaves.
  using QueryHandler = std::function<bool(FakeSession&, const std::string& query)>;
  void serve(const QueryHandler& handler, const std::function<void(const std::string&)>& log);

 private:
  void send(char type, std::string_view body);
  bool read_exact(char* out, std::size_t n);
  bool startup();
  void answer_by_default(const std::string& query);

  int fd_;
  FakeServerFacts facts_;
};

class FakeReplicationServer {
 public:
  // `handler` sees each query first and returns true if it answered it
  // (ReadyForQuery included: call send_ready()); false leaves it to the
  // defaults. It runs on the connection's thread.
  explicit FakeReplicationServer(FakeSession::QueryHandler handler = nullptr,
                                 FakeServerFacts facts = {});
  ~FakeReplicationServer();
  FakeReplicationServer(const FakeReplicationServer&) = delete;
  FakeReplicationServer& operator=(const FakeReplicationServer&) = delete;

  int port() const { return port_; }
  // -h 127.0.0.1 -p PORT -U r -w
  std::vector<std::string> connection_args() const;
  // Every query received so far, in order (all connections).
  std::vector<std::string> queries() const;

 private:
  void accept_loop();

  FakeSession::QueryHandler handler_;
  FakeServerFacts facts_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread acceptor_;
  mutable std::mutex mutex_;
  std::vector<std::string> queries_;
  std::vector<int> client_fds_;
  std::vector<std::thread> sessions_;
};

// Builders of the CopyData payloads a hostile script sends.
// XLogData: 'w' start end(=start) send-time then the WAL bytes.
std::string xlog_data(std::uint64_t start_lsn, std::string_view wal);
// BASE_BACKUP (15+) stream messages: a new archive, archive/manifest data,
// the manifest's start.
std::string new_archive(std::string_view name, std::string_view tablespace_path);
std::string archive_data(std::string_view bytes);
std::string manifest_start();

}  // namespace walstream::it
