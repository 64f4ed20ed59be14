#include "walreceiver/basebackup_session.h"

#include <spdlog/spdlog.h>

#include "protocol/error.h"

namespace walstream::walreceiver {

BaseBackupSession::BaseBackupSession(PgConnection& connection, protocol::BaseBackupOptions options,
                                     protocol::BackupStreamHandler& handler,
                                     BaseBackupCallbacks callbacks)
    : connection_(connection),
      options_(std::move(options)),
      version_(connection.server_version()),
      handler_(handler),
      callbacks_(std::move(callbacks)) {}

asio::awaitable<PgResult> BaseBackupSession::next_significant_result() {
  for (;;) {
    PgResult result = co_await connection_.next_result();
    if (!result) co_return result;
    if (PQresultStatus(result.get()) != PGRES_COMMAND_OK) co_return result;
  }
}

asio::awaitable<protocol::ResultSet> BaseBackupSession::expect_tuples(const char* what) {
  PgResult result = co_await next_significant_result();
  if (!result) throw ProtocolError(std::string("BASE_BACKUP: the server sent no ") + what);
  protocol::ResultSet set = connection_.to_result_set(result, "BASE_BACKUP");
  if (PQresultStatus(result.get()) != PGRES_TUPLES_OK) {
    throw ProtocolError(std::string("BASE_BACKUP: expected the ") + what + ", got " +
                        PQresStatus(PQresultStatus(result.get())));
  }
  co_return set;
}

asio::awaitable<void> BaseBackupSession::expect_copy_out(const char* what) {
  PgResult result = co_await next_significant_result();
  if (!result) throw ProtocolError(std::string("BASE_BACKUP: the server sent no ") + what);
  if (PQresultStatus(result.get()) != PGRES_COPY_OUT) {
    connection_.to_result_set(result, "BASE_BACKUP");  // throws the server's error
    throw ProtocolError(std::string("BASE_BACKUP: expected the ") + what + ", got " +
                        PQresStatus(PQresultStatus(result.get())));
  }
}

asio::awaitable<BaseBackupResult> BaseBackupSession::run() {
  BaseBackupResult result;
  spdlog::info("initiating base backup, waiting for checkpoint to complete");
  co_await connection_.send(protocol::base_backup_command(version_, options_));

  result.start = protocol::parse_backup_position(co_await expect_tuples("backup start position"));
  spdlog::info("checkpoint completed; write-ahead log start point: {} on timeline {}",
               protocol::to_string(result.start.lsn), result.start.timeline);
  result.tablespaces = protocol::parse_tablespace_header(co_await expect_tuples("tablespace list"));
  if (callbacks_.started) callbacks_.started(result.start, result.tablespaces);

  if (version_.major() >= 15) {
    co_await receive_multiplexed_stream(result);
  } else {
    co_await receive_tar_streams(result);
  }

  result.end = protocol::parse_backup_position(co_await expect_tuples("backup end position"));
  while (PgResult rest = co_await connection_.next_result()) {
    connection_.to_result_set(rest, "BASE_BACKUP");  // a late error (e.g. checksum failure)
  }
  spdlog::info("write-ahead log end point: {}", protocol::to_string(result.end.lsn));
  co_return result;
}

asio::awaitable<void> BaseBackupSession::receive_multiplexed_stream(BaseBackupResult& result) {
  co_await expect_copy_out("backup archive stream");
  protocol::BackupStreamDecoder decoder(handler_);
  while (auto buffer = co_await connection_.read_copy()) {
    decoder.feed(buffer->bytes());
    result.bytes += buffer->bytes().size();
    if (callbacks_.progress) callbacks_.progress(result.bytes);
  }
  decoder.finish();
}

asio::awaitable<void> BaseBackupSession::receive_tar_streams(BaseBackupResult& result) {
  // Up to 14: one tar stream per tablespace row, in the order of the rows
  // (the main data directory last), then the manifest on 13 and 14.
  for (const auto& tablespace : result.tablespaces) {
    co_await expect_copy_out("tablespace archive");
    std::string name = tablespace.oid ? std::to_string(*tablespace.oid) + ".tar" : "base.tar";
    handler_.archive_begin(name, tablespace.location.value_or(""));
    while (auto buffer = co_await connection_.read_copy()) {
      handler_.archive_data(buffer->bytes());
      result.bytes += buffer->bytes().size();
      if (callbacks_.progress) callbacks_.progress(result.bytes);
    }
    handler_.archive_end();
  }
  if (options_.manifest && version_.major() >= 13) {
    co_await expect_copy_out("backup manifest");
    handler_.manifest_begin();
    while (auto buffer = co_await connection_.read_copy()) handler_.manifest_data(buffer->bytes());
    handler_.manifest_end();
  }
}

}  // namespace walstream::walreceiver
