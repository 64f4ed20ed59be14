// The connection flags every subcommand shares, named as in all PostgreSQL
// client tools: -d, -h, -p, -U, -w, -W. The password prompt goes to the
// terminal (tools/terminal.h).
#pragma once

#include <CLI/CLI.hpp>

#include "walreceiver/connection_options.h"

namespace walstream::tools {

void add_connection_flags(CLI::App& command, walreceiver::ConnectionOptions& options);

}  // namespace walstream::tools
