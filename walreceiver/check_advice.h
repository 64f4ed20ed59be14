// The judgement of `walstream check`, without I/O: from what the server said
// (a failed connection's message, SHOW values, a slot's position), one item
// per fact an operator must get right, each failure with the fix they type.
// The items come in the order a connection needs them, so that where one
// failure hides the next (no connection at all), the rest say "not checked".
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace walstream::walreceiver {

enum class CheckStatus { kPass, kFail, kNotChecked };

struct CheckItem {
  std::string name;
  CheckStatus status = CheckStatus::kNotChecked;
  std::string detail;  // what was found, or why it was not checked
  std::string fix;     // for kFail: what to type, and where
};

// The items a replication connection proves or disproves, in order.
inline constexpr std::string_view kReachable = "server reachable";
inline constexpr std::string_view kHba = "pg_hba.conf admits a replication connection from here";
inline constexpr std::string_view kAuthentication = "authentication";
inline constexpr std::string_view kReplicationRole = "role has REPLICATION";
inline constexpr std::string_view kWalSenders = "max_wal_senders";

// After a failed replication connection for `user`: the item that failed,
// the ones before it passed, the ones after it not checked. `message` is
// libpq's, folded to one line, without secrets.
std::vector<CheckItem> connection_failure_items(const std::string& message,
                                                const std::string& user);

// After a successful one: the five connection items passed.
std::vector<CheckItem> connection_success_items(const std::string& where, const std::string& user);

// PostgreSQL 11 to 18 (server_version_num), printed as PostgreSQL prints it.
CheckItem version_item(int version_num, const std::string& server_version);
CheckItem wal_level_item(const std::string& wal_level);
// max_wal_senders and, when a regular connection could count them, the
// walsenders in use (this check's own included).
CheckItem wal_senders_item(int max_wal_senders, std::optional<int> in_use);
CheckItem replication_slots_item(int max_replication_slots, std::optional<int> in_use);
// wal_keep_size (13+, "512MB") or wal_keep_segments (before 13): how much
// WAL the server keeps for a receiver without a slot. Informational.
CheckItem wal_keep_item(const std::string& name, const std::string& value);
// The slot named with -S: missing, or how much WAL it retains.
struct SlotFacts {
  bool exists = false;
  std::optional<std::uint64_t> retained_bytes;  // current position - restart_lsn
};
CheckItem slot_item(const std::string& slot, const std::optional<SlotFacts>& facts,
                    const std::string& unknown_reason);
// -D: free space against the size of the databases (nullopt: unknown).
CheckItem free_space_item(const std::string& directory, std::uint64_t free_bytes,
                          std::optional<std::uint64_t> database_bytes);

}  // namespace walstream::walreceiver
