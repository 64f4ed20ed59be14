// Where walstream's log lines go and what they look like: stderr, one event
// per line, as text (a timestamp, the process, the connection identity, the
// level, the message) or as JSON objects for log collectors (--log-format),
// at --log-level (default warning; -v means info unless --log-level says
// otherwise). The connection identity is user@host:port, never a secret.
#pragma once

#include <string>

namespace walstream::tools {

// Text at level warning, before the command line is parsed.
void set_up_logging();

// --log-format=text|json and --log-level=error|warning|info|debug ("" keeps
// the default). Throws walstream::Error (kUsage) for other values.
void apply_log_settings(const std::string& format, const std::string& level);

// -v: info, unless --log-level chose a level.
void log_verbose();

// "r@db.example:5432": added to every line from now on.
void set_log_identity(const std::string& identity);

// The one line of a failing command: "walstream: error: CAUSE; hint: FIX" in
// text, {"level":"error","message":...,"hint":...} in JSON.
void print_error(const std::string& message, const std::string& hint);

}  // namespace walstream::tools
