#include "walreceiver/preflight.h"

#include <libpq-fe.h>
#include <sys/statvfs.h>

#include <memory>
#include <utility>

#include "protocol/lsn.h"
#include "protocol/replication_commands.h"
#include "walreceiver/pg_connection.h"

namespace walstream::walreceiver {

namespace {

namespace fs = std::filesystem;

struct ConnCloser {
  void operator()(PGconn* conn) const { PQfinish(conn); }
};
using Conn = std::unique_ptr<PGconn, ConnCloser>;

Conn connect(const Keywords& keywords) {
  const KeywordArrays arrays(keywords);
  return Conn(PQconnectdbParams(arrays.keys.data(), arrays.values.data(), /*expand_dbname=*/0));
}

// A replication connection, asking for a password once if the server wants
// one and the user may be asked.
Conn connect_replication(const ConnectionOptions& options, std::string& password) {
  if (options.force_prompt && options.password_prompt) {
    if (auto typed = options.password_prompt()) password = *typed;
  }
  Conn conn = connect(replication_keywords(options, password));
  if (PQstatus(conn.get()) == CONNECTION_BAD && PQconnectionNeedsPassword(conn.get()) &&
      password.empty() && !options.never_prompt && options.password_prompt) {
    if (auto typed = options.password_prompt()) {
      password = *typed;
      conn = connect(replication_keywords(options, password));
    }
  }
  return conn;
}

// The same credentials, without replication, to database postgres: what SQL
// the counts and sizes need. Null when pg_hba.conf (or the role) refuses.
Conn connect_regular(const ConnectionOptions& options, const std::string& password) {
  Keywords keywords;
  for (auto& [key, value] : replication_keywords(options, password)) {
    if (key == "replication" || key == "dbname") continue;
    keywords.emplace_back(key, value);
  }
  keywords.emplace_back("dbname", "postgres");
  Conn conn = connect(keywords);
  if (PQstatus(conn.get()) != CONNECTION_OK) return nullptr;
  return conn;
}

std::optional<protocol::ResultSet> query(PGconn* conn, const std::string& command) {
  PgResult result(PQexec(conn, command.c_str()));
  if (PQresultStatus(result.get()) != PGRES_TUPLES_OK) return std::nullopt;
  return tuples_of(result.get());
}

std::optional<std::string> value(PGconn* conn, const std::string& command) {
  auto set = query(conn, command);
  if (!set || set->rows.empty() || set->rows[0].empty() || !set->rows[0][0]) return std::nullopt;
  return set->rows[0][0];
}

std::optional<int> int_value(PGconn* conn, const std::string& command) {
  auto text = value(conn, command);
  if (!text) return std::nullopt;
  try {
    return std::stoi(*text);
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

std::string sql_literal(const std::string& text) {
  std::string out = "'";
  for (char c : text) {
    out += c;
    if (c == '\'') out += '\'';
  }
  return out + "'";
}

// Free bytes where `dir` is, or would be created (its nearest existing
// ancestor).
std::optional<std::uint64_t> free_bytes(fs::path dir) {
  dir = fs::absolute(dir);
  std::error_code error;
  while (!fs::exists(dir, error) && dir.has_parent_path() && dir != dir.parent_path()) {
    dir = dir.parent_path();
  }
  struct statvfs stats {};
  if (::statvfs(dir.c_str(), &stats) != 0) return std::nullopt;
  return static_cast<std::uint64_t>(stats.f_bavail) * stats.f_frsize;
}

}  // namespace

std::vector<CheckItem> run_check(const CheckOptions& options) {
  std::string password;
  Conn conn = connect_replication(options.connection, password);
  const char* user_text = PQuser(conn.get());
  const std::string user = user_text != nullptr ? user_text : options.connection.user;

  std::vector<CheckItem> items;
  auto not_checked = [&items](std::string name, const std::string& why) {
    items.push_back(
        CheckItem{std::move(name), CheckStatus::kNotChecked, "not checked: " + why, {}});
  };
  if (PQstatus(conn.get()) != CONNECTION_OK) {
    const Diagnosis diagnosis = diagnose_server_message(PQerrorMessage(conn.get()), user, password);
    items = connection_failure_items(diagnosis.message, user);
    const std::string why = "no replication connection";
    for (const char* name : {"server version supported", "wal_level", "max_replication_slots"}) {
      not_checked(name, why);
    }
    if (options.slot) not_checked("slot \"" + *options.slot + "\"", why);
    if (options.directory) not_checked("free space in " + options.directory->string(), why);
    return items;
  }

  PGconn* c = conn.get();
  const char* host = PQhost(c);
  const char* port = PQport(c);
  items = connection_success_items(std::string(host ? host : "") + ":" + (port ? port : ""), user);
  Conn regular = connect_regular(options.connection, password);
  const std::string no_sql =
      "counting needs a regular connection to database postgres, which the server refused";

  // The walsender item, with the counts when SQL can tell them.
  if (auto max_senders = int_value(c, "SHOW max_wal_senders")) {
    std::optional<int> in_use;
    if (regular) in_use = int_value(regular.get(), "SELECT count(*) FROM pg_stat_replication");
    items[4] = wal_senders_item(*max_senders, in_use);
  }
  const char* version_text = PQparameterStatus(c, "server_version");
  items.push_back(version_item(PQserverVersion(c), version_text ? version_text : "?"));
  if (auto level = value(c, "SHOW wal_level")) {
    items.push_back(wal_level_item(*level));
  } else {
    not_checked("wal_level", "SHOW wal_level failed");
  }
  if (auto max_slots = int_value(c, "SHOW max_replication_slots")) {
    std::optional<int> in_use;
    if (regular) in_use = int_value(regular.get(), "SELECT count(*) FROM pg_replication_slots");
    items.push_back(replication_slots_item(*max_slots, in_use));
  }
  const bool keep_size = PQserverVersion(c) >= 130000;
  const std::string keep_name = keep_size ? "wal_keep_size" : "wal_keep_segments";
  if (auto keep = value(c, "SHOW " + keep_name)) items.push_back(wal_keep_item(keep_name, *keep));

  if (options.slot) {
    std::optional<SlotFacts> facts;
    std::string reason = no_sql;
    // The server's position, 0 when IDENTIFY_SYSTEM failed (then nothing
    // is said about retained WAL).
    std::uint64_t now = 0;
    if (const auto identity = query(c, protocol::identify_system_command())) {
      now = protocol::parse_identify_system(*identity).xlogpos.value;
    }
    if (PQserverVersion(c) >= 150000) {
      if (auto set = query(c, protocol::read_replication_slot_command(*options.slot))) {
        facts.emplace();
        if (auto info = protocol::parse_read_replication_slot(*set)) {
          facts->exists = true;
          if (info->restart_lsn && now >= info->restart_lsn->value) {
            facts->retained_bytes = now - info->restart_lsn->value;
          }
        }
      } else {
        reason = "READ_REPLICATION_SLOT failed (is it a logical slot?)";
      }
    } else if (regular) {
      if (auto set = query(regular.get(),
                           "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint "
                           "FROM pg_replication_slots WHERE slot_name = " +
                               sql_literal(*options.slot))) {
        facts.emplace();
        facts->exists = !set->rows.empty();
        if (facts->exists && set->rows[0][0]) facts->retained_bytes = std::stoull(*set->rows[0][0]);
      }
    }
    items.push_back(slot_item(*options.slot, facts, reason));
  }

  if (options.directory) {
    const auto free = free_bytes(*options.directory);
    std::optional<std::uint64_t> size;
    if (regular) {
      if (auto text =
              value(regular.get(), "SELECT sum(pg_database_size(oid))::bigint FROM pg_database")) {
        size = std::stoull(*text);
      }
    }
    if (free) {
      items.push_back(free_space_item(options.directory->string(), *free, size));
    } else {
      not_checked("free space in " + options.directory->string(), "statvfs failed");
    }
  }
  return items;
}

}  // namespace walstream::walreceiver
