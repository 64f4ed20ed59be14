// A certificate authority made with the openssl CLI at test time, and the
// certificates it signs: server certificates for 127.0.0.1 (what
// sslmode=verify-full checks) and client certificates whose common name is a
// role (cert authentication). Keys are EC P-256: quick to make, accepted by
// every supported server and libpq.
#pragma once

#include <filesystem>
#include <memory>
#include <string_view>

namespace walstream::it {

struct CertifiedKey {
  std::filesystem::path certificate;
  // Mode 0600: the server and libpq refuse a key others can read.
  std::filesystem::path key;
};

class TestCertificateAuthority {
 public:
  // A self-signed CA certificate and its key in a fresh directory
  // scratch/<name>. Throws std::runtime_error when openssl fails.
  static std::unique_ptr<TestCertificateAuthority> create(std::string_view name);

  // The CA certificate: sslrootcert for clients, ssl_ca_file for servers.
  const std::filesystem::path& certificate() const { return certificate_; }
  const std::filesystem::path& dir() const { return dir_; }

  // dir/<stem>.crt and .key for the server at 127.0.0.1: common name and IP
  // subject alternative name.
  CertifiedKey issue_server(std::string_view stem) const;
  // dir/<stem>.crt and .key with common name `role`.
  CertifiedKey issue_client(std::string_view stem, std::string_view role) const;

 private:
  TestCertificateAuthority() = default;
  CertifiedKey issue(std::string_view stem, std::string_view common_name,
                     std::string_view extensions) const;

  std::filesystem::path dir_;
  std::filesystem::path certificate_;
  std::filesystem::path key_;
};

}  // namespace walstream::it
