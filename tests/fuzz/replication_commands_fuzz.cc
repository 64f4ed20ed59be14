// Fuzz target for the parsers of replication command results
// (protocol/replication_commands.h). The input makes one result set:
//   byte  which parser: IDENTIFY_SYSTEM, SHOW, TIMELINE_HISTORY,
//         READ_REPLICATION_SLOT, end-of-timeline, BASE_BACKUP position,
//         BASE_BACKUP tablespace header (b % 7)
//   byte  the timeline argument (TIMELINE_HISTORY's, the ended timeline)
//   byte  column count (b % 6), then each name: length byte and bytes
//   byte  row count (b % 4), then each row:
//         byte  its width: the column count, but one less or one more when
//               b % 16 is 14 or 15 (a malformed row)
//         each value: a tag byte, NULL when b % 4 == 0, else a length byte
//         and the bytes
// A parser must either throw walstream::Error (kProtocol; kUsage for a
// logical slot) with a printable one-line message, or return exactly what
// the values say, read here with independent oracles (decimal digits,
// parse_lsn of the column's text, the rows in order).
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/error.h"
#include "protocol/lsn.h"
#include "protocol/replication_commands.h"
#include "protocol/result_set.h"
#include "protocol/wal_file_names.h"
#include "tests/fuzz/fuzz_support.h"

namespace {

using walstream::ErrorKind;
using walstream::fuzz::check;
using walstream::fuzz::FuzzInput;
using namespace walstream::protocol;

ResultSet decode_result(FuzzInput& input) {
  ResultSet result;
  for (std::size_t n = input.pick(6); n > 0; --n) result.columns.push_back(input.text(32));
  for (std::size_t rows = input.pick(4); rows > 0; --rows) {
    std::size_t width = result.columns.size();
    const std::uint8_t shape = input.byte() % 16;
    if (shape == 14 && width > 0) --width;
    if (shape == 15) ++width;
    std::vector<std::optional<std::string>> row;
    for (std::size_t i = 0; i < width; ++i) {
      if (input.byte() % 4 == 0) {
        row.emplace_back(std::nullopt);
      } else {
        row.emplace_back(input.text());
      }
    }
    result.rows.push_back(std::move(row));
  }
  return result;
}

// `text` is the decimal spelling of `value`, perhaps with leading zeros.
void check_decimal(const std::optional<std::string>& text, std::uint64_t value) {
  check(text.has_value() && !text->empty());
  for (char c : *text) check(c >= '0' && c <= '9');
  const std::size_t first = text->find_first_not_of('0');
  check(std::to_string(value) == (first == std::string::npos ? "0" : text->substr(first)));
}

void check_lsn(const std::optional<std::string>& text, Lsn lsn) {
  check(text.has_value() && parse_lsn(*text) == lsn);
}

// Every row as wide as the header, and exactly `rows` of them.
void check_shape(const ResultSet& result, std::size_t rows, std::size_t min_columns) {
  check(result.rows.size() == rows && result.columns.size() >= min_columns);
  for (const auto& row : result.rows) check(row.size() == result.columns.size());
}

void run(std::size_t parser, TimelineId timeline, const ResultSet& result) {
  switch (parser) {
    case 0: {
      const SystemIdentity identity = parse_identify_system(result);
      check_shape(result, 1, 3);
      const auto& row = result.rows[0];
      check_decimal(row[0], identity.system_id);
      check(identity.timeline != 0);
      check_decimal(row[1], identity.timeline);
      check_lsn(row[2], identity.xlogpos);
      check(identity.dbname == (row.size() >= 4 ? row[3] : std::nullopt));
      break;
    }
    case 1: {
      const std::string value = parse_show(result);
      check_shape(result, 1, 1);
      check(result.rows[0][0] == value);
      break;
    }
    case 2: {
      const TimelineHistoryFile file = parse_timeline_history(result, timeline);
      check_shape(result, 1, 2);
      check(file.file_name == timeline_history_file_name(timeline));
      check(result.rows[0][0] == file.file_name && result.rows[0][1] == file.content);
      check(file.history.timeline == timeline && !file.history.switches.empty());
      check(file.history.switches.back().next_timeline == timeline);
      break;
    }
    case 3: {
      const auto slot = parse_read_replication_slot(result);
      check_shape(result, 1, 3);
      const auto& row = result.rows[0];
      check(slot.has_value() == row[0].has_value());
      if (!slot) break;
      check(*row[0] == "physical");
      check(slot->restart_lsn.has_value() == row[1].has_value());
      if (slot->restart_lsn) check_lsn(row[1], *slot->restart_lsn);
      check(slot->restart_timeline.has_value() == row[2].has_value());
      if (slot->restart_timeline) {
        check(*slot->restart_timeline != 0);
        check_decimal(row[2], *slot->restart_timeline);
      }
      break;
    }
    case 4: {
      const TimelineSwitch next = parse_timeline_switch(result, timeline);
      check_shape(result, 1, 2);
      check(next.ended_timeline == timeline);
      check(next.next_timeline != 0 && (timeline == 0 || next.next_timeline > timeline));
      check_decimal(result.rows[0][0], next.next_timeline);
      check_lsn(result.rows[0][1], next.next_timeline_start);
      break;
    }
    case 5: {
      const BackupPosition position = parse_backup_position(result);
      check_shape(result, 1, 2);
      check_lsn(result.rows[0][0], position.lsn);
      check(position.timeline != 0);
      check_decimal(result.rows[0][1], position.timeline);
      break;
    }
    case 6: {
      const std::vector<TablespaceInfo> tablespaces = parse_tablespace_header(result);
      check_shape(result, result.rows.size(), 3);
      check(!tablespaces.empty() && tablespaces.size() == result.rows.size());
      for (std::size_t i = 0; i < tablespaces.size(); ++i) {
        const TablespaceInfo& info = tablespaces[i];
        const auto& row = result.rows[i];
        const bool main = i + 1 == tablespaces.size();
        check(info.oid.has_value() == !main && info.location.has_value() == !main);
        if (!main) {
          check(*info.oid != 0);
          check_decimal(row[0], *info.oid);
          check(!info.location->empty() && row[1] == info.location);
        }
        check(info.size_kb.has_value() == row[2].has_value());
        if (info.size_kb) {
          check(*info.size_kb >= 0);
          check_decimal(row[2], static_cast<std::uint64_t>(*info.size_kb));
        }
      }
      break;
    }
    default:
      check(false);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzInput input(data, size);
  const std::size_t parser = input.pick(7);
  const TimelineId timeline = input.byte();
  const ResultSet result = decode_result(input);
  try {
    run(parser, timeline, result);
  } catch (const walstream::Error& e) {
    // Only a slot of the wrong type is the user's to fix.
    const bool logical_slot = parser == 3 && e.kind() == ErrorKind::kUsage;
    walstream::fuzz::check_error(e, logical_slot ? ErrorKind::kUsage : ErrorKind::kProtocol);
  }
  return 0;
}
