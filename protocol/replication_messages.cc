#include "protocol/replication_messages.h"

#include <string>

#include "protocol/error.h"
#include "protocol/hex.h"

namespace walstream::protocol {
namespace {

// Seconds between 1970-01-01 and 2000-01-01 (10957 days).
constexpr std::int64_t kPgEpochOffsetSeconds = 946684800;

constexpr std::size_t kXLogDataHeaderSize = 1 + 8 + 8 + 8;
constexpr std::size_t kKeepaliveSize = 1 + 8 + 8 + 1;

// Renders a type byte for an error message; it may be any byte value.
std::string describe_type_byte(std::byte type) {
  const auto value = static_cast<std::uint8_t>(type);
  std::string out;
  if (value >= 0x20 && value < 0x7f) {
    out += '\'';
    out += static_cast<char>(value);
    out += "' ";
  }
  out += "(0x" + to_hex(value) + ")";
  return out;
}

PgTimestamp load_timestamp(const std::byte* p) {
  // Two's complement reinterpretation: timestamps before 2000 are negative.
  return static_cast<PgTimestamp>(load_be64(p));
}

void store_timestamp(std::byte* p, PgTimestamp t) { store_be64(p, static_cast<std::uint64_t>(t)); }

XLogData decode_xlog_data(ByteView message) {
  if (message.size() < kXLogDataHeaderSize) {
    throw ProtocolError("malformed XLogData message: " + std::to_string(message.size()) +
                        " bytes, need at least " + std::to_string(kXLogDataHeaderSize));
  }
  const std::byte* p = message.data();
  XLogData data;
  data.data_start = Lsn{load_be64(p + 1)};
  data.wal_end = Lsn{load_be64(p + 9)};
  data.send_time = load_timestamp(p + 17);
  data.payload = message.subspan(kXLogDataHeaderSize);
  return data;
}

PrimaryKeepalive decode_keepalive(ByteView message) {
  // Exact size: trailing bytes would mean we misunderstand the format.
  if (message.size() != kKeepaliveSize) {
    throw ProtocolError("malformed keepalive message: " + std::to_string(message.size()) +
                        " bytes, expected " + std::to_string(kKeepaliveSize));
  }
  const std::byte* p = message.data();
  PrimaryKeepalive keepalive;
  keepalive.wal_end = Lsn{load_be64(p + 1)};
  keepalive.send_time = load_timestamp(p + 9);
  keepalive.reply_requested = p[17] != std::byte{0};
  return keepalive;
}

}  // namespace

PgTimestamp to_pg_timestamp(std::chrono::system_clock::time_point t) {
  const auto unix_us =
      std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
  return static_cast<PgTimestamp>(unix_us) - kPgEpochOffsetSeconds * 1'000'000;
}

ServerCopyMessage decode_server_copy_message(ByteView message) {
  if (message.empty()) throw ProtocolError("empty replication message");
  switch (static_cast<char>(message[0])) {
    case 'w':
      return decode_xlog_data(message);
    case 'k':
      return decode_keepalive(message);
    default:
      throw ProtocolError("unknown replication message type " + describe_type_byte(message[0]));
  }
}

void encode_standby_status_update(const StandbyStatusUpdate& update,
                                  std::span<std::byte, kStandbyStatusUpdateSize> out) {
  std::byte* p = out.data();
  p[0] = static_cast<std::byte>('r');
  store_be64(p + 1, update.write.value);
  store_be64(p + 9, update.flush.value);
  store_be64(p + 17, update.apply.value);
  store_timestamp(p + 25, update.send_time);
  p[33] = update.reply_requested ? std::byte{1} : std::byte{0};
}

void encode_hot_standby_feedback(const HotStandbyFeedback& feedback,
                                 std::span<std::byte, kHotStandbyFeedbackSize> out) {
  std::byte* p = out.data();
  p[0] = static_cast<std::byte>('h');
  store_timestamp(p + 1, feedback.send_time);
  store_be32(p + 9, feedback.xmin);
  store_be32(p + 13, feedback.xmin_epoch);
  store_be32(p + 17, feedback.catalog_xmin);
  store_be32(p + 21, feedback.catalog_xmin_epoch);
}

}  // namespace walstream::protocol
