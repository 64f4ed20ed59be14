#include "tests/integration/test_env.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <random>
#include <set>
#include <sstream>
#include <stdexcept>

#include <gtest/gtest.h>
#include <libpq-fe.h>

#include "tests/integration/test_ca.h"

extern char** environ;

namespace walstream::it {

namespace fs = std::filesystem;

namespace {

constexpr std::string_view kDefaultPgBinDir = "/usr/lib/postgresql/15/bin";
constexpr std::string_view kDefaultPgCache = "/var/cache/walstream/postgres";
// Written last by tools/fetch-postgres.sh into each extracted version.
constexpr std::string_view kCacheMarker = ".walstream-complete";
constexpr int kPortAttempts = 5;
constexpr auto kPollInterval = 20ms;

std::runtime_error errno_error(const std::string& what) {
  return std::runtime_error(what + ": " + std::strerror(errno));
}

// Resolves a program name through PATH (done before fork: the child only
// makes async-signal-safe calls).
std::string resolve_program(const std::string& program) {
  if (program.find('/') != std::string::npos) return program;
  const char* path = std::getenv("PATH");
  std::string search = path != nullptr ? path : "/usr/local/bin:/usr/bin:/bin";
  std::stringstream dirs(search);
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    if (dir.empty()) dir = ".";
    const fs::path candidate = fs::path(dir) / program;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate.string();
  }
  return program;  // execve fails; the child reports it.
}

std::vector<std::string> build_environment(const EnvOverrides& overrides) {
  std::map<std::string, std::string> vars;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    std::string_view text(*entry);
    const auto eq = text.find('=');
    if (eq == std::string_view::npos) continue;
    vars[std::string(text.substr(0, eq))] = std::string(text.substr(eq + 1));
  }
  for (const auto& [name, value] : overrides) {
    if (value) {
      vars[name] = *value;
    } else {
      vars.erase(name);
    }
  }
  std::vector<std::string> result;
  result.reserve(vars.size());
  for (const auto& [name, value] : vars) result.push_back(name + "=" + value);
  return result;
}

bool current_test_failed() {
  if (::testing::Test::HasFailure()) return true;
  const auto* suite = ::testing::UnitTest::GetInstance()->current_test_suite();
  return suite != nullptr && suite->Failed();
}

}  // namespace

// ---------------------------------------------------------------------------
// TestEnv

fs::path TestEnv::scratch_;
fs::path TestEnv::walstream_;
fs::path TestEnv::small_fs_;
fs::path TestEnv::fault_shim_;

void TestEnv::init(fs::path scratch, fs::path walstream) {
  scratch_ = std::move(scratch);
  walstream_ = std::move(walstream);
}

const fs::path& TestEnv::scratch_dir() { return scratch_; }

const fs::path& TestEnv::walstream_binary() { return walstream_; }

bool TestEnv::walstream_is_sanitized() {
  const char* sanitized = std::getenv("WALSTREAM_TEST_SANITIZED");
  return sanitized != nullptr && *sanitized != '\0';
}

fs::path TestEnv::pg_bin_dir() {
  const char* dir = std::getenv("WALSTREAM_PG_BINDIR");
  return dir != nullptr && *dir != '\0' ? fs::path(dir) : fs::path(kDefaultPgBinDir);
}

fs::path TestEnv::pg_bin(std::string_view program) { return pg_bin_dir() / program; }

fs::path TestEnv::server_bin_dir(int major) {
  if (major == kDefaultServerMajor) return pg_bin_dir();
  const char* cache_env = std::getenv("WALSTREAM_PG_CACHE");
  const bool from_env = cache_env != nullptr && *cache_env != '\0';
  const fs::path cache = from_env ? fs::path(cache_env) : fs::path(kDefaultPgCache);
  const fs::path root = cache / std::to_string(major);
  std::error_code error;
  const bool complete = fs::exists(root / kCacheMarker, error);
  for (const char* program : {"initdb", "pg_ctl", "postgres"}) {
    if (!complete || ::access((root / "bin" / program).c_str(), X_OK) != 0) {
      throw std::runtime_error(
          "PostgreSQL " + std::to_string(major) + " server binaries are missing (" +
          (root / "bin" / program).string() + "): run tools/fetch-postgres.sh as root" +
          (from_env ? " with the same WALSTREAM_PG_CACHE" : ""));
    }
  }
  return root / "bin";
}

const fs::path& TestEnv::small_fs_dir() { return small_fs_; }

void TestEnv::set_small_fs_dir(fs::path dir) { small_fs_ = std::move(dir); }

const fs::path& TestEnv::fault_shim() { return fault_shim_; }

void TestEnv::set_fault_shim(fs::path shim) { fault_shim_ = std::move(shim); }

fs::path TestEnv::unique_path(std::string_view prefix) {
  static std::atomic<int> counter{0};
  for (;;) {
    fs::path candidate = scratch_ / (std::string(prefix) + "-" + std::to_string(++counter));
    if (!fs::exists(candidate)) return candidate;
  }
}

fs::path TestEnv::make_dir(std::string_view prefix) {
  fs::path dir = unique_path(prefix);
  fs::create_directories(dir);
  return dir;
}

// ---------------------------------------------------------------------------
// CommandResult / Process

std::string CommandResult::describe() const {
  std::ostringstream text;
  text << "exit code " << exit_code;
  if (term_signal != 0) text << " (signal " << term_signal << ")";
  if (timed_out) text << " [killed after timeout]";
  text << "\n--- stdout ---\n" << out << "\n--- stderr ---\n" << err << "\n--------------";
  return text.str();
}

std::unique_ptr<Process> Process::start(const std::vector<std::string>& argv,
                                        const EnvOverrides& env) {
  if (argv.empty()) throw std::invalid_argument("Process::start: empty argv");
  const std::string program = resolve_program(argv[0]);
  std::vector<char*> c_argv;
  for (const auto& arg : argv) c_argv.push_back(const_cast<char*>(arg.c_str()));
  c_argv.push_back(nullptr);
  const std::vector<std::string> environment = build_environment(env);
  std::vector<char*> c_env;
  for (const auto& entry : environment) c_env.push_back(const_cast<char*>(entry.c_str()));
  c_env.push_back(nullptr);

  std::array<int, 2> out_pipe{};
  std::array<int, 2> err_pipe{};
  if (::pipe2(out_pipe.data(), O_CLOEXEC) != 0) throw errno_error("pipe2");
  if (::pipe2(err_pipe.data(), O_CLOEXEC) != 0) {
    ::close(out_pipe[0]);
    ::close(out_pipe[1]);
    throw errno_error("pipe2");
  }

  const pid_t pid = ::fork();
  if (pid < 0) throw errno_error("fork");
  if (pid == 0) {
    // Child: async-signal-safe calls only.
    ::setsid();
    const int dev_null = ::open("/dev/null", O_RDONLY);
    if (dev_null >= 0) ::dup2(dev_null, STDIN_FILENO);
    ::dup2(out_pipe[1], STDOUT_FILENO);
    ::dup2(err_pipe[1], STDERR_FILENO);
    ::close_range(3, ~0U, 0);
    ::signal(SIGPIPE, SIG_DFL);
    ::execve(program.c_str(), c_argv.data(), c_env.data());
    const char* message = "exec failed: ";
    ::write(STDERR_FILENO, message, std::strlen(message));
    ::write(STDERR_FILENO, program.c_str(), program.size());
    ::write(STDERR_FILENO, "\n", 1);
    ::_exit(127);
  }

  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  std::unique_ptr<Process> process(new Process());
  process->pid_ = pid;
  process->reader_ = std::thread(&Process::read_loop, process.get(), out_pipe[0], err_pipe[0]);
  return process;
}

void Process::read_loop(int out_fd, int err_fd) {
  std::array<pollfd, 2> fds{pollfd{out_fd, POLLIN, 0}, pollfd{err_fd, POLLIN, 0}};
  std::array<char, 65536> buffer{};
  int open_count = 2;
  while (open_count > 0) {
    const int ready = ::poll(fds.data(), fds.size(), 100);
    if (ready < 0 && errno != EINTR) break;
    for (size_t i = 0; i < fds.size(); ++i) {
      if (fds[i].fd < 0 || (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
      const ssize_t n = ::read(fds[i].fd, buffer.data(), buffer.size());
      if (n > 0) {
        std::lock_guard lock(mutex_);
        (i == 0 ? out_ : err_).append(buffer.data(), static_cast<size_t>(n));
      } else if (n == 0 || errno != EINTR) {
        ::close(fds[i].fd);
        fds[i].fd = -1;
        --open_count;
      }
    }
    std::lock_guard lock(mutex_);
    if (abandon_) break;
  }
  for (auto& fd : fds) {
    if (fd.fd >= 0) ::close(fd.fd);
  }
  std::lock_guard lock(mutex_);
  finished_ = true;
}

bool Process::try_reap() {
  if (wait_status_) return true;
  int status = 0;
  const pid_t result = ::waitpid(pid_, &status, WNOHANG);
  if (result == pid_) {
    wait_status_ = status;
    return true;
  }
  return false;
}

bool Process::running() { return !try_reap(); }

void Process::send_signal(int sig) {
  if (!try_reap()) ::kill(pid_, sig);
}

std::string Process::stdout_so_far() {
  std::lock_guard lock(mutex_);
  return out_;
}

std::string Process::stderr_so_far() {
  std::lock_guard lock(mutex_);
  return err_;
}

CommandResult Process::wait(std::chrono::milliseconds timeout) {
  CommandResult result;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const bool exited = try_reap();
    bool output_done = false;
    {
      std::lock_guard lock(mutex_);
      output_done = finished_;
    }
    if (exited && output_done) break;
    if (std::chrono::steady_clock::now() >= deadline) {
      result.timed_out = true;
      // The child leads its own process group (unless it has not reached
      // setsid() yet: then the direct kill does it).
      ::kill(-pid_, SIGKILL);
      ::kill(pid_, SIGKILL);
      if (!wait_status_) {
        int status = 0;
        if (::waitpid(pid_, &status, 0) == pid_) wait_status_ = status;
      }
      // Something outside the group may still hold the pipes: stop reading.
      std::lock_guard lock(mutex_);
      abandon_ = true;
      break;
    }
    std::this_thread::sleep_for(kPollInterval);
  }
  if (reader_.joinable()) reader_.join();
  const int status = wait_status_.value_or(0);
  if (WIFEXITED(status)) {
    result.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    result.term_signal = WTERMSIG(status);
    result.exit_code = 128 + result.term_signal;
  }
  std::lock_guard lock(mutex_);
  result.out = out_;
  result.err = err_;
  return result;
}

Process::~Process() {
  if (!try_reap()) {
    ::kill(-pid_, SIGKILL);
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
  }
  {
    std::lock_guard lock(mutex_);
    abandon_ = true;
  }
  if (reader_.joinable()) reader_.join();
}

CommandResult run_command(const std::vector<std::string>& argv, const EnvOverrides& env,
                          std::chrono::milliseconds timeout) {
  return Process::start(argv, env)->wait(timeout);
}

CommandResult run_walstream(const std::vector<std::string>& args, const EnvOverrides& env,
                            std::chrono::milliseconds timeout) {
  std::vector<std::string> argv{TestEnv::walstream_binary().string()};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_command(argv, env, timeout);
}

std::unique_ptr<Process> start_walstream(const std::vector<std::string>& args,
                                         const EnvOverrides& env) {
  std::vector<std::string> argv{TestEnv::walstream_binary().string()};
  argv.insert(argv.end(), args.begin(), args.end());
  return Process::start(argv, env);
}

std::string process_cmdline(pid_t pid) {
  std::string text;
  try {
    text = read_file(fs::path("/proc") / std::to_string(pid) / "cmdline");
  } catch (const std::exception&) {
    return "";
  }
  if (!text.empty() && text.back() == '\0') text.pop_back();
  for (char& c : text) {
    if (c == '\0') c = ' ';
  }
  return text;
}

CommandResult stop_receiver(Process& receiver, int sig) {
  receiver.send_signal(sig);
  return receiver.wait(30s);
}

bool wait_until(const std::function<bool()>& condition, std::chrono::milliseconds timeout,
                std::chrono::milliseconds interval) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (condition()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(interval);
  }
}

std::uint32_t kill_seed() {
  const char* given = std::getenv("WALSTREAM_IT_KILL_SEED");
  const std::uint32_t seed = given != nullptr && *given != '\0'
                                 ? static_cast<std::uint32_t>(std::stoul(given))
                                 : std::random_device{}();
  std::cout << "kill seed " << seed << " (WALSTREAM_IT_KILL_SEED=" << seed << " replays it)\n";
  return seed;
}

// ---------------------------------------------------------------------------
// Ports

namespace {

// Binds a TCP socket to 127.0.0.1:0; returns the fd and stores the port.
int bind_ephemeral(int* port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw errno_error("socket");
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
    ::close(fd);
    throw errno_error("bind 127.0.0.1:0");
  }
  socklen_t length = sizeof(address);
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    ::close(fd);
    throw errno_error("getsockname");
  }
  *port = ntohs(address.sin_port);
  return fd;
}

}  // namespace

int pick_free_port() {
  static std::mutex mutex;
  static std::set<int> handed_out;
  std::lock_guard lock(mutex);
  for (;;) {
    int port = 0;
    ::close(bind_ephemeral(&port));
    if (handed_out.insert(port).second) return port;
  }
}

ReservedPort::ReservedPort() { fd_ = bind_ephemeral(&port_); }

ReservedPort::~ReservedPort() {
  if (fd_ >= 0) ::close(fd_);
}

// ---------------------------------------------------------------------------
// Files and text

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path.string());
  std::ostringstream content;
  content << in.rdbuf();
  return content.str();
}

void write_file(const fs::path& path, std::string_view content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
  if (!out) throw std::runtime_error("cannot write " + path.string());
}

void append_file(const fs::path& path, std::string_view content) {
  std::ofstream out(path, std::ios::binary | std::ios::app);
  out << content;
  if (!out) throw std::runtime_error("cannot append to " + path.string());
}

std::vector<std::string> non_empty_lines(std::string_view text) {
  std::vector<std::string> lines;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(start, end - start);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.find_first_not_of(" \t") != std::string_view::npos) lines.emplace_back(line);
    start = end + 1;
  }
  return lines;
}

unsigned permission_bits(const fs::path& path) {
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0) throw errno_error("stat " + path.string());
  return static_cast<unsigned>(info.st_mode) & 07777U;
}

std::string sql_literal(std::string_view value) {
  std::string literal = "'";
  for (char c : value) {
    if (c == '\'') literal += '\'';
    literal += c;
  }
  literal += '\'';
  return literal;
}

// ---------------------------------------------------------------------------
// PgCluster

PgCluster::PgCluster(std::string_view name, bool is_clone, int server_major)
    : name_(name),
      is_clone_(is_clone),
      server_major_(server_major),
      bin_dir_(TestEnv::server_bin_dir(server_major)),
      dir_(TestEnv::scratch_dir() / name),
      data_dir_(dir_ / "data"),
      socket_dir_(dir_ / "sock"),
      log_file_(dir_ / "server.log") {}

fs::path PgCluster::clone_data_dir(std::string_view name) {
  const fs::path dir = TestEnv::scratch_dir() / name;
  fs::create_directories(dir);
  return dir / "data";
}

namespace {

// server.crt and server.key (the server's default file names) for CN
// 127.0.0.1; the key must be private to the server's user.
void make_self_signed_certificate(const fs::path& data_dir) {
  const fs::path key = data_dir / "server.key";
  const CommandResult result = run_command(
      {"openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
       "/CN=127.0.0.1", "-keyout", key.string(), "-out", (data_dir / "server.crt").string()},
      {}, 120s);
  if (result.exit_code != 0) {
    throw std::runtime_error("openssl req -x509 failed: " + result.describe());
  }
  fs::permissions(key, fs::perms::owner_read | fs::perms::owner_write, fs::perm_options::replace);
}

// server.crt and server.key signed by `ca`, and root.crt, the CA's
// certificate, to verify client certificates with.
void install_ca_signed_certificate(const fs::path& data_dir, const TestCertificateAuthority& ca) {
  const CertifiedKey server =
      ca.issue_server("server-" + data_dir.parent_path().filename().string());
  fs::copy_file(server.certificate, data_dir / "server.crt");
  fs::copy_file(server.key, data_dir / "server.key");
  fs::permissions(data_dir / "server.key", fs::perms::owner_read | fs::perms::owner_write,
                  fs::perm_options::replace);
  fs::copy_file(ca.certificate(), data_dir / "root.crt");
}

}  // namespace

std::unique_ptr<PgCluster> PgCluster::create_primary(std::string_view name,
                                                     const PgClusterOptions& options) {
  std::unique_ptr<PgCluster> cluster(new PgCluster(name, /*is_clone=*/false, options.server_major));
  if (fs::exists(cluster->dir_)) {
    throw std::runtime_error("cluster directory already exists: " + cluster->dir_.string());
  }
  fs::create_directories(cluster->socket_dir_);
  std::vector<std::string> initdb{cluster->bin("initdb").string(),
                                  "-D",
                                  cluster->data_dir_.string(),
                                  "-U",
                                  "postgres",
                                  "--auth-local=trust",
                                  "--auth-host=scram-sha-256",
                                  "-E",
                                  "UTF8",
                                  "--locale=C",
                                  "--no-sync"};
  // --no-instructions is 14+; older initdb only prints more.
  if (options.server_major >= 14) initdb.emplace_back("--no-instructions");
  if (options.group_access) initdb.emplace_back("-g");
  if (options.wal_segment_size_mb != 0) {
    initdb.push_back("--wal-segsize=" + std::to_string(options.wal_segment_size_mb));
  }
  const CommandResult result = run_command(initdb, {}, 120s);
  if (result.exit_code != 0) throw std::runtime_error("initdb failed: " + result.describe());

  if (options.ssl_ca != nullptr) {
    install_ca_signed_certificate(cluster->data_dir_, *options.ssl_ca);
  } else if (options.ssl) {
    make_self_signed_certificate(cluster->data_dir_);
  }

  cluster->port_ = pick_free_port();
  std::ostringstream conf;
  conf << "\n# walstream integration test harness\n"
       << "listen_addresses = '127.0.0.1'\n"
       << "port = " << cluster->port_ << "\n"
       << "unix_socket_directories = '" << cluster->socket_dir_.string() << "'\n"
       << "wal_level = replica\n"
       << "max_wal_senders = " << options.max_wal_senders << "\n"
       << "max_replication_slots = 10\n"
       // scram-sha-256 is the default from 14 only; pg_hba.conf asks for it.
       << "password_encryption = 'scram-sha-256'\n";
  // wal_keep_size is 13+ (wal_keep_segments before, in segments): older
  // servers keep no extra WAL, tests on them reserve it with slots.
  if (options.server_major >= 13) conf << "wal_keep_size = '256MB'\n";
  conf << "hot_standby = on\n"
       << "fsync = off\n"
       << "shared_buffers = '32MB'\n"
       << "log_connections = on\n"
       << "log_line_prefix = '%m [%p] %q%u@%d '\n";
  if (options.ssl || options.ssl_ca != nullptr) conf << "ssl = on\n";
  if (options.ssl_ca != nullptr) conf << "ssl_ca_file = 'root.crt'\n";
  for (const auto& line : options.extra_conf) conf << line << "\n";
  append_file(cluster->data_dir_ / "postgresql.conf", conf.str());

  std::string hba;
  for (const auto& line : options.hba_lines) hba += line + "\n";
  write_file(cluster->data_dir_ / "pg_hba.conf", hba);
  return cluster;
}

std::unique_ptr<PgCluster> PgCluster::for_clone(std::string_view name, int server_major) {
  std::unique_ptr<PgCluster> cluster(new PgCluster(name, /*is_clone=*/true, server_major));
  if (!fs::is_directory(cluster->data_dir_)) {
    throw std::runtime_error("no data directory to start: " + cluster->data_dir_.string());
  }
  fs::create_directories(cluster->socket_dir_);
  return cluster;
}

PgCluster::~PgCluster() {
  try {
    if (running_) stop_immediate();
    if (current_test_failed() && fs::exists(log_file_)) {
      std::cerr << "=== last lines of " << log_file_.string() << " ===\n"
                << log_tail(30) << "=== end of " << name_ << " log ===\n";
    }
  } catch (const std::exception& error) {
    std::cerr << "stopping " << name_ << " failed: " << error.what() << "\n";
  }
}

void PgCluster::start(const EnvOverrides& env) {
  if (running_) return;
  for (int attempt = 1;; ++attempt) {
    if (port_ == 0) port_ = pick_free_port();
    const auto log_size_before = fs::exists(log_file_) ? fs::file_size(log_file_) : 0;
    std::vector<std::string> argv{bin("pg_ctl").string(),
                                  "-D",
                                  data_dir_.string(),
                                  "-l",
                                  log_file_.string(),
                                  "-w",
                                  "-t",
                                  "120"};
    if (is_clone_) {
      argv.emplace_back("-o");
      argv.push_back("-p " + std::to_string(port_) + " -c unix_socket_directories='" +
                     socket_dir_.string() + "' -c listen_addresses=127.0.0.1");
    }
    argv.emplace_back("start");
    const CommandResult result = run_command(argv, env, 180s);
    if (result.exit_code == 0) {
      running_ = true;
      return;
    }
    std::string new_log;
    if (fs::exists(log_file_)) new_log = read_file(log_file_).substr(log_size_before);
    const bool port_taken = new_log.find("could not bind") != std::string::npos ||
                            new_log.find("Address already in use") != std::string::npos;
    if (!port_taken || attempt >= kPortAttempts) {
      throw std::runtime_error("pg_ctl start of " + name_ + " failed: " + result.describe() +
                               "\n--- server log ---\n" + log_tail(30));
    }
    port_ = pick_free_port();
    if (!is_clone_) {
      append_file(data_dir_ / "postgresql.conf", "port = " + std::to_string(port_) + "\n");
    }
  }
}

void PgCluster::stop() {
  if (!running_) return;
  const CommandResult result = run_command(
      {bin("pg_ctl").string(), "-D", data_dir_.string(), "-m", "fast", "-w", "-t", "120", "stop"},
      {}, 180s);
  if (result.exit_code != 0) {
    throw std::runtime_error("pg_ctl stop of " + name_ + " failed: " + result.describe());
  }
  running_ = false;
}

void PgCluster::stop_immediate() {
  run_command({bin("pg_ctl").string(), "-D", data_dir_.string(), "-m", "immediate", "-w", "-t",
               "60", "stop"},
              {}, 90s);
  running_ = false;
}

void PgCluster::promote() {
  const CommandResult result = run_command(
      {bin("pg_ctl").string(), "-D", data_dir_.string(), "-w", "-t", "120", "promote"}, {}, 180s);
  if (result.exit_code != 0) {
    throw std::runtime_error("pg_ctl promote of " + name_ + " failed: " + result.describe() +
                             "\n--- server log ---\n" + log_tail(30));
  }
}

std::vector<std::vector<std::string>> PgCluster::query(const std::string& sql,
                                                       const std::string& dbname) {
  const std::string port = std::to_string(port_);
  const std::string host = socket_dir_.string();
  const std::array<const char*, 6> keywords{"host", "port", "user", "dbname", "connect_timeout",
                                            nullptr};
  const std::array<const char*, 6> values{host.c_str(),   port.c_str(), "postgres",
                                          dbname.c_str(), "10",         nullptr};
  std::unique_ptr<PGconn, decltype(&PQfinish)> conn(
      PQconnectdbParams(keywords.data(), values.data(), 0), &PQfinish);
  if (PQstatus(conn.get()) != CONNECTION_OK) {
    throw std::runtime_error("cannot connect to " + name_ + ": " + PQerrorMessage(conn.get()));
  }
  std::unique_ptr<PGresult, decltype(&PQclear)> result(PQexec(conn.get(), sql.c_str()), &PQclear);
  const ExecStatusType status = PQresultStatus(result.get());
  if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) {
    throw std::runtime_error("query on " + name_ + " failed: " + sql + ": " +
                             PQerrorMessage(conn.get()));
  }
  std::vector<std::vector<std::string>> rows;
  const int row_count = PQntuples(result.get());
  const int column_count = PQnfields(result.get());
  for (int row = 0; row < row_count; ++row) {
    std::vector<std::string> values_of_row;
    for (int column = 0; column < column_count; ++column) {
      values_of_row.emplace_back(
          PQgetisnull(result.get(), row, column) ? "" : PQgetvalue(result.get(), row, column));
    }
    rows.push_back(std::move(values_of_row));
  }
  return rows;
}

std::string PgCluster::query_value(const std::string& sql, const std::string& dbname) {
  const auto rows = query(sql, dbname);
  if (rows.empty() || rows.front().empty()) {
    throw std::runtime_error("query on " + name_ + " returned no value: " + sql);
  }
  return rows.front().front();
}

void PgCluster::exec(const std::string& sql, const std::string& dbname) { query(sql, dbname); }

bool PgCluster::wait_for_value(const std::string& sql, const std::string& expected,
                               std::chrono::milliseconds timeout, std::string* last) {
  std::string seen;
  const bool reached = wait_until(
      [&] {
        try {
          seen = query_value(sql);
        } catch (const std::exception& error) {
          seen = std::string("error: ") + error.what();
          return false;
        }
        return seen == expected;
      },
      timeout);
  if (last != nullptr) *last = seen;
  return reached;
}

std::string PgCluster::log_tail(int lines) const {
  if (!fs::exists(log_file_)) return "";
  const std::string content = read_file(log_file_);
  size_t position = content.size();
  if (position > 0 && content[position - 1] == '\n') --position;
  for (int seen = 0; position > 0; --position) {
    if (content[position - 1] == '\n' && ++seen == lines) break;
  }
  std::string tail = content.substr(position);
  if (!tail.empty() && tail.back() != '\n') tail += '\n';
  return tail;
}

EnvOverrides password_env(const std::string& password) { return {{"PGPASSWORD", password}}; }

std::vector<std::string> pgbench_argv(const PgCluster& server,
                                      std::initializer_list<std::string> args) {
  std::vector<std::string> argv{TestEnv::pg_bin("pgbench").string(),
                                "-h",
                                server.socket_dir().string(),
                                "-p",
                                std::to_string(server.port()),
                                "-U",
                                "postgres"};
  argv.insert(argv.end(), args.begin(), args.end());
  argv.emplace_back("postgres");
  return argv;
}

std::vector<std::string> connection_args(const PgCluster& server) {
  return {"-h", "127.0.0.1", "-p", std::to_string(server.port()), "-U", "r"};
}

std::vector<std::string> receive_args(const fs::path& dir, const PgCluster& server,
                                      std::initializer_list<std::string> extra) {
  std::vector<std::string> args{"receive", "-D", dir.string()};
  for (auto& arg : connection_args(server)) args.push_back(arg);
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

std::vector<std::string> clone_args(const fs::path& target, const PgCluster& server,
                                    std::initializer_list<std::string> extra) {
  std::vector<std::string> args{"clone", "-D", target.string()};
  for (auto& arg : connection_args(server)) args.push_back(arg);
  args.emplace_back("-c");
  args.emplace_back("fast");
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

}  // namespace walstream::it
