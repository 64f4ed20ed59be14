#include "tools/exit_codes.h"

namespace walstream::tools {

int exit_code_for(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kUsage:
      return kExitUsage;
    case ErrorKind::kConnection:
      return kExitConnection;
    case ErrorKind::kServer:
    case ErrorKind::kProtocol:
      return kExitServer;
    case ErrorKind::kIo:
      return kExitIo;
    case ErrorKind::kCancelled:
      return kExitInterrupted;
    case ErrorKind::kInternal:
      return kExitFailure;
  }
  return kExitFailure;
}

int restore_wal_exit_code_for(ErrorKind kind) {
  const int code = exit_code_for(kind);
  return code > 125 ? kExitFailure : code;
}

// Laid out for help2man: "Exit status:" then one line per code, its text at
// column 7 (continuation lines too), which becomes a tagged list.
namespace {

constexpr const char* kHeading = "Exit status:\n";
constexpr const char* kUsage = "  2    usage error: bad flags or arguments\n";
constexpr const char* kConnection =
    "  3    could not connect or authenticate, or the connection was lost\n";
constexpr const char* kServer =
    "  4    the server reported an error, or sent what walstream cannot accept\n";
constexpr const char* kIo =
    "  5    a local file operation failed (disk full, I/O error, permissions)\n";
constexpr const char* kInterrupted = "  130  interrupted by SIGINT or SIGTERM\n";
constexpr const char* kInternal = "  1    an internal error\n";

}  // namespace

std::string exit_codes_help() {
  return std::string(kHeading) +
         "  0    success (receive: also when SIGINT or SIGTERM stops it, its normal end)\n"
         "  1    check found a problem, verify found damage, restore-wal does not have\n"
         "       the file; or an internal error\n"
         "  2    usage error: bad flags or arguments, a target directory that is not\n"
         "       empty, a replication slot (-S) that does not exist\n"
         "  3    could not connect or authenticate (server down, wrong password, no\n"
         "       pg_hba.conf entry), or the connection was lost\n" +
         kServer + kIo +
         "  130  interrupted by SIGINT or SIGTERM (clone, bench, receive's slot actions)\n"
         "restore-wal never exits above 125: PostgreSQL reads 1 to 125 as \"not\n"
         "available\" and stops recovery on anything higher.\n";
}

std::string exit_codes_help(std::string_view subcommand) {
  const std::string heading = kHeading;
  if (subcommand == "clone") {
    return heading + "  0    the clone is complete\n" + kInternal +
           "  2    usage error: bad flags or arguments, a target directory that is not\n"
           "       empty, a replication slot (-S) that does not exist\n" +
           kConnection + kServer + kIo +
           "  130  interrupted by SIGINT or SIGTERM (what the clone created is removed)\n";
  }
  if (subcommand == "receive") {
    return heading +
           "  0    stopped by SIGINT or SIGTERM (its normal end), at -E/--endpos, or the\n"
           "       slot was created or dropped\n" +
           kInternal +
           "  2    usage error: bad flags or arguments, a replication slot (-S) that does\n"
           "       not exist, an archive of another database system\n" +
           kConnection + kServer + kIo +
           "  130  interrupted by SIGINT or SIGTERM during --create-slot or --drop-slot\n";
  }
  if (subcommand == "restore-wal") {
    return heading + "  0    the file was restored\n" +
           "  1    the archive does not have the file; or an internal error\n" +
           "  2    usage error: not a WAL file name, or bad arguments\n" +
           "  3    s3://: the S3 server could not be reached\n"
           "  4    s3://: S3 reported an error (NoSuchBucket, SignatureDoesNotMatch, ...)\n"
           "  5    the file could not be restored (unreadable or corrupt in the archive, or\n"
           "       the destination could not be written)\n" +
           "Never above 125: PostgreSQL reads 1 to 125 as \"not available\" (a standby\n"
           "tries again, or streams) and stops recovery on anything higher.\n";
  }
  if (subcommand == "verify") {
    return heading + "  0    verified\n" +
           "  1    verification found problems (each is named); or an internal error\n" + kUsage +
           "  3    --wal s3://: the S3 server could not be reached\n"
           "  4    --wal s3://: S3 reported an error (NoSuchBucket, SignatureDoesNotMatch,\n"
           "       AccessDenied, ...)\n"
           "  5    a file could not be read, such as a missing backup_manifest\n";
  }
  if (subcommand == "bench") {
    return heading + "  0    the report was printed\n" + kInternal + kUsage + kConnection +
           kServer + kIo + kInterrupted;
  }
  if (subcommand == "check") {
    return heading + "  0    every check passed\n" +
           "  1    a check failed or could not be made (the report says which and how to\n"
           "       fix it)\n" +
           kUsage;
  }
  return {};
}

}  // namespace walstream::tools
