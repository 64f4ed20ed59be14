#include "walreceiver/server_facts.h"

#include "protocol/error.h"

namespace walstream::walreceiver {

void check_supported_version(protocol::ServerVersion version) {
  if (version.major() < kOldestSupportedMajor || version.major() > kNewestSupportedMajor) {
    throw Error(ErrorKind::kUsage,
                "server version " + std::to_string(version.number) + " is not supported",
                "walstream supports PostgreSQL " + std::to_string(kOldestSupportedMajor) + " to " +
                    std::to_string(kNewestSupportedMajor));
  }
}

asio::awaitable<protocol::SystemIdentity> identify_system(PgConnection& conn) {
  auto identity = protocol::parse_identify_system(
      co_await conn.exec(protocol::identify_system_command(), "IDENTIFY_SYSTEM"));
  if (identity.dbname) {
    throw Error(ErrorKind::kUsage, "the connection is database-specific",
                "remove replication=database from the connection string");
  }
  co_return identity;
}

asio::awaitable<std::uint64_t> read_wal_segment_size(PgConnection& conn) {
  std::string text = protocol::parse_show(
      co_await conn.exec(protocol::show_command("wal_segment_size"), "SHOW wal_segment_size"));
  auto size = protocol::parse_wal_segment_size(text);
  if (!size) throw ProtocolError("invalid wal_segment_size \"" + text + "\"");
  co_return *size;
}

asio::awaitable<std::optional<bool>> probe_slot_exists(PgConnection& conn,
                                                       const std::string& slot) {
  std::string sqlstate;
  try {
    (void)co_await conn.exec(protocol::probe_slot_command(slot), "CREATE_REPLICATION_SLOT");
  } catch (const Error& error) {
    if (error.sqlstate().empty()) throw;  // the connection failed, not the command
    sqlstate = error.sqlstate();
  }
  if (sqlstate == "42710") co_return true;  // duplicate_object
  if (!sqlstate.empty()) co_return std::nullopt;
  (void)co_await conn.exec(protocol::drop_slot_command(slot), "DROP_REPLICATION_SLOT");
  co_return false;
}

asio::awaitable<mode_t> read_data_directory_mode(PgConnection& conn) {
  std::string text = protocol::parse_show(co_await conn.exec(
      protocol::show_command("data_directory_mode"), "SHOW data_directory_mode"));
  std::size_t used = 0;
  unsigned long mode = 0;
  try {
    mode = std::stoul(text, &used, 8);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != text.size() || mode > 07777) {
    throw ProtocolError("invalid data_directory_mode \"" + text + "\"");
  }
  co_return static_cast<mode_t>(mode);
}

}  // namespace walstream::walreceiver
