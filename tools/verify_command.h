// `walstream verify DIR [-n] [--server-major N]`: a plain backup against its
// backup_manifest (pg_verifybackup's checks, WAL parsed natively), and
// `walstream verify --wal ARCHIVE [--from LSN] [--to LSN]`: a WAL archive, in a
// directory or in S3 (s3://BUCKET/PREFIX, keys from the AWS_* environment).
#pragma once

#include <CLI/CLI.hpp>
#include <string>

namespace walstream::tools {

class VerifyCommand {
 public:
  explicit VerifyCommand(CLI::App& app);
  bool selected() const { return command_->parsed(); }
  // 0 verified, 1 problems (one "walstream: error: ..." line each on stderr).
  // Throws walstream::Error when the archive cannot be read at all (an S3
  // error or an unreachable endpoint included).
  int run();

 private:
  int run_backup();
  int run_archive();

  CLI::App* command_;
  std::string directory_;
  std::string archive_;
  std::string from_;
  std::string to_;
  bool no_parse_wal_ = false;
  int server_major_ = 0;
};

}  // namespace walstream::tools
