// What every command asks a server first: is its version supported, which
// system and timeline is it, how large are its WAL segments, which modes do
// its data directories use.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>

#include "protocol/replication_commands.h"
#include "walreceiver/pg_connection.h"

namespace walstream::walreceiver {

inline constexpr int kOldestSupportedMajor = 11;
inline constexpr int kNewestSupportedMajor = 18;

// Throws walstream::Error (kUsage) outside 11..18.
void check_supported_version(protocol::ServerVersion version);
// IDENTIFY_SYSTEM; refuses a database-specific (logical) connection.
asio::awaitable<protocol::SystemIdentity> identify_system(PgConnection& conn);
// SHOW wal_segment_size, validated.
asio::awaitable<std::uint64_t> read_wal_segment_size(PgConnection& conn);
// Whether physical slot `slot` exists, on a server before 15 (15+ has
// READ_REPLICATION_SLOT): creates a temporary slot of that name reserving no
// WAL. "Already exists" means yes; success means no, and the probe slot is
// dropped at once. nullopt when the server refused otherwise (no free slot,
// max_replication_slots = 0): START_REPLICATION will tell.
asio::awaitable<std::optional<bool>> probe_slot_exists(PgConnection& conn, const std::string& slot);
// SHOW data_directory_mode (0700, or 0750 with group access).
asio::awaitable<mode_t> read_data_directory_mode(PgConnection& conn);

}  // namespace walstream::walreceiver
