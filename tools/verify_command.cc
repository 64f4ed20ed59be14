#include "tools/verify_command.h"

#include <cstdio>
#include <optional>

#include "protocol/error.h"
#include "protocol/lsn.h"
#include "protocol/s3_location.h"
#include "storage/backup_verifier.h"
#include "storage/s3_client.h"
#include "storage/s3_credentials.h"
#include "storage/s3_wal_source.h"
#include "storage/wal_archive_source.h"
#include "storage/wal_archive_verifier.h"
#include "tools/exit_codes.h"

namespace walstream::tools {
namespace {

std::optional<protocol::Lsn> lsn_option(const std::string& text, const char* flag) {
  if (text.empty()) return std::nullopt;
  auto lsn = protocol::parse_lsn(text);
  if (!lsn) {
    throw Error(ErrorKind::kUsage, std::string("invalid ") + flag + " \"" + text + "\"",
                "give an LSN such as 0/3000000");
  }
  return lsn;
}

int report(const std::vector<std::string>& problems) {
  for (const auto& problem : problems) {
    std::fprintf(stderr, "walstream: error: %s\n", problem.c_str());
  }
  return problems.empty() ? kExitSuccess : kExitFailure;
}

}  // namespace

VerifyCommand::VerifyCommand(CLI::App& app) {
  command_ = app.add_subcommand(
      "verify", "Verify a plain backup against its backup_manifest, or a WAL archive (--wal)");
  auto& c = *command_;
  c.set_help_flag("--help", "Show help");
  c.add_option("directory", directory_, "Backup directory (made by walstream clone)");
  c.add_flag("-n,--no-parse-wal", no_parse_wal_, "Do not parse the backup's WAL");
  c.add_option("--server-major", server_major_,
               "Server major version that wrote the WAL (default: the backup's PG_VERSION)")
      ->check(CLI::Range(11, 18));
  c.add_option("--wal", archive_,
               "Verify this WAL archive (made by walstream receive) instead: a directory, or "
               "s3://BUCKET/PREFIX (endpoint and keys from the AWS_* environment)");
  c.add_option("--from", from_, "With --wal: start at this LSN (default: the oldest segment)");
  c.add_option("--to", to_, "With --wal: stop at this LSN (default: the end of the archive)");
}

int VerifyCommand::run() {
  if (directory_.empty() == archive_.empty()) {
    throw Error(ErrorKind::kUsage, "give either a backup directory or --wal ARCHIVE",
                "walstream verify DIR, or walstream verify --wal ARCHIVE");
  }
  if (!archive_.empty()) {
    if (no_parse_wal_ || server_major_ != 0) {
      throw Error(ErrorKind::kUsage, "-n and --server-major apply to backups, not to --wal");
    }
    return run_archive();
  }
  if (!from_.empty() || !to_.empty()) {
    throw Error(ErrorKind::kUsage, "--from and --to apply to --wal only");
  }
  return run_backup();
}

int VerifyCommand::run_backup() {
  storage::BackupVerifyOptions options;
  options.directory = directory_;
  options.parse_wal = !no_parse_wal_;
  if (server_major_ != 0) options.server_major = server_major_;
  const int status = report(storage::verify_backup(options));
  if (status == 0) std::printf("backup successfully verified\n");
  return status;
}

int VerifyCommand::run_archive() {
  const auto from = lsn_option(from_, "--from");
  const auto to = lsn_option(to_, "--to");
  storage::WalArchiveVerifyResult result;
  if (protocol::is_s3_url(archive_)) {
    // Endpoint, region and keys from the AWS_* environment, as restore-wal.
    const protocol::S3Location location = protocol::parse_s3_location(archive_);
    storage::S3Client client(storage::s3_client_options_from_environment(),
                             storage::resolve_s3_credentials());
    storage::S3WalSource source(client, location);
    result = storage::verify_wal_archive(source, from, to);
  } else {
    storage::WalArchiveVerifyOptions options;
    options.directory = archive_;
    options.from = from;
    options.to = to;
    result = storage::verify_wal_archive(options);
  }
  const int status = report(result.problems);
  if (status == 0) {
    std::printf("WAL archive verified from %s to %s\n", protocol::to_string(result.from).c_str(),
                protocol::to_string(result.to).c_str());
  }
  return status;
}

}  // namespace walstream::tools
