// One error type for the whole program. Lower layers throw walstream::Error with
// a kind, a one-line cause and, where there is one, a hint naming the fix; only
// tools/ catches, prints "walstream: error: <cause>; hint: <fix>" and exits.
// Exceptions (not error codes) because every failure here ends the command or a
// session, and C++20 coroutines propagate them across co_await cleanly.
#pragma once

#include <stdexcept>
#include <string>

namespace walstream {

// What went wrong, as the user must act on it: tools/exit_codes.h gives each
// kind its exit code (documented in README.md, "Exit codes").
enum class ErrorKind {
  kUsage,       // bad flags or arguments, including a directory or slot the user named
  kProtocol,    // the server sent bytes we cannot accept
  kServer,      // the server reported an error (on an established connection)
  kConnection,  // could not connect or log in (libpq refused: server down, password,
                // pg_hba.conf, no REPLICATION), or the connection broke
  kIo,          // a filesystem operation failed
  kCancelled,   // SIGINT/SIGTERM
  kInternal,    // a bug or an exhausted resource: none of the above
};

class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, std::string message, std::string hint = {})
      : std::runtime_error(std::move(message)), kind_(kind), hint_(std::move(hint)) {}

  ErrorKind kind() const { return kind_; }
  const std::string& hint() const { return hint_; }
  // The server's SQLSTATE for kServer errors ("42710" duplicate object, ...).
  const std::string& sqlstate() const { return sqlstate_; }
  Error&& with_sqlstate(std::string sqlstate) && {
    sqlstate_ = std::move(sqlstate);
    return std::move(*this);
  }

 private:
  ErrorKind kind_;
  std::string hint_;
  std::string sqlstate_;
};

// A malformed or unexpected message from the server.
inline Error ProtocolError(std::string message) {
  return Error(ErrorKind::kProtocol, std::move(message));
}

}  // namespace walstream
