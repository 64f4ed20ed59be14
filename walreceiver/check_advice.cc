#include "walreceiver/check_advice.h"

#include <array>

#include "walreceiver/progress_text.h"

namespace walstream::walreceiver {

namespace {

bool contains(const std::string& text, std::string_view part) {
  return text.find(part) != std::string::npos;
}

// SQL identifier quoting for the fixes ("r" -> "r", a"b -> "a""b").
std::string quoted(const std::string& name) {
  std::string out = "\"";
  for (char c : name) {
    out += c;
    if (c == '"') out += '"';
  }
  return out + "\"";
}

// The client address the server saw: ... from host "10.0.0.5", user ...
std::string client_host(const std::string& message) {
  const std::string marker = "from host \"";
  const auto begin = message.find(marker);
  if (begin == std::string::npos) return {};
  const auto start = begin + marker.size();
  const auto end = message.find('"', start);
  return end == std::string::npos ? std::string() : message.substr(start, end - start);
}

CheckItem make(std::string_view name, CheckStatus status, std::string detail = {},
               std::string fix = {}) {
  return CheckItem{std::string(name), status, std::move(detail), std::move(fix)};
}

constexpr std::array<std::string_view, 5> kConnectionItems = {kReachable, kHba, kAuthentication,
                                                              kReplicationRole, kWalSenders};

// The items before `failed` passed; `failed` failed; the rest are unknown.
std::vector<CheckItem> failing_at(std::string_view failed, std::string detail, std::string fix) {
  std::vector<CheckItem> items;
  bool after = false;
  for (std::string_view name : kConnectionItems) {
    if (name == failed) {
      items.push_back(make(name, CheckStatus::kFail, detail, fix));
      after = true;
    } else if (after) {
      items.push_back(make(name, CheckStatus::kNotChecked,
                           "not checked: " + std::string(failed) + " failed first"));
    } else {
      items.push_back(make(name, CheckStatus::kPass));
    }
  }
  return items;
}

}  // namespace

std::vector<CheckItem> connection_failure_items(const std::string& message,
                                                const std::string& user) {
  const std::string role = quoted(user);
  if (contains(message, "Connection refused") || contains(message, "could not connect") ||
      contains(message, "could not translate host name") || contains(message, "timeout expired") ||
      contains(message, "No such file or directory")) {
    return failing_at(kReachable, message,
                      "start the server, or check -h/-p (PGHOST, PGPORT); on the server, "
                      "listen_addresses in postgresql.conf must include this host's network "
                      "(ALTER SYSTEM SET listen_addresses = '*', then restart)");
  }
  if (contains(message, "no pg_hba.conf entry")) {
    const std::string host = client_host(message);
    const std::string from =
        host.empty() ? "<this host's address>/32" : host + (contains(host, ":") ? "/128" : "/32");
    return failing_at(kHba, message,
                      "add the line \"host replication " + user + " " + from +
                          " scram-sha-256\" to pg_hba.conf, then SELECT pg_reload_conf();");
  }
  if (contains(message, "role \"") && contains(message, "does not exist")) {
    return failing_at(kAuthentication, message,
                      "CREATE ROLE " + role + " LOGIN REPLICATION PASSWORD '...';");
  }
  if (contains(message, "password authentication failed") ||
      contains(message, "no password supplied") || contains(message, "authentication failed")) {
    return failing_at(kAuthentication, message,
                      "give the right password (PGPASSWORD, ~/.pgpass, or -W), or set it on the "
                      "server: ALTER ROLE " +
                          role + " PASSWORD '...';");
  }
  if (contains(message, "must be superuser or replication role") ||
      contains(message, "permission denied to start WAL sender") ||
      contains(message, "must have the REPLICATION attribute")) {
    return failing_at(kReplicationRole, message, "ALTER ROLE " + role + " REPLICATION;");
  }
  if (contains(message, "exceeds max_wal_senders") ||
      contains(message, "number of requested standby connections")) {
    if (contains(message, "(currently 0)")) {
      return failing_at(kWalSenders, message,
                        "ALTER SYSTEM SET wal_level = replica; ALTER SYSTEM SET "
                        "max_wal_senders = 10; then restart the server");
    }
    return failing_at(kWalSenders, message,
                      "all walsenders are in use: raise max_wal_senders (ALTER SYSTEM SET "
                      "max_wal_senders = ...; then restart), or stop a client that holds one");
  }
  if (contains(message, "the database system is starting up") ||
      contains(message, "the database system is shutting down") ||
      contains(message, "the database system is in recovery mode")) {
    return failing_at(kReachable, message, "wait until the server accepts connections");
  }
  // Unknown: the server answered, and said no.
  return failing_at(kAuthentication, message, "read the server's message above");
}

std::vector<CheckItem> connection_success_items(const std::string& where, const std::string& user) {
  return {make(kReachable, CheckStatus::kPass, where), make(kHba, CheckStatus::kPass),
          make(kAuthentication, CheckStatus::kPass, "as " + quoted(user)),
          make(kReplicationRole, CheckStatus::kPass),
          make(kWalSenders, CheckStatus::kPass, "a walsender was free")};
}

CheckItem version_item(int version_num, const std::string& server_version) {
  const int major = version_num / 10000;
  if (major >= 11 && major <= 18) {
    return make("server version supported", CheckStatus::kPass, "PostgreSQL " + server_version);
  }
  return make("server version supported", CheckStatus::kFail,
              "PostgreSQL " + server_version + "; walstream supports 11 to 18",
              "use a primary of a supported major version");
}

CheckItem wal_level_item(const std::string& wal_level) {
  if (wal_level == "replica" || wal_level == "logical" || wal_level == "hot_standby" ||
      wal_level == "archive") {
    return make("wal_level", CheckStatus::kPass, wal_level);
  }
  return make("wal_level", CheckStatus::kFail, wal_level,
              "ALTER SYSTEM SET wal_level = replica; then restart the server");
}

CheckItem wal_senders_item(int max_wal_senders, std::optional<int> in_use) {
  std::string detail = std::to_string(max_wal_senders);
  if (in_use) detail += ", " + std::to_string(*in_use) + " in use (this check's own included)";
  if (max_wal_senders > 0 && (!in_use || *in_use <= max_wal_senders)) {
    return make(kWalSenders, CheckStatus::kPass, detail);
  }
  return make(kWalSenders, CheckStatus::kFail, detail,
              "ALTER SYSTEM SET max_wal_senders = 10; then restart the server");
}

CheckItem replication_slots_item(int max_replication_slots, std::optional<int> in_use) {
  std::string detail = std::to_string(max_replication_slots);
  if (in_use) detail += ", " + std::to_string(*in_use) + " in use";
  if (max_replication_slots > 0 && (!in_use || *in_use < max_replication_slots)) {
    return make("max_replication_slots", CheckStatus::kPass, detail);
  }
  return make("max_replication_slots", CheckStatus::kFail,
              detail + (max_replication_slots > 0 ? ": none free" : ""),
              "ALTER SYSTEM SET max_replication_slots = 10; then restart the server (or drop an "
              "unused slot: SELECT pg_drop_replication_slot('name');)");
}

CheckItem wal_keep_item(const std::string& name, const std::string& value) {
  return make(name, CheckStatus::kPass,
              value + " (WAL kept for receivers without a slot; a slot keeps what it needs)");
}

CheckItem slot_item(const std::string& slot, const std::optional<SlotFacts>& facts,
                    const std::string& unknown_reason) {
  const std::string name = "slot \"" + slot + "\"";
  if (!facts) return make(name, CheckStatus::kNotChecked, "not checked: " + unknown_reason);
  if (!facts->exists) {
    return make(name, CheckStatus::kFail, "does not exist",
                "SELECT pg_create_physical_replication_slot('" + slot +
                    "', true); or add -C/--create-slot to walstream clone/receive");
  }
  std::string detail = "exists";
  if (facts->retained_bytes)
    detail += ", retains " + pretty_size(*facts->retained_bytes) + " of WAL";
  else
    detail += ", has reserved no WAL yet";
  return make(name, CheckStatus::kPass, detail);
}

CheckItem free_space_item(const std::string& directory, std::uint64_t free_bytes,
                          std::optional<std::uint64_t> database_bytes) {
  const std::string name = "free space in " + directory;
  if (!database_bytes) {
    return make(name, CheckStatus::kNotChecked,
                pretty_size(free_bytes) +
                    " free; the databases' size is not known (it needs a "
                    "regular connection to the server)");
  }
  const std::string detail =
      pretty_size(free_bytes) + " free for " + pretty_size(*database_bytes) + " of databases";
  if (free_bytes > *database_bytes) return make(name, CheckStatus::kPass, detail);
  return make(name, CheckStatus::kFail, detail, "free space there, or clone somewhere else (-D)");
}

}  // namespace walstream::walreceiver
