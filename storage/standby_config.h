// Turns a finished clone into a standby: recovery.conf (servers up to 11) or
// standby.signal plus settings appended to postgresql.auto.conf (12 on), with
// primary_conninfo built from the connection that made the clone.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <optional>
#include <string>

#include "protocol/conninfo.h"
#include "protocol/replication_commands.h"

namespace walstream::storage {

struct StandbyConfigInput {
  protocol::ServerVersion server_version;
  // What primary_conninfo is decided from (walreceiver gathers them from the clone connection).
  protocol::StandbyConninfoFacts conninfo;
  std::optional<std::string> slot;
  mode_t file_mode = 0600;
};

void write_standby_config(const std::filesystem::path& data_dir, const StandbyConfigInput& input);

}  // namespace walstream::storage
