#include "walreceiver/connection_options.h"

#include <libpq-fe.h>

#include <cstring>

#include "protocol/conninfo_secrets.h"
#include "protocol/error.h"

namespace walstream::walreceiver {
namespace {

std::string fold_to_one_line(const std::string& text) {
  std::string out;
  bool pending_space = false;
  for (char c : text) {
    if (c == '\n' || c == '\r' || c == '\t' || c == ' ') {
      pending_space = !out.empty();
      continue;
    }
    if (pending_space) out += ' ';
    pending_space = false;
    out += c;
  }
  return out;
}

void scrub(std::string& text, const std::string& secret) {
  if (secret.empty()) return;
  for (auto pos = text.find(secret); pos != std::string::npos; pos = text.find(secret, pos)) {
    text.replace(pos, secret.size(), "********");
  }
}

bool contains(const std::string& text, const char* needle) {
  return text.find(needle) != std::string::npos;
}

std::string hint_for(const std::string& message, const std::string& user) {
  const std::string who = user.empty() ? "<user>" : user;
  if (contains(message, "password authentication failed")) {
    return "check the password given in PGPASSWORD, ~/.pgpass or the connection string";
  }
  if (contains(message, "no password supplied") || contains(message, "fe_sendauth")) {
    return "supply a password with PGPASSWORD or ~/.pgpass, or use -W to be asked for one";
  }
  if (contains(message, "no pg_hba.conf entry")) {
    return "add a line such as \"host replication " + who +
           " <this host's address>/32 scram-sha-256\" to the primary's pg_hba.conf, then reload "
           "it";
  }
  if (contains(message, "replication role") ||
      contains(message, "permission denied to start WAL") ||
      contains(message, "REPLICATION attribute")) {
    return "give the role replication rights on the primary: ALTER ROLE " + who + " REPLICATION";
  }
  if (contains(message, "max_wal_senders")) {
    return "raise max_wal_senders on the primary (walstream clone needs two replication "
           "connections) or stop other WAL senders";
  }
  if (contains(message, "Connection refused") || contains(message, "could not connect") ||
      contains(message, "could not translate host name") || contains(message, "timeout expired") ||
      contains(message, "No such file or directory")) {
    return "check the host and port (-h, -p, PGHOST, PGPORT) and that the server is running and "
           "listening there";
  }
  if (contains(message, "wal_level")) {
    return "set wal_level = replica on the primary and restart it";
  }
  if (contains(message, "replication slot") && contains(message, "does not exist")) {
    return "create the slot first, or add -C/--create-slot";
  }
  if (contains(message, "replication slot") && contains(message, "already exists")) {
    return "choose another slot name, or drop the old slot if nothing uses it";
  }
  return {};
}

}  // namespace

KeywordArrays::KeywordArrays(const Keywords& keywords) {
  for (const auto& [key, value] : keywords) {
    keys.push_back(key.c_str());
    values.push_back(value.c_str());
  }
  keys.push_back(nullptr);
  values.push_back(nullptr);
}

Keywords replication_keywords(const ConnectionOptions& options, const std::string& password) {
  Keywords keywords;
  if (!options.conninfo.empty()) {
    char* error = nullptr;
    PQconninfoOption* parsed = PQconninfoParse(options.conninfo.c_str(), &error);
    if (parsed == nullptr) {
      // libpq quotes a malformed URI whole, password included.
      std::string reason = error != nullptr
                               ? protocol::scrub_secrets(fold_to_one_line(error), options.conninfo)
                               : "out of memory";
      if (error != nullptr) PQfreemem(error);
      throw Error(ErrorKind::kUsage, "invalid connection string: " + reason,
                  "check the value of -d/--dbname");
    }
    for (PQconninfoOption* option = parsed; option->keyword != nullptr; ++option) {
      // dbname is dropped as pg_basebackup does: a physical walsender ignores it.
      if (option->val == nullptr || *option->val == '\0') continue;
      if (std::strcmp(option->keyword, "dbname") == 0) continue;
      keywords.emplace_back(option->keyword, option->val);
    }
    PQconninfoFree(parsed);
  }
  keywords.emplace_back("dbname", "replication");
  keywords.emplace_back("replication", "true");
  keywords.emplace_back("fallback_application_name", "walstream");
  if (!options.host.empty()) keywords.emplace_back("host", options.host);
  if (!options.port.empty()) keywords.emplace_back("port", options.port);
  if (!options.user.empty()) keywords.emplace_back("user", options.user);
  if (!password.empty()) keywords.emplace_back("password", password);
  return keywords;
}

Diagnosis diagnose_server_message(const std::string& libpq_message, const std::string& user,
                                  const std::string& secret) {
  Diagnosis diagnosis;
  diagnosis.message = fold_to_one_line(libpq_message);
  scrub(diagnosis.message, secret);
  diagnosis.hint = hint_for(diagnosis.message, user);
  return diagnosis;
}

std::string connection_identity(const ConnectionOptions& options) {
  std::string host;
  std::string port;
  std::string user;
  for (const auto& [key, value] : replication_keywords(options, "")) {
    if (key == "host") host = value;
    if (key == "port") port = value;
    if (key == "user") user = value;
  }
  // What libpq would use otherwise: PGHOST, PGPORT, PGUSER, then its
  // compiled-in defaults.
  if (PQconninfoOption* defaults = PQconndefaults()) {
    for (PQconninfoOption* option = defaults; option->keyword != nullptr; ++option) {
      if (option->val == nullptr) continue;
      if (host.empty() && std::strcmp(option->keyword, "host") == 0) host = option->val;
      if (port.empty() && std::strcmp(option->keyword, "port") == 0) port = option->val;
      if (user.empty() && std::strcmp(option->keyword, "user") == 0) user = option->val;
    }
    PQconninfoFree(defaults);
  }
  if (host.empty()) host = "localhost";
  return (user.empty() ? std::string() : user + "@") + host + (port.empty() ? "" : ":" + port);
}

}  // namespace walstream::walreceiver
