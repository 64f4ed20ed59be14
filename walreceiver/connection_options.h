// How to reach the server: the pg_basebackup-style flags (-d, -h, -p, -U, -w,
// -W) turned into libpq keywords for a physical replication connection, and
// libpq's failure text turned into one line with a hint naming the fix.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace walstream::walreceiver {

struct ConnectionOptions {
  std::string conninfo;       // -d: a connection string or URI; dbname in it is ignored
  std::string host;           // -h
  std::string port;           // -p
  std::string user;           // -U
  bool never_prompt = false;  // -w
  bool force_prompt = false;  // -W
  // Asks the user for a password (terminal, echo off); nullopt if it cannot.
  std::function<std::optional<std::string>()> password_prompt;
};

using Keywords = std::vector<std::pair<std::string, std::string>>;

// libpq's parallel, null-terminated keyword and value arrays, pointing into
// `keywords` (which must outlive them).
struct KeywordArrays {
  explicit KeywordArrays(const Keywords& keywords);
  std::vector<const char*> keys;
  std::vector<const char*> values;
};

// libpq keywords for a physical replication connection: the options of -d
// except dbname, then dbname=replication, replication=true,
// fallback_application_name=walstream, then -h/-p/-U, then `password` if set.
// Throws walstream::Error (kUsage) if -d does not parse.
Keywords replication_keywords(const ConnectionOptions& options, const std::string& password);

// "user@host:port" for log lines: from the flags, -d, the PG* variables and
// libpq's defaults, in libpq's order of precedence; never a password. A
// unix socket directory shows as the host. Throws like replication_keywords.
std::string connection_identity(const ConnectionOptions& options);

// Folds libpq's (possibly multi-line) message into one line, removes
// `secret` from it, and attaches a hint when the cause is a known one.
struct Diagnosis {
  std::string message;
  std::string hint;
};
Diagnosis diagnose_server_message(const std::string& libpq_message, const std::string& user,
                                  const std::string& secret);

}  // namespace walstream::walreceiver
