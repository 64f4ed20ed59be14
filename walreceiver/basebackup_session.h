// Runs BASE_BACKUP on one replication connection and feeds what it returns
// into a BackupStreamHandler (the extractor). Handles both stream formats:
// one multiplexed COPY from PostgreSQL 15 on, one tar COPY per tablespace
// (plus one for the manifest on 13 and 14) before that.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "protocol/basebackup_stream.h"
#include "protocol/replication_commands.h"
#include "walreceiver/pg_connection.h"

namespace walstream::walreceiver {

struct BaseBackupCallbacks {
  // The backup has started: its start position and tablespaces are known (the
  // moment to start streaming WAL).
  std::function<void(const protocol::BackupPosition&, const std::vector<protocol::TablespaceInfo>&)>
      started;
  // Bytes of backup data received so far.
  std::function<void(std::uint64_t)> progress;
};

struct BaseBackupResult {
  protocol::BackupPosition start;
  protocol::BackupPosition end;
  std::vector<protocol::TablespaceInfo> tablespaces;
  std::uint64_t bytes = 0;
};

class BaseBackupSession {
 public:
  BaseBackupSession(PgConnection& connection, protocol::BaseBackupOptions options,
                    protocol::BackupStreamHandler& handler, BaseBackupCallbacks callbacks);

  asio::awaitable<BaseBackupResult> run();

 private:
  // The next result that is not the CommandComplete of something finished.
  asio::awaitable<PgResult> next_significant_result();
  asio::awaitable<protocol::ResultSet> expect_tuples(const char* what);
  asio::awaitable<void> expect_copy_out(const char* what);
  asio::awaitable<void> receive_multiplexed_stream(BaseBackupResult& result);
  asio::awaitable<void> receive_tar_streams(BaseBackupResult& result);

  PgConnection& connection_;
  protocol::BaseBackupOptions options_;
  protocol::ServerVersion version_;
  protocol::BackupStreamHandler& handler_;
  BaseBackupCallbacks callbacks_;
};

}  // namespace walstream::walreceiver
