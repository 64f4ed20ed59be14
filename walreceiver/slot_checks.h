// Checks on a physical replication slot named by the user, shared by clone
// and receive: it must exist before anything else happens, and on servers
// that can tell (15+), its restart position says where its WAL begins.
#pragma once

#include <optional>
#include <string>

#include "protocol/stream_position.h"
#include "walreceiver/pg_connection.h"

namespace walstream::walreceiver {

// READ_REPLICATION_SLOT on 15+; before 15 a probe (a temporary slot of the
// same name). Returns the slot's restart position when the server reports
// one (15+, and the slot has reserved WAL). Throws walstream::Error (kUsage)
// "replication slot ... does not exist" with `hint` when it does not exist.
asio::awaitable<std::optional<protocol::StreamPosition>> require_physical_slot(
    PgConnection& conn, const std::string& slot, const std::string& hint);

}  // namespace walstream::walreceiver
