// Replication command text per server version, and parsers for the result sets
// the commands return. Values are always read as text: several column types
// changed between majors (IDENTIFY_SYSTEM timeline is int4 up to 15, int8 from
// 16), and text parsing works for all of them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/lsn.h"
#include "protocol/result_set.h"
#include "protocol/timeline_history.h"

namespace walstream::protocol {

// server_version_num, e.g. 150018 for 15.18 and 110022 for 11.22.
struct ServerVersion {
  int number = 0;
  constexpr int major() const { return number / 10000; }
};
// As PostgreSQL prints it: 150018 -> "15.18", 180000 -> "18.0".
std::string format_server_version(ServerVersion version);

// Quotes a string option value for the replication grammar: '...' with
// embedded quotes doubled (the replication scanner treats backslash as data).
std::string quote_literal(std::string_view value);
// True for a valid replication slot name: 1..63 characters of [a-z0-9_].
bool is_valid_slot_name(std::string_view name);

struct SystemIdentity {
  std::uint64_t system_id = 0;
  TimelineId timeline = 0;
  Lsn xlogpos;
  std::optional<std::string> dbname;  // set on a database-specific connection
};
std::string identify_system_command();
// Throws walstream::Error (kProtocol) if the shape or any value is wrong.
SystemIdentity parse_identify_system(const ResultSet& result);

// SHOW name (servers 10+): the single text value.
std::string show_command(std::string_view parameter);
std::string parse_show(const ResultSet& result);

enum class SlotLifetime { kPermanent, kTemporary };
// CREATE_REPLICATION_SLOT "name" [TEMPORARY] PHYSICAL RESERVE_WAL; from 15 the
// option is written in the parenthesized form "(RESERVE_WAL)".
// Precondition: is_valid_slot_name(slot).
std::string create_physical_slot_command(ServerVersion version, std::string_view slot,
                                         SlotLifetime lifetime);
// CREATE_REPLICATION_SLOT "name" TEMPORARY PHYSICAL, reserving no WAL: costs
// nothing and ends with the connection. Before 15, which has no
// READ_REPLICATION_SLOT, its outcome tells whether a slot of that name exists
// ("already exists" when it does). Precondition: is_valid_slot_name(slot).
std::string probe_slot_command(std::string_view slot);
// DROP_REPLICATION_SLOT "name" WAIT
std::string drop_slot_command(std::string_view slot);

// TIMELINE_HISTORY n: the history file of timeline n (n >= 2).
std::string timeline_history_command(TimelineId timeline);
struct TimelineHistoryFile {
  std::string file_name;    // checked to be timeline_history_file_name(n)
  std::string content;      // as sent, to be stored verbatim
  TimelineHistory history;  // the content, parsed
};
// Throws walstream::Error (kProtocol) for any other file name, and for
// content that is not a history of timeline n
// (parse_timeline_history_content).
TimelineHistoryFile parse_timeline_history(const ResultSet& result, TimelineId timeline);

// READ_REPLICATION_SLOT "name" (servers 15+).
std::string read_replication_slot_command(std::string_view slot);
struct PhysicalSlotInfo {
  std::optional<Lsn> restart_lsn;  // nullopt when the slot has reserved no WAL yet
  std::optional<TimelineId> restart_timeline;
};
// nullopt when the slot does not exist (the server answers with a row of
// NULLs); throws (kUsage) for a logical slot.
std::optional<PhysicalSlotInfo> parse_read_replication_slot(const ResultSet& result);

// START_REPLICATION [SLOT "s"] PHYSICAL X/X TIMELINE n
std::string start_replication_command(std::optional<std::string_view> slot, Lsn start,
                                      TimelineId timeline);

// Result set that follows the end of a historic timeline's COPY stream:
// next_tli and next_tli_startpos. It does not say which timeline ended: pass
// the one that was streamed as `ended_timeline` to have it filled in and the
// next timeline checked to be after it (0 leaves both alone).
TimelineSwitch parse_timeline_switch(const ResultSet& result, TimelineId ended_timeline = 0);

enum class CheckpointMode { kFast, kSpread };

struct BaseBackupOptions {
  std::string label = "walstream base backup";
  bool progress = true;  // ask the server to estimate sizes
  CheckpointMode checkpoint = CheckpointMode::kFast;
  // Server-side throttling, kB/s (32..1048576); nullopt = unlimited.
  std::optional<std::uint32_t> max_rate_kbps;
  bool wait_for_wal_archive = false;  // false sends NOWAIT / WAIT 0
  bool manifest = true;               // only sent to servers 13+
  std::string manifest_checksums = "CRC32C";
  bool tablespace_map = false;
  bool verify_checksums = true;
  // Server-side compression (15+): "gzip", "lz4" or "zstd", and its detail
  // ("level=3,workers=2"); empty for none.
  std::string compression;
  std::string compression_detail;
};
// Old space-separated syntax up to 14, parenthesized syntax from 15.
std::string base_backup_command(ServerVersion version, const BaseBackupOptions& options);

// First and last result sets of BASE_BACKUP: (recptr text, tli int8).
struct BackupPosition {
  Lsn lsn;
  TimelineId timeline = 0;
};
BackupPosition parse_backup_position(const ResultSet& result);

// Second result set of BASE_BACKUP: one row per tablespace, the main data
// directory last with NULL oid and location.
struct TablespaceInfo {
  std::optional<std::uint32_t> oid;     // nullopt for the main data directory
  std::optional<std::string> location;  // server-side path; nullopt for main
  std::optional<std::int64_t> size_kb;  // nullopt without PROGRESS
};
std::vector<TablespaceInfo> parse_tablespace_header(const ResultSet& result);

}  // namespace walstream::protocol
