// The connection flags every subcommand shares, named as in all PostgreSQL
// client tools: -d, -h, -p, -U, -w, -W. The password prompt goes to the
// terminal (tools/terminal.h). A password given in -d is hidden from the
// command line that every user of the machine can read (ps, /proc).
#pragma once

#include <CLI/CLI.hpp>

#include "walreceiver/connection_options.h"

namespace walstream::tools {

void add_connection_flags(CLI::App& command, walreceiver::ConnectionOptions& options);

// After `app` parsed argv: overwrites, in argv itself, every password and
// sslpassword of the parsed subcommand's -d values with '*' (argv's memory
// is what /proc/PID/cmdline shows). The parsed values keep them.
void hide_connection_secrets(const CLI::App& app, int argc, char** argv);

}  // namespace walstream::tools
