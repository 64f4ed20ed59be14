#include "protocol/replication_commands.h"

#include <charconv>
#include <limits>
#include <system_error>
#include <utility>

#include "protocol/error.h"
#include "protocol/quote_untrusted.h"
#include "protocol/wal_file_names.h"

namespace walstream::protocol {
namespace {

// Server versions that changed the commands we send.
constexpr int kMajorVerifyChecksums = 11;  // NOVERIFY_CHECKSUMS
constexpr int kMajorManifests = 13;        // MANIFEST, MANIFEST_CHECKSUMS
constexpr int kMajorNewOptionSyntax = 15;  // parenthesized, comma-separated options

constexpr std::uint32_t kMinMaxRateKbps = 32;
constexpr std::uint32_t kMaxMaxRateKbps = 1048576;

// Strict decimal: digits only (no sign, which from_chars would take for
// signed types: "-0"), the whole text consumed, and the value in range for T.
template <typename T>
std::optional<T> parse_decimal(std::string_view text) {
  if (text.empty() || text.front() < '0' || text.front() > '9') return std::nullopt;
  T value{};
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, value, 10);
  if (ec != std::errc{} || ptr != end) return std::nullopt;
  return value;
}

std::string quoted(std::string_view text) { return "\"" + std::string(text) + "\""; }

void require_slot_name(std::string_view slot) {
  // Slot names are interpolated into commands in double quotes; only the
  // server's own character set is safe there.
  if (!is_valid_slot_name(slot)) {
    throw Error(ErrorKind::kUsage, "invalid replication slot name \"" + std::string(slot) + "\"",
                "slot names are 1 to 63 characters of lower-case letters, digits and underscores");
  }
}

// Checks the column count and that every row is complete before any value is
// read; `rows` is the exact row count required, if any.
void require_shape(const ResultSet& result, std::string_view what, std::optional<std::size_t> rows,
                   std::size_t min_columns) {
  if (result.columns.size() < min_columns) {
    throw ProtocolError("unexpected " + std::string(what) +
                        " result: " + std::to_string(result.columns.size()) +
                        " columns, expected at least " + std::to_string(min_columns));
  }
  if (rows && result.rows.size() != *rows) {
    throw ProtocolError("unexpected " + std::string(what) +
                        " result: " + std::to_string(result.rows.size()) + " rows, expected " +
                        std::to_string(*rows));
  }
  for (const auto& row : result.rows) {
    if (row.size() != result.columns.size()) {
      throw ProtocolError("unexpected " + std::string(what) + " result: a row has " +
                          std::to_string(row.size()) + " values for " +
                          std::to_string(result.columns.size()) + " columns");
    }
  }
}

// Column names and values come from the server: messages quote them with
// quote_untrusted (escaped, one line, capped).
const std::string& require_value(const std::optional<std::string>& value, std::string_view what,
                                 std::string_view column) {
  if (!value) {
    throw ProtocolError("unexpected NULL in column " + quote_untrusted(column) + " of " +
                        std::string(what) + " result");
  }
  return *value;
}

[[noreturn]] void throw_malformed(std::string_view what, std::string_view column,
                                  std::string_view value) {
  throw ProtocolError("malformed value " + quote_untrusted(value) + " in column " +
                      quote_untrusted(column) + " of " + std::string(what) + " result");
}

Lsn lsn_value(const std::string& text, std::string_view what, std::string_view column) {
  const auto lsn = parse_lsn(text);
  if (!lsn) throw_malformed(what, column, text);
  return *lsn;
}

// Timelines are int4 or int8 on the wire depending on the server; valid ones
// are 1..UINT32_MAX.
TimelineId timeline_value(const std::string& text, std::string_view what, std::string_view column) {
  const auto tli = parse_decimal<std::uint32_t>(text);
  if (!tli || *tli == 0) throw_malformed(what, column, text);
  return *tli;
}

std::string column_name(const ResultSet& result, std::size_t index) {
  return index < result.columns.size() ? result.columns[index] : std::to_string(index + 1);
}

// Column `index` of a one-row result, which must be a non-NULL, well-formed
// LSN or timeline; the errors name the column and `what`.
Lsn required_lsn(const ResultSet& result, std::size_t index, std::string_view what) {
  const std::string column = column_name(result, index);
  return lsn_value(require_value(result.rows[0][index], what, column), what, column);
}

TimelineId required_timeline(const ResultSet& result, std::size_t index, std::string_view what) {
  const std::string column = column_name(result, index);
  return timeline_value(require_value(result.rows[0][index], what, column), what, column);
}

}  // namespace

std::string quote_literal(std::string_view value) {
  std::string out;
  out.reserve(value.size() + 2);
  out.push_back('\'');
  for (char c : value) {
    if (c == '\'') out.push_back('\'');
    out.push_back(c);
  }
  out.push_back('\'');
  return out;
}

bool is_valid_slot_name(std::string_view name) {
  if (name.empty() || name.size() > 63) return false;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
    if (!ok) return false;
  }
  return true;
}

std::string identify_system_command() { return "IDENTIFY_SYSTEM"; }

SystemIdentity parse_identify_system(const ResultSet& result) {
  constexpr std::string_view kWhat = "IDENTIFY_SYSTEM";
  require_shape(result, kWhat, 1, 3);
  const auto& row = result.rows[0];

  SystemIdentity identity;
  const std::string& system_id = require_value(row[0], kWhat, column_name(result, 0));
  const auto parsed_id = parse_decimal<std::uint64_t>(system_id);
  if (!parsed_id) throw_malformed(kWhat, column_name(result, 0), system_id);
  identity.system_id = *parsed_id;
  identity.timeline = required_timeline(result, 1, kWhat);
  identity.xlogpos = required_lsn(result, 2, kWhat);
  if (row.size() >= 4) identity.dbname = row[3];
  return identity;
}

std::string show_command(std::string_view parameter) {
  // The name is sent unquoted; it is always one of our own constants.
  bool ok = !parameter.empty();
  for (char c : parameter) {
    ok = ok && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                c == '_' || c == '.');
  }
  if (!ok) {
    throw Error(ErrorKind::kInternal,
                "invalid parameter name for SHOW: \"" + std::string(parameter) + "\"");
  }
  return "SHOW " + std::string(parameter);
}

std::string parse_show(const ResultSet& result) {
  constexpr std::string_view kWhat = "SHOW";
  require_shape(result, kWhat, 1, 1);
  return require_value(result.rows[0][0], kWhat, column_name(result, 0));
}

std::string create_physical_slot_command(ServerVersion version, std::string_view slot,
                                         SlotLifetime lifetime) {
  require_slot_name(slot);
  std::string command = "CREATE_REPLICATION_SLOT " + quoted(slot);
  if (lifetime == SlotLifetime::kTemporary) command += " TEMPORARY";
  command += " PHYSICAL";
  // Reserve WAL at creation so the slot holds back WAL from the very start.
  command += version.major() >= kMajorNewOptionSyntax ? " (RESERVE_WAL)" : " RESERVE_WAL";
  return command;
}

std::string probe_slot_command(std::string_view slot) {
  require_slot_name(slot);
  return "CREATE_REPLICATION_SLOT " + quoted(slot) + " TEMPORARY PHYSICAL";
}

std::string drop_slot_command(std::string_view slot) {
  require_slot_name(slot);
  return "DROP_REPLICATION_SLOT " + quoted(slot) + " WAIT";
}

std::string timeline_history_command(TimelineId timeline) {
  return "TIMELINE_HISTORY " + std::to_string(timeline);
}

TimelineHistoryFile parse_timeline_history(const ResultSet& result, TimelineId timeline) {
  constexpr std::string_view kWhat = "TIMELINE_HISTORY";
  require_shape(result, kWhat, 1, 2);
  const auto& row = result.rows[0];
  TimelineHistoryFile file;
  file.file_name = require_value(row[0], kWhat, column_name(result, 0));
  file.content = require_value(row[1], kWhat, column_name(result, 1));
  // The name becomes a file in the archive: accept only the expected one.
  if (file.file_name != timeline_history_file_name(timeline)) {
    throw ProtocolError("TIMELINE_HISTORY " + std::to_string(timeline) +
                        " returned an unexpected file name " + quote_untrusted(file.file_name));
  }
  // It is stored as the archive's history of that timeline and followed by
  // whoever reads the archive: refuse anything that is not one.
  try {
    file.history = parse_timeline_history_content(file.content, timeline);
  } catch (const Error& e) {
    throw Error(ErrorKind::kProtocol,
                "TIMELINE_HISTORY " + std::to_string(timeline) + ": " + e.what(),
                "check the server's pg_wal/" + file.file_name);
  }
  return file;
}

std::string read_replication_slot_command(std::string_view slot) {
  require_slot_name(slot);
  return "READ_REPLICATION_SLOT " + quoted(slot);
}

std::optional<PhysicalSlotInfo> parse_read_replication_slot(const ResultSet& result) {
  constexpr std::string_view kWhat = "READ_REPLICATION_SLOT";
  require_shape(result, kWhat, 1, 3);
  const auto& row = result.rows[0];
  if (!row[0]) return std::nullopt;
  if (*row[0] != "physical") {
    throw Error(ErrorKind::kUsage,
                "replication slot is of type " + quote_untrusted(*row[0]) + ", not physical",
                "use a physical replication slot");
  }
  PhysicalSlotInfo info;
  if (row[1]) info.restart_lsn = lsn_value(*row[1], kWhat, column_name(result, 1));
  if (row[2]) info.restart_timeline = timeline_value(*row[2], kWhat, column_name(result, 2));
  return info;
}

std::string start_replication_command(std::optional<std::string_view> slot, Lsn start,
                                      TimelineId timeline) {
  std::string command = "START_REPLICATION";
  if (slot) {
    require_slot_name(*slot);
    command += " SLOT " + quoted(*slot);
  }
  command += " PHYSICAL " + to_string(start) + " TIMELINE " + std::to_string(timeline);
  return command;
}

TimelineSwitch parse_timeline_switch(const ResultSet& result, TimelineId ended_timeline) {
  constexpr std::string_view kWhat = "end-of-timeline";
  require_shape(result, kWhat, 1, 2);
  TimelineSwitch next;
  next.ended_timeline = ended_timeline;
  next.next_timeline = required_timeline(result, 0, kWhat);
  next.next_timeline_start = required_lsn(result, 1, kWhat);
  if (ended_timeline != 0 && next.next_timeline <= ended_timeline) {
    throw ProtocolError("server reported next timeline " + std::to_string(next.next_timeline) +
                        ", not after timeline " + std::to_string(ended_timeline));
  }
  return next;
}

std::string base_backup_command(ServerVersion version, const BaseBackupOptions& options) {
  if (options.max_rate_kbps &&
      (*options.max_rate_kbps < kMinMaxRateKbps || *options.max_rate_kbps > kMaxMaxRateKbps)) {
    throw Error(ErrorKind::kUsage,
                "transfer rate " + std::to_string(*options.max_rate_kbps) + " kB/s is out of range",
                "use a rate from " + std::to_string(kMinMaxRateKbps) + " to " +
                    std::to_string(kMaxMaxRateKbps) + " kB/s");
  }
  const int major = version.major();
  const bool new_syntax = major >= kMajorNewOptionSyntax;
  if (!options.compression.empty() && !new_syntax) {
    throw Error(ErrorKind::kUsage,
                "server-side compression needs PostgreSQL 15 or later (the server is " +
                    std::to_string(major) + ")",
                "leave out --compress=server-...");
  }
  const bool fast = options.checkpoint == CheckpointMode::kFast;
  const bool send_manifest = major >= kMajorManifests && options.manifest;

  // Each entry is one option in the syntax of this server version; the old
  // syntax joins them with spaces, the new one with commas inside parentheses.
  std::vector<std::string> opts;
  opts.push_back("LABEL " + quote_literal(options.label));
  if (options.progress) opts.emplace_back("PROGRESS");
  if (new_syntax) {
    opts.emplace_back(fast ? "CHECKPOINT 'fast'" : "CHECKPOINT 'spread'");
  } else if (fast) {
    opts.emplace_back("FAST");
  }
  if (!options.wait_for_wal_archive) opts.emplace_back(new_syntax ? "WAIT 0" : "NOWAIT");
  if (options.max_rate_kbps) opts.push_back("MAX_RATE " + std::to_string(*options.max_rate_kbps));
  if (options.tablespace_map) opts.emplace_back("TABLESPACE_MAP");
  // Servers before 11 never verify checksums and do not know the option.
  if (!options.verify_checksums && major >= kMajorVerifyChecksums) {
    opts.emplace_back(new_syntax ? "VERIFY_CHECKSUMS 0" : "NOVERIFY_CHECKSUMS");
  }
  if (send_manifest) {
    opts.emplace_back("MANIFEST 'yes'");
    if (!options.manifest_checksums.empty()) {
      opts.push_back("MANIFEST_CHECKSUMS " + quote_literal(options.manifest_checksums));
    }
  }

  if (!options.compression.empty()) {
    opts.push_back("COMPRESSION " + quote_literal(options.compression));
    if (!options.compression_detail.empty()) {
      opts.push_back("COMPRESSION_DETAIL " + quote_literal(options.compression_detail));
    }
  }

  std::string command = new_syntax ? "BASE_BACKUP (" : "BASE_BACKUP ";
  const char* separator = new_syntax ? ", " : " ";
  for (std::size_t i = 0; i < opts.size(); ++i) {
    if (i > 0) command += separator;
    command += opts[i];
  }
  if (new_syntax) command += ')';
  return command;
}

BackupPosition parse_backup_position(const ResultSet& result) {
  constexpr std::string_view kWhat = "BASE_BACKUP position";
  require_shape(result, kWhat, 1, 2);
  BackupPosition position;
  position.lsn = required_lsn(result, 0, kWhat);
  position.timeline = required_timeline(result, 1, kWhat);
  return position;
}

std::vector<TablespaceInfo> parse_tablespace_header(const ResultSet& result) {
  constexpr std::string_view kWhat = "BASE_BACKUP tablespace header";
  require_shape(result, kWhat, std::nullopt, 3);
  if (result.rows.empty()) {
    throw ProtocolError("unexpected " + std::string(kWhat) + " result: no rows");
  }

  std::vector<TablespaceInfo> tablespaces;
  tablespaces.reserve(result.rows.size());
  for (std::size_t i = 0; i < result.rows.size(); ++i) {
    const auto& row = result.rows[i];
    TablespaceInfo info;
    // The main data directory has both oid and location NULL; a row with only
    // one of them NULL cannot be mapped to a directory.
    if (row[0].has_value() != row[1].has_value()) {
      throw ProtocolError("malformed " + std::string(kWhat) + " row " + std::to_string(i + 1) +
                          ": oid and location must both be NULL or both be set");
    }
    if (row[0]) {
      const auto oid = parse_decimal<std::uint32_t>(*row[0]);
      if (!oid || *oid == 0) throw_malformed(kWhat, column_name(result, 0), *row[0]);
      if (row[1]->empty()) throw_malformed(kWhat, column_name(result, 1), *row[1]);
      info.oid = *oid;
      info.location = *row[1];
    }
    if (row[2]) {
      const auto size = parse_decimal<std::int64_t>(*row[2]);
      if (!size || *size < 0) throw_malformed(kWhat, column_name(result, 2), *row[2]);
      info.size_kb = *size;
    }
    tablespaces.push_back(std::move(info));
  }

  // Archives arrive in row order and the main directory is always sent last;
  // anything else would make us extract archives into the wrong places.
  for (std::size_t i = 0; i + 1 < tablespaces.size(); ++i) {
    if (!tablespaces[i].oid) {
      throw ProtocolError("malformed " + std::string(kWhat) +
                          " result: the main data directory is not the last row");
    }
  }
  if (tablespaces.back().oid) {
    throw ProtocolError("malformed " + std::string(kWhat) +
                        " result: no row for the main data directory");
  }
  return tablespaces;
}

std::string format_server_version(ServerVersion version) {
  return std::to_string(version.major()) + "." + std::to_string(version.number % 10000);
}

}  // namespace walstream::protocol
