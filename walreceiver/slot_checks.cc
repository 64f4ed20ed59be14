#include "walreceiver/slot_checks.h"

#include "protocol/error.h"
#include "protocol/replication_commands.h"
#include "walreceiver/server_facts.h"

namespace walstream::walreceiver {

asio::awaitable<std::optional<protocol::StreamPosition>> require_physical_slot(
    PgConnection& conn, const std::string& slot, const std::string& hint) {
  bool missing = false;
  std::optional<protocol::StreamPosition> restart;
  if (conn.server_version().major() >= 15) {
    const auto info = protocol::parse_read_replication_slot(
        co_await conn.exec(protocol::read_replication_slot_command(slot), "READ_REPLICATION_SLOT"));
    missing = !info;
    if (info && info->restart_lsn && info->restart_timeline) {
      restart = protocol::StreamPosition{*info->restart_timeline, *info->restart_lsn};
    }
  } else {
    // nullopt (the probe itself was refused) leaves it to START_REPLICATION.
    missing = co_await probe_slot_exists(conn, slot) == std::optional<bool>(false);
  }
  if (missing) {
    throw Error(ErrorKind::kUsage, "replication slot \"" + slot + "\" does not exist", hint);
  }
  co_return restart;
}

}  // namespace walstream::walreceiver
