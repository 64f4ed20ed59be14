// `walstream check`: connects as clone and receive would, asks the server
// what a replication client needs (SHOW, IDENTIFY_SYSTEM, the slot), and,
// when pg_hba.conf also admits a regular connection, counts what is in use
// and how large the databases are. check_advice.h judges the answers.
//
// Blocking libpq, unlike the streaming commands: a preflight is a handful of
// round trips, with nothing to overlap.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "walreceiver/check_advice.h"
#include "walreceiver/connection_options.h"

namespace walstream::walreceiver {

struct CheckOptions {
  ConnectionOptions connection;
  std::optional<std::string> slot;                 // -S
  std::optional<std::filesystem::path> directory;  // -D
};

// Every item, in order; throws walstream::Error only for a usage error (a
// bad -d).
std::vector<CheckItem> run_check(const CheckOptions& options);

}  // namespace walstream::walreceiver
