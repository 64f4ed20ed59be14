#include "fake_server.h"

#include "protocol/lsn.h"
#include "tests/support/wal_builder.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace walstream::it {

namespace {

// The client went away: ends the session quietly.
struct Disconnected {};

void put_u16(std::string& out, std::uint16_t v) {
  out.push_back(static_cast<char>(v >> 8));
  out.push_back(static_cast<char>(v));
}
void put_u32(std::string& out, std::uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>(v >> shift));
}
void put_u64(std::string& out, std::uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<char>(v >> shift));
}
std::uint32_t get_u32(const char* p) {
  return (std::uint32_t{static_cast<unsigned char>(p[0])} << 24) |
         (std::uint32_t{static_cast<unsigned char>(p[1])} << 16) |
         (std::uint32_t{static_cast<unsigned char>(p[2])} << 8) |
         std::uint32_t{static_cast<unsigned char>(p[3])};
}
void put_cstring(std::string& out, std::string_view s) {
  out.append(s);
  out.push_back('\0');
}

void write_all_or_disconnect(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw Disconnected{};
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
}

bool starts_with(const std::string& query, std::string_view word) {
  return query.compare(0, word.size(), word) == 0;
}

// The word after `command` ("CREATE_REPLICATION_SLOT name ..." -> "name").
std::string second_word(const std::string& query) {
  const auto begin = query.find(' ');
  if (begin == std::string::npos) return {};
  auto name_begin = query.find_first_not_of(" \"", begin);
  if (name_begin == std::string::npos) return {};
  const auto end = query.find_first_of(" \";", name_begin);
  return query.substr(name_begin, end == std::string::npos ? std::string::npos : end - name_begin);
}

// The 1 MB segments of FakeServerFacts' default wal_segment_size.
constexpr std::uint64_t kWalSegment = 1024 * 1024;

// "START_REPLICATION [SLOT s] PHYSICAL 0/100000 [TIMELINE 1]" -> 0x100000.
std::optional<std::uint64_t> requested_start(const std::string& query) {
  const auto at = query.find("PHYSICAL ");
  if (at == std::string::npos) return std::nullopt;
  const auto begin = at + 9;
  const auto end = query.find(' ', begin);
  const auto lsn =
      protocol::parse_lsn(query.substr(begin, end == std::string::npos ? end : end - begin));
  if (!lsn) return std::nullopt;
  return lsn->value;
}

}  // namespace

void FakeSession::send(char type, std::string_view body) {
  std::string message(1, type);
  put_u32(message, static_cast<std::uint32_t>(body.size() + 4));
  message.append(body);
  write_all_or_disconnect(fd_, message);
}

void FakeSession::send_rows(const std::vector<std::string>& columns, const std::vector<Row>& rows,
                            std::string_view tag) {
  std::string description;
  put_u16(description, static_cast<std::uint16_t>(columns.size()));
  for (const std::string& column : columns) {
    put_cstring(description, column);
    put_u32(description, 0);   // table oid
    put_u16(description, 0);   // column number
    put_u32(description, 25);  // text
    put_u16(description, 0xFFFF);
    put_u32(description, 0xFFFFFFFF);
    put_u16(description, 0);  // text format
  }
  send('T', description);
  for (const Row& row : rows) {
    std::string data;
    put_u16(data, static_cast<std::uint16_t>(row.size()));
    for (const auto& cell : row) {
      if (!cell) {
        put_u32(data, 0xFFFFFFFF);
      } else {
        put_u32(data, static_cast<std::uint32_t>(cell->size()));
        data.append(*cell);
      }
    }
    send('D', data);
  }
  send_command_complete(tag);
}

void FakeSession::send_command_complete(std::string_view tag) {
  std::string body;
  put_cstring(body, tag);
  send('C', body);
}

void FakeSession::send_error(std::string_view sqlstate, std::string_view message) {
  std::string body;
  body.push_back('S');
  put_cstring(body, "ERROR");
  body.push_back('V');
  put_cstring(body, "ERROR");
  body.push_back('C');
  put_cstring(body, sqlstate);
  body.push_back('M');
  put_cstring(body, message);
  body.push_back('\0');
  send('E', body);
}

void FakeSession::send_ready() { send('Z', "I"); }

void FakeSession::start_copy_out() { send('H', std::string("\0\0\0", 3)); }
void FakeSession::start_copy_both() { send('W', std::string("\0\0\0", 3)); }
void FakeSession::send_copy_data(std::string_view bytes) { send('d', bytes); }
void FakeSession::send_copy_done() { send('c', {}); }

bool FakeSession::read_exact(char* out, std::size_t n) {
  while (n > 0) {
    const ssize_t got = ::recv(fd_, out, n, 0);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return false;
    out += got;
    n -= static_cast<std::size_t>(got);
  }
  return true;
}

std::optional<FakeSession::Message> FakeSession::read_message() {
  char header[5];
  if (!read_exact(header, sizeof header)) return std::nullopt;
  const std::uint32_t length = get_u32(header + 1);
  if (length < 4 || length > (64u << 20)) return std::nullopt;
  Message message;
  message.type = header[0];
  message.body.resize(length - 4);
  if (!read_exact(message.body.data(), message.body.size())) return std::nullopt;
  return message;
}

bool FakeSession::startup() {
  for (;;) {
    char length_bytes[4];
    if (!read_exact(length_bytes, 4)) return false;
    const std::uint32_t length = get_u32(length_bytes);
    if (length < 8 || length > 10000) return false;
    std::string packet(length - 4, '\0');
    if (!read_exact(packet.data(), packet.size())) return false;
    const std::uint32_t code = get_u32(packet.data());
    if (code == 80877103 || code == 80877104) {  // SSLRequest, GSSENCRequest: no
      write_all_or_disconnect(fd_, "N");
      continue;
    }
    if (code != 196608) return false;  // protocol 3.0 only
    break;
  }
  std::string ok;
  put_u32(ok, 0);
  send('R', ok);
  for (const auto& [name, value] :
       std::vector<std::pair<std::string, std::string>>{{"server_version", facts_.server_version},
                                                        {"server_encoding", "UTF8"},
                                                        {"client_encoding", "UTF8"},
                                                        {"DateStyle", "ISO, MDY"},
                                                        {"integer_datetimes", "on"},
                                                        {"standard_conforming_strings", "on"}}) {
    std::string body;
    put_cstring(body, name);
    put_cstring(body, value);
    send('S', body);
  }
  std::string key;
  put_u32(key, 4242);
  put_u32(key, 1);
  send('K', key);
  send_ready();
  return true;
}

void FakeSession::answer_by_default(const std::string& query) {
  if (starts_with(query, "IDENTIFY_SYSTEM")) {
    send_rows({"systemid", "timeline", "xlogpos", "dbname"},
              {{std::to_string(facts_.system_id), std::to_string(facts_.timeline), facts_.xlogpos,
                std::nullopt}},
              "IDENTIFY_SYSTEM");
  } else if (starts_with(query, "SHOW ")) {
    const std::string name = second_word(query);
    if (name == "wal_segment_size") {
      send_rows({name}, {{facts_.wal_segment_size}}, "SHOW");
    } else if (name == "data_directory_mode") {
      send_rows({name}, {{facts_.data_directory_mode}}, "SHOW");
    } else {
      send_error("42704", "unrecognized configuration parameter \"" + name + "\"");
    }
  } else if (starts_with(query, "CREATE_REPLICATION_SLOT")) {
    send_rows({"slot_name", "consistent_point", "snapshot_name", "output_plugin"},
              {{second_word(query), facts_.xlogpos, std::nullopt, std::nullopt}},
              "CREATE_REPLICATION_SLOT");
  } else if (starts_with(query, "DROP_REPLICATION_SLOT")) {
    send_command_complete("DROP_REPLICATION_SLOT");
  } else if (starts_with(query, "READ_REPLICATION_SLOT")) {
    send_rows({"slot_type", "restart_lsn", "restart_tli"},
              {{std::nullopt, std::nullopt, std::nullopt}}, "READ_REPLICATION_SLOT");
  } else if (starts_with(query, "START_REPLICATION")) {
    // From a segment start: one valid segment of WAL (a clone then reaches
    // its backup's end); else nothing. Ends when the client does.
    start_copy_both();
    if (const auto start = requested_start(query); start && *start % kWalSegment == 0) {
      test::WalBuilder wal(protocol::Lsn{*start}, facts_.timeline, kWalSegment);
      wal.add_record(100);
      wal.add_record(300);
      wal.add_switch();
      const std::vector<std::byte> bytes = wal.bytes();
      send_copy_data(xlog_data(
          *start, std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size())));
    }
    while (auto message = read_message()) {
      if (message->type == 'c') {
        send_copy_done();
        send_command_complete("START_STREAMING");
        break;
      }
    }
  } else {
    send_error("42601", "the fake server does not script \"" + query + "\"");
  }
  send_ready();
}

void FakeSession::serve(const QueryHandler& handler,
                        const std::function<void(const std::string&)>& log) {
  try {
    if (!startup()) return;
    while (auto message = read_message()) {
      if (message->type == 'X') return;
      if (message->type != 'Q') continue;
      std::string query = message->body;
      while (!query.empty() && query.back() == '\0') query.pop_back();
      log(query);
      if (!handler || !handler(*this, query)) answer_by_default(query);
    }
  } catch (const Disconnected&) {
  }
}

FakeReplicationServer::FakeReplicationServer(FakeSession::QueryHandler handler,
                                             FakeServerFacts facts)
    : handler_(std::move(handler)), facts_(std::move(facts)) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0) throw std::runtime_error("fake server: socket failed");
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  socklen_t size = sizeof address;
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
      ::listen(listen_fd_, 16) != 0 ||
      ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&address), &size) != 0) {
    ::close(listen_fd_);
    throw std::runtime_error(std::string("fake server: cannot listen: ") + std::strerror(errno));
  }
  port_ = ntohs(address.sin_port);
  acceptor_ = std::thread([this] { accept_loop(); });
}

FakeReplicationServer::~FakeReplicationServer() {
  stopping_ = true;
  acceptor_.join();
  ::close(listen_fd_);
  {
    std::lock_guard lock(mutex_);
    for (int fd : client_fds_) ::shutdown(fd, SHUT_RDWR);  // wakes blocked reads
  }
  for (std::thread& session : sessions_) session.join();
  for (int fd : client_fds_) ::close(fd);
}

void FakeReplicationServer::accept_loop() {
  while (!stopping_) {
    pollfd waiting{listen_fd_, POLLIN, 0};
    if (::poll(&waiting, 1, 100) <= 0) continue;
    const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    std::lock_guard lock(mutex_);
    client_fds_.push_back(fd);
    sessions_.emplace_back([this, fd] {
      FakeSession session(fd, facts_);
      session.serve(handler_, [this](const std::string& query) {
        std::lock_guard log_lock(mutex_);
        queries_.push_back(query);
      });
      ::shutdown(fd, SHUT_RDWR);
    });
  }
}

std::vector<std::string> FakeReplicationServer::connection_args() const {
  return {"-h", "127.0.0.1", "-p", std::to_string(port_), "-U", "r", "-w"};
}

std::vector<std::string> FakeReplicationServer::queries() const {
  std::lock_guard lock(mutex_);
  return queries_;
}

std::string xlog_data(std::uint64_t start_lsn, std::string_view wal) {
  std::string message(1, 'w');
  put_u64(message, start_lsn);
  put_u64(message, start_lsn + wal.size());
  put_u64(message, 0);
  message.append(wal);
  return message;
}

std::string new_archive(std::string_view name, std::string_view tablespace_path) {
  std::string message(1, 'n');
  put_cstring(message, name);
  put_cstring(message, tablespace_path);
  return message;
}

std::string archive_data(std::string_view bytes) {
  std::string message(1, 'd');
  message.append(bytes);
  return message;
}

std::string manifest_start() { return std::string(1, 'm'); }

}  // namespace walstream::it
