// CopyBoth sub-messages of START_REPLICATION (all integers big-endian,
// timestamps in microseconds since 2000-01-01 UTC).
//
//   server -> client  'w' XLogData          25-byte header + WAL payload
//                     'k' PrimaryKeepalive  18 bytes
//   client -> server  'r' StandbyStatusUpdate 34 bytes
//                     'h' HotStandbyFeedback  25 bytes
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <variant>

#include "protocol/bytes.h"
#include "protocol/lsn.h"

namespace walstream::protocol {

// Microseconds since the PostgreSQL epoch (2000-01-01 00:00:00 UTC).
using PgTimestamp = std::int64_t;
PgTimestamp to_pg_timestamp(std::chrono::system_clock::time_point t);

struct XLogData {
  Lsn data_start;  // LSN of payload[0]
  Lsn wal_end;     // server's end of WAL when sent
  PgTimestamp send_time;
  ByteView payload;  // points into the decoded message; valid as long as it is
};

struct PrimaryKeepalive {
  Lsn wal_end;
  PgTimestamp send_time;
  bool reply_requested;
};

using ServerCopyMessage = std::variant<XLogData, PrimaryKeepalive>;

// Decodes one CopyData payload of a START_REPLICATION stream. Throws
// walstream::Error (kProtocol) on an unknown type byte, a truncated message or
// trailing bytes in a keepalive.
ServerCopyMessage decode_server_copy_message(ByteView message);

struct StandbyStatusUpdate {
  Lsn write;
  Lsn flush;
  Lsn apply;
  PgTimestamp send_time = 0;
  bool reply_requested = false;
};
inline constexpr std::size_t kStandbyStatusUpdateSize = 34;
void encode_standby_status_update(const StandbyStatusUpdate& update,
                                  std::span<std::byte, kStandbyStatusUpdateSize> out);

struct HotStandbyFeedback {
  PgTimestamp send_time = 0;
  std::uint32_t xmin = 0;
  std::uint32_t xmin_epoch = 0;
  std::uint32_t catalog_xmin = 0;
  std::uint32_t catalog_xmin_epoch = 0;
};
// 'h' + int64 send time + four int32 fields (walreceiver sends exactly these).
inline constexpr std::size_t kHotStandbyFeedbackSize = 25;
void encode_hot_standby_feedback(const HotStandbyFeedback& feedback,
                                 std::span<std::byte, kHotStandbyFeedbackSize> out);

}  // namespace walstream::protocol
