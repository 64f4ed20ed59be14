// How walstream reaches a PostgreSQL 15 primary that accepts replication over
// TLS only: the server's certificate, signed by a test CA made with the
// openssl CLI, checked with sslmode=verify-full; client certificates (cert
// authentication); passwords of scram-sha-256 and md5 roles from every place
// libpq takes them (PGPASSWORD, a passfile, a service file, the connection
// string, a URI). A password must never show: not in the output (with -v),
// not in the command line that ps shows everyone (/proc/PID/cmdline).
#include <signal.h>

#include <filesystem>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/integration/primary_conninfo.h"
#include "tests/integration/test_ca.h"
#include "tests/integration/test_env.h"
#include "tests/integration/wal_archive.h"

namespace walstream::it {
namespace {

namespace fs = std::filesystem;
using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::Pair;
using ::testing::StartsWith;

constexpr const char* kErrorPrefix = "walstream: error: ";
// Distinctive, so that finding one in any output means it leaked.
constexpr const char* kScramPassword = "Scram-Pw-8d1e";
constexpr const char* kMd5Password = "Md5-Pw-4c7b";

std::vector<std::string> concat(std::vector<std::string> head,
                                const std::vector<std::string>& tail) {
  head.insert(head.end(), tail.begin(), tail.end());
  return head;
}

// A primary (1 MB WAL segments) whose pg_hba.conf allows replication over
// TLS only: role s with scram-sha-256, m with md5, c with a client
// certificate of the test CA. A second CA signs nothing the server shows.
class TlsAuthTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    try {
      // Unique names: the password suite below sets up its own.
      ca_ = TestCertificateAuthority::create(TestEnv::unique_path("tls_ca").filename().string());
      other_ca_ = TestCertificateAuthority::create(
          TestEnv::unique_path("tls_other_ca").filename().string());
      client_ = ca_->issue_client("client_c", "c");
      PgClusterOptions options;
      options.ssl_ca = ca_.get();
      options.hba_lines = {
          "local all all trust",
          "hostssl replication s 127.0.0.1/32 scram-sha-256",
          "hostssl replication m 127.0.0.1/32 md5",
          "hostssl replication c 127.0.0.1/32 cert clientcert=verify-full",
      };
      primary_ = start_primary(TestEnv::unique_path("tls_primary").filename().string(), options);
      primary_->exec("CREATE ROLE s REPLICATION LOGIN PASSWORD " + sql_literal(kScramPassword));
      // One session: the SET must hold for the CREATE ROLE.
      primary_->exec("SET password_encryption = 'md5'; CREATE ROLE m REPLICATION LOGIN PASSWORD " +
                     sql_literal(kMd5Password));
      primary_->exec("CREATE ROLE c REPLICATION LOGIN");
      primary_->exec("CREATE TABLE t AS SELECT g AS id FROM generate_series(1, 100) g");
    } catch (const std::exception& error) {
      setup_error_ = error.what();
      primary_.reset();
    }
  }
  static void TearDownTestSuite() {
    primary_.reset();
    ca_.reset();
    other_ca_.reset();
  }
  void SetUp() override { ASSERT_TRUE(primary_) << "shared primary failed: " << setup_error_; }

  static PgCluster& primary() { return *primary_; }
  static std::string port() { return std::to_string(primary_->port()); }

  // -h 127.0.0.1 -p PORT -U role.
  static std::vector<std::string> connection(const std::string& role) {
    return {"-h", "127.0.0.1", "-p", port(), "-U", role};
  }
  static std::string verify_full(const TestCertificateAuthority& ca) {
    return "sslmode=verify-full sslrootcert=" + ca.certificate().string();
  }

  // Lines the server logged while `run` ran.
  template <typename Run>
  static std::string server_log_during(Run&& run) {
    const auto before = fs::file_size(primary().log_file());
    run();
    return read_file(primary().log_file()).substr(before);
  }

  // Waits until the standby's WAL receiver streams from the primary over
  // TLS; `client_dn` names the client certificate it must present (empty:
  // none).
  static void expect_standby_streams_over_tls(PgCluster& standby, const std::string& client_dn) {
    std::string last;
    EXPECT_TRUE(
        standby.wait_for_value("SELECT status FROM pg_stat_wal_receiver", "streaming", 60s, &last))
        << "pg_stat_wal_receiver.status: " << last;
    EXPECT_TRUE(primary().wait_for_value(
        "SELECT string_agg(s.ssl || ',' || coalesce(s.client_dn, ''), ';') "
        "FROM pg_stat_replication r JOIN pg_stat_ssl s ON s.pid = r.pid "
        "WHERE r.application_name = 'walreceiver' AND r.state = 'streaming'",
        "true," + client_dn, 60s, &last))
        << "the standby's walreceiver connection (ssl,client_dn): " << last;
    primary().exec("CREATE TABLE IF NOT EXISTS rows_after (note text)");
    primary().exec("INSERT INTO rows_after VALUES ('after " + standby.name() + "')");
    EXPECT_TRUE(standby.wait_for_value(
        "SELECT count(*) FROM rows_after WHERE note = 'after " + standby.name() + "'", "1", 60s,
        &last))
        << last;
  }

  static std::unique_ptr<TestCertificateAuthority> ca_;
  static std::unique_ptr<TestCertificateAuthority> other_ca_;
  static CertifiedKey client_;
  static std::unique_ptr<PgCluster> primary_;
  static std::string setup_error_;
};

std::unique_ptr<TestCertificateAuthority> TlsAuthTest::ca_;
std::unique_ptr<TestCertificateAuthority> TlsAuthTest::other_ca_;
CertifiedKey TlsAuthTest::client_;
std::unique_ptr<PgCluster> TlsAuthTest::primary_;
std::string TlsAuthTest::setup_error_;

// The standby connects as the clone did: sslmode and sslrootcert reach
// primary_conninfo, and win over the standby's own environment.
TEST_F(TlsAuthTest, VerifyFullClonesAndStandbyConnectsWithTls) {
  const fs::path target = PgCluster::clone_data_dir("tls_verify_full");
  const CommandResult result =
      run_walstream(concat({"clone", "-D", target.string(), "-c", "fast", "-d", verify_full(*ca_)},
                           connection("s")),
                    password_env(kScramPassword));
  ASSERT_EQ(result.exit_code, 0) << result.describe();

  const ConninfoMap conninfo = primary_conninfo(target);
  EXPECT_THAT(conninfo, Contains(Pair("sslmode", "verify-full")));
  EXPECT_THAT(conninfo, Contains(Pair("sslrootcert", ca_->certificate().string())));
  auto standby = PgCluster::for_clone("tls_verify_full");
  standby->start({{"PGSSLMODE", "disable"}, {"PGSSLROOTCERT", "/nonexistent/root.crt"}});
  expect_standby_streams_over_tls(*standby, "");
}

// A server the client cannot verify is refused before anything is written:
// one error line, exit 3 (a connection failure), and the target as it was (gone if walstream would
// have created it, empty if it existed).
TEST_F(TlsAuthTest, UnverifiableServerIsRefused) {
  struct Case {
    const char* name;
    std::vector<std::string> connection;
    bool target_exists;
    const char* cause;
  };
  const std::vector<Case> cases = {
      {"wrong CA", concat({"-d", verify_full(*other_ca_)}, connection("s")), false,
       "certificate verify failed"},
      {"wrong CA, existing empty target", concat({"-d", verify_full(*other_ca_)}, connection("s")),
       true, "certificate verify failed"},
      {"host name not in the certificate",
       {"-d", "host=localhost hostaddr=127.0.0.1 port=" + port() + " user=s " + verify_full(*ca_)},
       false,
       "does not match host name \"localhost\""},
  };
  int index = 0;
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    const fs::path target = PgCluster::clone_data_dir("tls_refused_" + std::to_string(++index));
    if (c.target_exists) fs::create_directories(target);
    const CommandResult result =
        run_walstream(concat({"clone", "-D", target.string(), "-c", "fast", "-v"}, c.connection),
                      password_env(kScramPassword), 60s);
    EXPECT_FALSE(result.timed_out) << result.describe();
    EXPECT_EQ(result.exit_code, kExitConnection) << result.describe();
    const std::vector<std::string> lines = non_empty_lines(result.err);
    ASSERT_EQ(lines.size(), 1U) << result.describe();
    EXPECT_THAT(lines.front(), StartsWith(kErrorPrefix));
    EXPECT_THAT(lines.front(), HasSubstr(c.cause));
    EXPECT_THAT(result.out + result.err, Not(HasSubstr(kScramPassword)));
    if (c.target_exists) {
      EXPECT_TRUE(fs::is_directory(target) && fs::is_empty(target)) << target;
    } else {
      EXPECT_FALSE(fs::exists(target)) << target << " was left behind";
    }
  }

  // receive -n: the same one line, and nothing in the archive directory
  // (which receive creates up front).
  const fs::path archive = TestEnv::unique_path("tls_refused_archive");
  const std::vector<std::string> receive =
      concat({"receive", "-D", archive.string(), "-d", verify_full(*other_ca_)}, connection("s"));
  const CommandResult result =
      run_walstream(concat(receive, {"-n"}), password_env(kScramPassword), 60s);
  EXPECT_EQ(result.exit_code, kExitConnection) << result.describe();
  const std::vector<std::string> lines = non_empty_lines(result.err);
  ASSERT_EQ(lines.size(), 1U) << result.describe();
  EXPECT_THAT(lines.front(), StartsWith(kErrorPrefix));
  EXPECT_THAT(lines.front(), HasSubstr("certificate verify failed"));
  EXPECT_TRUE(!fs::exists(archive) || fs::is_empty(archive)) << describe_archive(archive);

  // Without -n receive keeps trying, and says why each attempt failed.
  auto receiver = start_walstream(receive, password_env(kScramPassword));
  EXPECT_TRUE(wait_until(
      [&] {
        return !receiver->running() ||
               receiver->stderr_so_far().find("certificate verify failed") != std::string::npos;
      },
      10s))
      << receiver->stderr_so_far();
  const CommandResult stopped = stop_receiver(*receiver);
  EXPECT_EQ(stopped.exit_code, 0) << stopped.describe();
  EXPECT_THAT(stopped.out + stopped.err, Not(HasSubstr(kScramPassword)));
}

TEST_F(TlsAuthTest, ClientCertificateClonesAndReceiveStreams) {
  const std::string tls = verify_full(*ca_) + " sslcert=" + client_.certificate.string() +
                          " sslkey=" + client_.key.string();
  const fs::path target = PgCluster::clone_data_dir("tls_client_cert");
  std::string log = server_log_during([&] {
    const CommandResult result = run_walstream(
        concat({"clone", "-D", target.string(), "-c", "fast", "-w", "-d", tls}, connection("c")));
    ASSERT_EQ(result.exit_code, 0) << result.describe();
  });
  EXPECT_THAT(log, HasSubstr("identity=\"CN=c\" method=cert"));
  const ConninfoMap conninfo = primary_conninfo(target);
  EXPECT_THAT(conninfo, Contains(Pair("sslcert", client_.certificate.string())));
  EXPECT_THAT(conninfo, Contains(Pair("sslkey", client_.key.string())));
  auto standby = PgCluster::for_clone("tls_client_cert");
  standby->start();
  expect_standby_streams_over_tls(*standby, "/CN=c");

  create_slot(primary(), "cert_slot");
  const fs::path archive = TestEnv::unique_path("tls_client_cert_archive");
  auto receiver = start_walstream(concat(
      {"receive", "-D", archive.string(), "-S", "cert_slot", "-w", "-d", tls}, connection("c")));
  std::string last;
  ASSERT_TRUE(primary().wait_for_value(
      "SELECT active FROM pg_replication_slots WHERE slot_name = 'cert_slot'", "t", 30s, &last))
      << last << "\n"
      << receiver->stderr_so_far();
  const std::uint64_t lsn = parse_lsn(generate_wal(primary(), 1));
  const fs::path segment = archive / segment_name(1, segno_of(lsn));
  EXPECT_TRUE(wait_until([&] { return fs::exists(segment) || !receiver->running(); }, 30s) &&
              fs::exists(segment))
      << describe_archive(archive) << receiver->stderr_so_far();
  const CommandResult result = stop_receiver(*receiver);
  EXPECT_EQ(result.exit_code, 0) << result.describe();
  primary().exec("SELECT pg_drop_replication_slot('cert_slot')");
}

// --- passwords ----------------------------------------------------------------

// kJoinedConnectionString: --dbname=VALUE, one argument holding the flag
// and the connection string.
enum class PasswordSource {
  kEnvironment,
  kPassfile,
  kService,
  kConnectionString,
  kJoinedConnectionString,
  kUri
};

struct PasswordCase {
  const char* name;
  const char* role;
  const char* password;
  const char* method;  // as the server's log names it
  PasswordSource source;
};

// Names the case in test listings and failure messages.
void PrintTo(const PasswordCase& c, std::ostream* out) { *out << c.name; }

class TlsPasswordTest : public TlsAuthTest, public ::testing::WithParamInterface<PasswordCase> {
 protected:
  struct Connection {
    std::vector<std::string> args;
    EnvOverrides env;
  };

  // The flags and environment that hand walstream the case's password.
  static Connection connection_for(const PasswordCase& c) {
    const std::string role = c.role;
    const std::string password = c.password;
    switch (c.source) {
      case PasswordSource::kEnvironment:
        return {concat({"-d", verify_full(*ca_)}, connection(role)), password_env(password)};
      case PasswordSource::kPassfile: {
        const fs::path passfile = TestEnv::unique_path("pgpass");
        // The database field of a physical replication connection is
        // "replication"; * matches it.
        write_file(passfile, "127.0.0.1:" + port() + ":*:" + role + ":" + password + "\n");
        fs::permissions(passfile, fs::perms::owner_read | fs::perms::owner_write,
                        fs::perm_options::replace);
        return {concat({"-d", verify_full(*ca_)}, connection(role)),
                {{"PGPASSFILE", passfile.string()}}};
      }
      case PasswordSource::kService: {
        const fs::path service_file = TestEnv::unique_path("pg_service.conf");
        write_file(service_file,
                   "[walstream_tls]\nhost=127.0.0.1\nport=" + port() + "\nuser=" + role +
                       "\npassword=" + password +
                       "\nsslmode=verify-full\nsslrootcert=" + ca_->certificate().string() + "\n");
        return {{}, {{"PGSERVICEFILE", service_file.string()}, {"PGSERVICE", "walstream_tls"}}};
      }
      case PasswordSource::kConnectionString:
        return {concat({"-d", "password=" + password + " " + verify_full(*ca_)}, connection(role)),
                {}};
      case PasswordSource::kJoinedConnectionString:
        return {
            concat({"--dbname=password=" + password + " " + verify_full(*ca_)}, connection(role)),
            {}};
      case PasswordSource::kUri:
        return {{"-d", "postgresql://" + role + ":" + password + "@127.0.0.1:" + port() +
                           "/?sslmode=verify-full&sslrootcert=" + ca_->certificate().string()},
                {}};
    }
    return {};
  }

  static void expect_hidden(const std::string& text, const std::string& what) {
    EXPECT_THAT(text, Not(HasSubstr(GetParam().password))) << "the password shows in " << what;
  }
};

// Clone and receive log in, and the password shows nowhere: not in the
// output with -v and -P, not in /proc/PID/cmdline while they run.
TEST_P(TlsPasswordTest, ClonesAndReceivesWithoutShowingThePassword) {
  const PasswordCase& c = GetParam();
  ASSERT_EQ(primary().query_value("SELECT left(rolpassword, 3) FROM pg_authid WHERE rolname = " +
                                  sql_literal(c.role)),
            std::string(c.method) == "md5" ? "md5" : "SCR");
  const Connection how = connection_for(c);

  const fs::path target = PgCluster::clone_data_dir(std::string("tls_pw_") + c.name);
  std::string cmdline;
  const std::string log = server_log_during([&] {
    // Slowed down so that it surely still runs when its command line is read.
    auto clone = start_walstream(
        concat({"clone", "-D", target.string(), "-c", "fast", "-v", "-P", "-r", "32M"}, how.args),
        how.env);
    EXPECT_TRUE(wait_until(
        [&] { return !clone->running() || (fs::exists(target) && !fs::is_empty(target)); }));
    cmdline = process_cmdline(clone->pid());
    const CommandResult result = clone->wait(120s);
    ASSERT_EQ(result.exit_code, 0) << result.describe();
    expect_hidden(result.out + result.err, "the clone's output");
  });
  EXPECT_THAT(cmdline, HasSubstr("clone -D")) << "not read while the clone ran";
  expect_hidden(cmdline, "the clone's /proc/PID/cmdline");
  EXPECT_THAT(log, HasSubstr("identity=\"" + std::string(c.role) + "\" method=" + c.method));

  const std::string slot = std::string("pw_") + c.name;
  create_slot(primary(), slot);
  const fs::path archive = TestEnv::unique_path(std::string("tls_pw_archive_") + c.name);
  auto receiver = start_walstream(
      concat({"receive", "-D", archive.string(), "-S", slot, "-v"}, how.args), how.env);
  std::string last;
  ASSERT_TRUE(primary().wait_for_value(
      "SELECT active FROM pg_replication_slots WHERE slot_name = " + sql_literal(slot), "t", 30s,
      &last))
      << last << "\n"
      << receiver->stderr_so_far();
  cmdline = process_cmdline(receiver->pid());
  EXPECT_THAT(cmdline, HasSubstr("receive -D"));
  expect_hidden(cmdline, "the receiver's /proc/PID/cmdline");
  const std::uint64_t lsn = parse_lsn(generate_wal(primary(), 1));
  const fs::path segment = archive / segment_name(1, segno_of(lsn));
  EXPECT_TRUE(wait_until([&] { return fs::exists(segment) || !receiver->running(); }, 30s) &&
              fs::exists(segment))
      << describe_archive(archive) << receiver->stderr_so_far();
  const CommandResult result = stop_receiver(*receiver);
  EXPECT_EQ(result.exit_code, 0) << result.describe();
  expect_hidden(result.out + result.err, "the receiver's output");
  primary().exec("SELECT pg_drop_replication_slot(" + sql_literal(slot) + ")");
}

INSTANTIATE_TEST_SUITE_P(
    Sources, TlsPasswordTest,
    ::testing::Values(
        PasswordCase{"scram_pgpassword", "s", kScramPassword, "scram-sha-256",
                     PasswordSource::kEnvironment},
        PasswordCase{"md5_pgpassword", "m", kMd5Password, "md5", PasswordSource::kEnvironment},
        PasswordCase{"md5_passfile", "m", kMd5Password, "md5", PasswordSource::kPassfile},
        PasswordCase{"scram_passfile", "s", kScramPassword, "scram-sha-256",
                     PasswordSource::kPassfile},
        PasswordCase{"scram_service", "s", kScramPassword, "scram-sha-256",
                     PasswordSource::kService},
        PasswordCase{"scram_conninfo", "s", kScramPassword, "scram-sha-256",
                     PasswordSource::kConnectionString},
        PasswordCase{"md5_dbname_equals", "m", kMd5Password, "md5",
                     PasswordSource::kJoinedConnectionString},
        PasswordCase{"md5_uri", "m", kMd5Password, "md5", PasswordSource::kUri}),
    [](const ::testing::TestParamInfo<PasswordCase>& param_info) { return param_info.param.name; });

}  // namespace
}  // namespace walstream::it
