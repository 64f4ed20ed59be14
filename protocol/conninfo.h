// Standby configuration text: primary_conninfo built from the options of the
// connection that made the clone, escaped twice (once as a libpq conninfo
// value, once as a postgresql.conf string), and the recovery settings per
// server version. Which options go in is decided here from plain facts about
// the connection (what libpq reports, what the user set), gathered elsewhere.
#pragma once

#include <optional>
#include <set>
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

// A postgresql.conf string literal: '...' with ' and \ doubled and a newline
// written as \n (the file's strings cannot hold a raw one).
std::string quote_config_value(std::string_view value);

// One option of the clone's connection as libpq reports it (PQconninfo).
struct LibpqOption {
  std::string keyword;
  std::string value;             // empty: not set
  std::string compiled_default;  // libpq's built-in default; empty: none
  std::string envvar;            // the PG* variable libpq reads it from; empty: none
};

// What primary_conninfo is decided from.
struct StandbyConninfoFacts {
  std::vector<LibpqOption> options;  // PQconninfo(), in libpq's order
  // Keywords the clone passed to libpq itself: -d's options, -h, -p, -U, a
  // typed password (and walstream's own replication keywords, which are
  // never written anyway).
  std::set<std::string> given_keywords;
  // Environment variables present when the clone connected (libpq reads a
  // present one even when it equals the built-in default).
  std::set<std::string> environment;
  // dbname in -d's connection string, and dbname from libpq's defaults
  // (PGDATABASE, or the service PGSERVICE names): PostgreSQL 17's sources.
  std::optional<std::string> conninfo_dbname;
  std::optional<std::string> default_dbname;
};

// The options to write into primary_conninfo, following pg_basebackup -R
// (every non-empty option except replication, dbname and
// fallback_application_name) with two exceptions, so that the standby connects
// the way the clone did and still understands what it is given:
// - an option whose value is libpq's compiled default and that nobody set
//   (command line, PG* variable) is left out; one the user set is kept even
//   when it equals the default, or the standby would take it from its own
//   environment instead;
// - a keyword the standby's libpq (of server major `server_major`) does not
//   know is left out: its walreceiver would reject the whole string.
// Like pg_basebackup 17 (for every server major), a dbname the user gave (-d
// first, then libpq's defaults) is appended; walreceiver ignores it, the slot
// sync worker (17+) uses it.
std::vector<ConninfoOption> standby_conninfo_options(const StandbyConninfoFacts& facts,
                                                     int server_major);

struct StandbySettings {
  std::string primary_conninfo;  // already formatted by format_conninfo
  std::optional<std::string> primary_slot_name;
};

// Text appended to postgresql.auto.conf (12+) or written as recovery.conf
// (11 and older, with standby_mode = 'on').
std::string standby_config_text(int server_major, const StandbySettings& settings);

}  // namespace walstream::protocol
