#include "tests/integration/test_ca.h"

#include <atomic>
#include <stdexcept>
#include <string>
#include <vector>

#include "tests/integration/test_env.h"

namespace walstream::it {

namespace fs = std::filesystem;

namespace {

const std::vector<std::string> kNewEcKey = {"-newkey", "ec", "-pkeyopt",
                                            "ec_paramgen_curve:prime256v1", "-nodes"};

void run_openssl(std::vector<std::string> args) {
  args.insert(args.begin(), "openssl");
  const CommandResult result = run_command(args, {}, 60s);
  if (result.exit_code != 0) {
    throw std::runtime_error("openssl " + args.at(1) + " failed: " + result.describe());
  }
}

void make_private(const fs::path& key) {
  fs::permissions(key, fs::perms::owner_read | fs::perms::owner_write, fs::perm_options::replace);
}

}  // namespace

std::unique_ptr<TestCertificateAuthority> TestCertificateAuthority::create(std::string_view name) {
  std::unique_ptr<TestCertificateAuthority> ca(new TestCertificateAuthority());
  ca->dir_ = TestEnv::scratch_dir() / name;
  if (fs::exists(ca->dir_)) throw std::runtime_error("already exists: " + ca->dir_.string());
  fs::create_directories(ca->dir_);
  ca->certificate_ = ca->dir_ / "ca.crt";
  ca->key_ = ca->dir_ / "ca.key";
  std::vector<std::string> args{"req", "-x509", "-days",
                                "2",   "-subj", "/CN=walstream test CA " + std::string(name)};
  args.insert(args.end(), kNewEcKey.begin(), kNewEcKey.end());
  args.insert(args.end(), {"-keyout", ca->key_.string(), "-out", ca->certificate_.string(),
                           "-addext", "basicConstraints=critical,CA:TRUE", "-addext",
                           "keyUsage=critical,keyCertSign,cRLSign"});
  run_openssl(args);
  make_private(ca->key_);
  return ca;
}

CertifiedKey TestCertificateAuthority::issue_server(std::string_view stem) const {
  return issue(stem, "127.0.0.1", "subjectAltName=IP:127.0.0.1\n");
}

CertifiedKey TestCertificateAuthority::issue_client(std::string_view stem,
                                                    std::string_view role) const {
  return issue(stem, role, "extendedKeyUsage=clientAuth\n");
}

CertifiedKey TestCertificateAuthority::issue(std::string_view stem, std::string_view common_name,
                                             std::string_view extensions) const {
  static std::atomic<int> serial{1000};
  const std::string base = std::string(stem);
  CertifiedKey issued{dir_ / (base + ".crt"), dir_ / (base + ".key")};
  const fs::path request = dir_ / (base + ".csr");
  const fs::path extension_file = dir_ / (base + ".ext");
  write_file(extension_file, "basicConstraints=CA:FALSE\n" + std::string(extensions));

  std::vector<std::string> args{"req", "-new", "-subj", "/CN=" + std::string(common_name)};
  args.insert(args.end(), kNewEcKey.begin(), kNewEcKey.end());
  args.insert(args.end(), {"-keyout", issued.key.string(), "-out", request.string()});
  run_openssl(args);
  make_private(issued.key);
  run_openssl({"x509", "-req", "-in", request.string(), "-CA", certificate_.string(), "-CAkey",
               key_.string(), "-set_serial", std::to_string(++serial), "-days", "2", "-extfile",
               extension_file.string(), "-out", issued.certificate.string()});
  return issued;
}

}  // namespace walstream::it
