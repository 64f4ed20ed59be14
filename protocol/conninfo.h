// Standby configuration text: primary_conninfo built from the options of the
// connection that made the clone, escaped twice (once as a libpq conninfo
// value, once as a postgresql.conf string), and the recovery settings per
// server version.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace walstream::protocol {

struct ConninfoOption {
  std::string keyword;
  std::string value;
};

// key=value pairs separated by single spaces; a value made only of
// [A-Za-z0-9_.] (and non-empty) is written bare, anything else is wrapped in
// '...' with ' and \ backslash-escaped (libpq's conninfo grammar).
std::string format_conninfo(const std::vector<ConninfoOption>& options);

// A postgresql.conf string literal: '...' with ' and \ doubled.
std::string quote_config_value(std::string_view value);

// Keeps only options worth writing into primary_conninfo: drops replication,
// dbname, fallback_application_name and empty values, and any keyword the
// standby's libpq (of server major `server_major`) would not understand.
std::vector<ConninfoOption> standby_conninfo_options(const std::vector<ConninfoOption>& effective,
                                                     int server_major);

struct StandbySettings {
  std::string primary_conninfo;  // already formatted by format_conninfo
  std::optional<std::string> primary_slot_name;
};

// Text appended to postgresql.auto.conf (12+) or written as recovery.conf
// (11 and older, with standby_mode = 'on').
std::string standby_config_text(int server_major, const StandbySettings& settings);

}  // namespace walstream::protocol
