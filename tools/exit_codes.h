// walstream's exit codes: the one place that turns an outcome into a number.
// Scripts and service managers tell a refused login from a full disk by them,
// so they are part of the interface (README.md, "Exit codes"; the help text).
#pragma once

#include <string>
#include <string_view>

#include "protocol/error.h"

namespace walstream::tools {

inline constexpr int kExitSuccess = 0;
// An internal error or an unexpected exception; also a command's own "no":
// check found a problem, verify found damage, restore-wal does not have the
// file.
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;          // bad flags or arguments
inline constexpr int kExitConnection = 3;     // could not connect or log in, or lost the connection
inline constexpr int kExitServer = 4;         // the server reported an error or broke the protocol
inline constexpr int kExitIo = 5;             // a local file operation failed
inline constexpr int kExitInterrupted = 130;  // SIGINT/SIGTERM, as a shell reports 128 + SIGINT

// The exit code of a command that ended with walstream::Error of `kind`.
int exit_code_for(ErrorKind kind);

// The same for restore-wal, which PostgreSQL runs as restore_command:
// recovery takes any exit code from 1 to 125 as "file not available" (a
// standby retries, or streams), but one above 125 (or death by a signal) as
// fatal, and the server stops. A failed restore is no reason to stop a
// standby (the file may be readable the next time), so no error maps above
// 125 here. An interrupt never gets this far: restore-wal installs no signal
// handler, so SIGINT and SIGTERM end it by the signal, which PostgreSQL
// handles as it always does.
int restore_wal_exit_code_for(ErrorKind kind);

// The "Exit status" paragraph of `walstream --help`, and of `walstream
// SUBCOMMAND --help` (what that subcommand can exit with): the man pages
// help2man makes from the help text carry them too. Empty for a name that is
// not a subcommand.
std::string exit_codes_help();
std::string exit_codes_help(std::string_view subcommand);

}  // namespace walstream::tools
