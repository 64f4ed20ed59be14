// Integration test harness: child processes with captured output, throwaway
// PostgreSQL clusters, and the scratch directory every test works in.
//
// The test executable's main() (main.cc) drops root privileges to the
// `walstream-test` OS user before any test runs, because PostgreSQL refuses to
// run as root. Everything a test creates lives under TestEnv::scratch_dir().
#pragma once

#include <sys/types.h>

#include <chrono>
#include <csignal>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace walstream::it {

using namespace std::chrono_literals;

class TestCertificateAuthority;

// Process-wide facts set up by main() before the tests run.
class TestEnv {
 public:
  // Called once by main(): `scratch` exists and is writable, `walstream` is
  // an executable copy of the binary under test.
  static void init(std::filesystem::path scratch, std::filesystem::path walstream);

  static const std::filesystem::path& scratch_dir();
  static const std::filesystem::path& walstream_binary();
  // True when run-tests.sh points the tests at a sanitizer build
  // (WALSTREAM_TEST_SANITIZED): its memory figures are not walstream's.
  static bool walstream_is_sanitized();
  // Directory of Debian's PostgreSQL 15 binaries: the server of the default
  // major and the client tools (psql, pgbench, pg_verifybackup...) used
  // against every major.
  static std::filesystem::path pg_bin_dir();
  static std::filesystem::path pg_bin(std::string_view program);
  // The major every cluster runs unless its options say otherwise.
  static constexpr int kDefaultServerMajor = 15;
  // Directory of initdb, pg_ctl and postgres of server major `major`: 15 is
  // pg_bin_dir(); the others come from tools/fetch-postgres.sh's cache
  // ($WALSTREAM_PG_CACHE, default /var/cache/walstream/postgres) as
  // <cache>/<major>/bin. Throws std::runtime_error, naming the script, when
  // that major has not been fetched.
  static std::filesystem::path server_bin_dir(int major);

  // A fresh, empty directory under the scratch dir: scratch/<prefix>-<n>.
  static std::filesystem::path make_dir(std::string_view prefix);
  // A fresh path under the scratch dir that does not exist yet.
  static std::filesystem::path unique_path(std::string_view prefix);

  // A small (48 MB) tmpfs owned by the test user, mounted by main() while it
  // still ran as root; empty when it could not be mounted (not root, no
  // privilege), so tests that fill a filesystem skip.
  static const std::filesystem::path& small_fs_dir();
  static void set_small_fs_dir(std::filesystem::path dir);

  // The storage fault shim (tests/fault/fault_shim.c), copied next to the
  // binary by main(): preloaded into a walstream run, it makes chosen file
  // calls fail. Empty when it could not be copied.
  static const std::filesystem::path& fault_shim();
  static void set_fault_shim(std::filesystem::path shim);

 private:
  static std::filesystem::path scratch_;
  static std::filesystem::path walstream_;
  static std::filesystem::path small_fs_;
  static std::filesystem::path fault_shim_;
};

// Outcome of a finished child process.
struct CommandResult {
  // Exit status; 128 + signal number if the child was killed by a signal.
  int exit_code = -1;
  // Signal that terminated the child, 0 if it exited normally.
  int term_signal = 0;
  // The harness killed the child because it ran past its timeout.
  bool timed_out = false;
  std::string out;
  std::string err;

  // Human-readable summary for assertion messages.
  std::string describe() const;
};

// walstream's documented exit codes (README.md, "Exit codes"), written out
// here rather than taken from tools/exit_codes.h: a change of the numbers
// must fail these tests.
inline constexpr int kExitFailure = 1;  // check/verify said no, or an internal error
inline constexpr int kExitUsage = 2;
inline constexpr int kExitConnection = 3;  // including authentication
inline constexpr int kExitServer = 4;      // a server error or a protocol violation
inline constexpr int kExitIo = 5;
inline constexpr int kExitInterrupted = 130;

// Environment changes for a child: a value sets the variable, std::nullopt
// removes it. Everything else is inherited from the test process.
using EnvOverrides = std::map<std::string, std::optional<std::string>>;

// Password the tests give replication role r.
inline constexpr const char* kPassword = "secret";

// PGPASSWORD for a walstream or libpq child (shared so every test logs in the
// same way).
EnvOverrides password_env(const std::string& password = kPassword);

// A child process started with fork/exec, stdin from /dev/null, stdout and
// stderr captured through pipes that a reader thread drains continuously (so a
// chatty child never blocks). The child runs in its own session, without a
// controlling terminal, so nothing can prompt on /dev/tty.
class Process {
 public:
  static std::unique_ptr<Process> start(const std::vector<std::string>& argv,
                                        const EnvOverrides& env = {});
  ~Process();
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  pid_t pid() const { return pid_; }
  // True while the child has not exited (reaps it if it just did).
  bool running();
  // Sends `sig` to the child (not to its process group).
  void send_signal(int sig);
  // Waits for the child to exit and its output to end. Past `timeout`, kills
  // the child's process group with SIGKILL and marks the result timed_out.
  CommandResult wait(std::chrono::milliseconds timeout = 300s);
  // Output captured so far.
  std::string stdout_so_far();
  std::string stderr_so_far();

 private:
  Process() = default;
  void read_loop(int out_fd, int err_fd);
  bool try_reap();

  pid_t pid_ = -1;
  std::optional<int> wait_status_;
  std::thread reader_;
  std::mutex mutex_;
  std::string out_;
  std::string err_;
  bool finished_ = false;
  // Tells the reader to stop even before end of output.
  bool abandon_ = false;
};

// Runs a command to completion (see Process::wait for the timeout).
CommandResult run_command(const std::vector<std::string>& argv, const EnvOverrides& env = {},
                          std::chrono::milliseconds timeout = 300s);
// Runs the walstream binary under test with `args` (without the program name).
CommandResult run_walstream(const std::vector<std::string>& args, const EnvOverrides& env = {},
                            std::chrono::milliseconds timeout = 300s);
// Starts the walstream binary under test in the background (long-running
// commands such as `walstream receive`); signal it and wait() for the result.
std::unique_ptr<Process> start_walstream(const std::vector<std::string>& args,
                                         const EnvOverrides& env = {});

// The command line of a running process as /proc/PID/cmdline shows it (what
// ps and other users see), arguments separated by spaces; empty once it ended.
std::string process_cmdline(pid_t pid);

// Stops a running walstream (or other child) with `sig` and returns how it
// ended.
CommandResult stop_receiver(Process& receiver, int sig = SIGINT);

// Polls `condition` every `interval` until it is true or `timeout` passes.
bool wait_until(const std::function<bool()>& condition, std::chrono::milliseconds timeout = 60s,
                std::chrono::milliseconds interval = 20ms);

// Seed for a test's random choices (kill moments, say): the value of the
// environment variable WALSTREAM_IT_KILL_SEED when set, to replay a run,
// otherwise a fresh one. Printed on stdout either way, naming the variable.
std::uint32_t kill_seed();

// A TCP port on 127.0.0.1 that was free a moment ago (bound to port 0, then
// released). A server that fails to bind it should retry with another one.
int pick_free_port();

// Keeps a TCP port on 127.0.0.1 bound but not listening for its lifetime:
// nobody else can take it and connecting to it is refused.
class ReservedPort {
 public:
  ReservedPort();
  ~ReservedPort();
  ReservedPort(const ReservedPort&) = delete;
  ReservedPort& operator=(const ReservedPort&) = delete;
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

std::string read_file(const std::filesystem::path& path);
void write_file(const std::filesystem::path& path, std::string_view content);
void append_file(const std::filesystem::path& path, std::string_view content);
// Non-empty lines of `text`.
std::vector<std::string> non_empty_lines(std::string_view text);
// Permission bits (e.g. 0750) of a file or directory.
unsigned permission_bits(const std::filesystem::path& path);
// SQL string literal for `value` (standard_conforming_strings = on).
std::string sql_literal(std::string_view value);

struct PgClusterOptions {
  // initdb -g: data directory mode 0750, files 0640.
  bool group_access = false;
  int max_wal_senders = 10;
  // Full content of pg_hba.conf, one entry per element.
  std::vector<std::string> hba_lines = {
      "local all all trust",
      "host replication r 127.0.0.1/32 scram-sha-256",
      "host all all 127.0.0.1/32 scram-sha-256",
  };
  // Extra postgresql.conf lines, appended after the harness's own.
  std::vector<std::string> extra_conf;
  // initdb --wal-segsize in MB (a power of two, 1 to 1024); 0 keeps initdb's
  // default (16 MB). 1 MB segments make many segments out of little WAL.
  int wal_segment_size_mb = 0;
  // PostgreSQL major version of the server (11 to 18); see
  // TestEnv::server_bin_dir.
  int server_major = TestEnv::kDefaultServerMajor;
  // ssl = on, with a fresh self-signed certificate (openssl req -x509) as
  // server.crt/server.key in the data directory, so clones carry it along.
  bool ssl = false;
  // ssl = on with server.crt/server.key signed by this CA for 127.0.0.1 (what
  // sslmode=verify-full checks), and the CA's certificate as ssl_ca_file
  // root.crt, so that client certificates it signed are accepted (cert
  // authentication). All in the data directory, as with `ssl`.
  const TestCertificateAuthority* ssl_ca = nullptr;
};

// One PostgreSQL server, laid out as
//   scratch/<name>/data        the data directory
//   scratch/<name>/server.log  its log (pg_ctl -l)
//   scratch/<name>/sock        its unix socket directory
// Queries go over the unix socket as superuser `postgres` (trust).
class PgCluster {
 public:
  // initdb + configuration; not started.
  static std::unique_ptr<PgCluster> create_primary(std::string_view name,
                                                   const PgClusterOptions& options = {});
  // Wraps scratch/<name>/data, which something else (a clone) filled. It
  // starts with its own port and socket directory given on the command line,
  // overriding what it inherited in postgresql.conf. `server_major` must be
  // the major of the server it was cloned from.
  static std::unique_ptr<PgCluster> for_clone(std::string_view name,
                                              int server_major = TestEnv::kDefaultServerMajor);
  // Where for_clone(name) expects the data directory: scratch/<name>/data.
  // Creates scratch/<name> (not data itself) so a clone can be made there.
  static std::filesystem::path clone_data_dir(std::string_view name);

  ~PgCluster();
  PgCluster(const PgCluster&) = delete;
  PgCluster& operator=(const PgCluster&) = delete;

  // pg_ctl start; `env` changes the server's environment (and so what a
  // standby's WAL receiver takes from PG* variables).
  void start(const EnvOverrides& env = {});
  // pg_ctl stop -m fast.
  void stop();
  // pg_ctl stop -m immediate, ignoring errors.
  void stop_immediate();
  // pg_ctl promote -w: ends recovery of a standby (or of a server recovering
  // from an archive) and waits until it accepts writes.
  void promote();
  bool is_running() const { return running_; }

  int port() const { return port_; }
  int server_major() const { return server_major_; }
  const std::string& name() const { return name_; }
  const std::filesystem::path& dir() const { return dir_; }
  const std::filesystem::path& data_dir() const { return data_dir_; }
  const std::filesystem::path& socket_dir() const { return socket_dir_; }
  const std::filesystem::path& log_file() const { return log_file_; }

  // Rows of a query, NULL as "". Throws std::runtime_error on any error.
  std::vector<std::vector<std::string>> query(const std::string& sql,
                                              const std::string& dbname = "postgres");
  // First column of the first row; throws if there is no row.
  std::string query_value(const std::string& sql, const std::string& dbname = "postgres");
  void exec(const std::string& sql, const std::string& dbname = "postgres");

  // Polls `sql` until its value equals `expected` or `timeout` passes;
  // connection errors count as "not yet". Returns the last value seen (or
  // the last error) in `last` for assertion messages.
  bool wait_for_value(const std::string& sql, const std::string& expected,
                      std::chrono::milliseconds timeout = 60s, std::string* last = nullptr);

  // Last `lines` lines of the server log.
  std::string log_tail(int lines = 30) const;

 private:
  PgCluster(std::string_view name, bool is_clone, int server_major);
  std::filesystem::path bin(std::string_view program) const { return bin_dir_ / program; }
  std::string name_;
  bool is_clone_;
  int server_major_;
  std::filesystem::path bin_dir_;
  std::filesystem::path dir_;
  std::filesystem::path data_dir_;
  std::filesystem::path socket_dir_;
  std::filesystem::path log_file_;
  int port_ = 0;
  bool running_ = false;
};

// argv of Debian's pgbench against `server` over its unix socket as superuser
// postgres on database postgres, with `args` in between.
std::vector<std::string> pgbench_argv(const PgCluster& server,
                                      std::initializer_list<std::string> args);

// -h 127.0.0.1 -p PORT -U r: how walstream and the client tools reach
// `server` as replication role r (password kPassword, see password_env).
std::vector<std::string> connection_args(const PgCluster& server);

// walstream receive -D dir <connection> extra...
std::vector<std::string> receive_args(const std::filesystem::path& dir, const PgCluster& server,
                                      std::initializer_list<std::string> extra = {});

// walstream clone -D target <connection> -c fast extra... A fast checkpoint
// keeps BASE_BACKUP from spreading its checkpoint over minutes.
std::vector<std::string> clone_args(const std::filesystem::path& target, const PgCluster& server,
                                    std::initializer_list<std::string> extra = {});

}  // namespace walstream::it
