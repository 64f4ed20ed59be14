#include "protocol/replication_messages.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include "protocol/error.h"

using namespace walstream::protocol;
using walstream::ByteView;

namespace {

using Bytes = std::vector<std::byte>;

Bytes bytes(std::initializer_list<int> values) {
  Bytes out;
  for (int v : values) out.push_back(static_cast<std::byte>(v));
  return out;
}

void append_be64(Bytes& out, std::uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) {
    out.push_back(static_cast<std::byte>((v >> shift) & 0xFF));
  }
}

Bytes xlog_data_message(std::uint64_t start, std::uint64_t end, std::int64_t send_time,
                        const std::string& payload) {
  Bytes out = bytes({'w'});
  append_be64(out, start);
  append_be64(out, end);
  append_be64(out, static_cast<std::uint64_t>(send_time));
  for (char c : payload) out.push_back(static_cast<std::byte>(c));
  return out;
}

Bytes keepalive_message(std::uint64_t end, std::int64_t send_time, int reply) {
  Bytes out = bytes({'k'});
  append_be64(out, end);
  append_be64(out, static_cast<std::uint64_t>(send_time));
  out.push_back(static_cast<std::byte>(reply));
  return out;
}

// Runs the decoder and returns the error message (empty if none was thrown).
std::string decode_error(const Bytes& message) {
  try {
    decode_server_copy_message(message);
  } catch (const walstream::Error& e) {
    EXPECT_EQ(e.kind(), walstream::ErrorKind::kProtocol);
    return e.what();
  }
  return {};
}

TEST(XLogDataTest, DecodesHeaderAndPayload) {
  const Bytes message = xlog_data_message(0x3000028, 0x3000100, 750000000123456, "WALBYTES");
  const auto decoded = decode_server_copy_message(message);
  ASSERT_TRUE(std::holds_alternative<XLogData>(decoded));
  const auto& data = std::get<XLogData>(decoded);
  EXPECT_EQ(data.data_start, Lsn{0x3000028});
  EXPECT_EQ(data.wal_end, Lsn{0x3000100});
  EXPECT_EQ(data.send_time, 750000000123456);
  EXPECT_EQ(walstream::as_chars(data.payload), "WALBYTES");
  // The payload is a view into the message, not a copy.
  EXPECT_EQ(data.payload.data(), message.data() + 25);
}

TEST(XLogDataTest, EmptyPayloadIsAllowed) {
  const Bytes message = xlog_data_message(0x1000000, 0x1000000, 0, "");
  const auto data = std::get<XLogData>(decode_server_copy_message(message));
  EXPECT_TRUE(data.payload.empty());
}

TEST(XLogDataTest, NegativeTimestamp) {
  const Bytes message = xlog_data_message(1, 2, -5, "x");
  EXPECT_EQ(std::get<XLogData>(decode_server_copy_message(message)).send_time, -5);
}

TEST(XLogDataTest, EveryTruncationIsRejected) {
  const Bytes full = xlog_data_message(0x3000028, 0x3000100, 42, "");
  ASSERT_EQ(full.size(), 25u);
  for (std::size_t size = 1; size < full.size(); ++size) {
    const Bytes truncated(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(size));
    EXPECT_EQ(decode_error(truncated),
              "malformed XLogData message: " + std::to_string(size) + " bytes, need at least 25");
  }
}

TEST(KeepaliveTest, Decodes) {
  for (int reply : {0, 1}) {
    const Bytes message = keepalive_message(0x16B374D848, 123, reply);
    const auto decoded = decode_server_copy_message(message);
    ASSERT_TRUE(std::holds_alternative<PrimaryKeepalive>(decoded));
    const auto& keepalive = std::get<PrimaryKeepalive>(decoded);
    EXPECT_EQ(keepalive.wal_end, Lsn{0x16B374D848});
    EXPECT_EQ(keepalive.send_time, 123);
    EXPECT_EQ(keepalive.reply_requested, reply == 1);
  }
}

TEST(KeepaliveTest, WrongSizesAreRejected) {
  const Bytes full = keepalive_message(1, 2, 1);
  for (std::size_t size = 1; size < full.size(); ++size) {
    const Bytes truncated(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(size));
    EXPECT_EQ(decode_error(truncated),
              "malformed keepalive message: " + std::to_string(size) + " bytes, expected 18");
  }
  Bytes trailing = full;
  trailing.push_back(std::byte{0});
  EXPECT_EQ(decode_error(trailing), "malformed keepalive message: 19 bytes, expected 18");
}

TEST(ServerCopyMessageTest, EmptyAndUnknownTypes) {
  EXPECT_EQ(decode_error({}), "empty replication message");
  EXPECT_EQ(decode_error(bytes({'q', 0, 0})), "unknown replication message type 'q' (0x71)");
  EXPECT_EQ(decode_error(bytes({0})), "unknown replication message type (0x00)");
  EXPECT_EQ(decode_error(bytes({0xFF})), "unknown replication message type (0xff)");
  // Client-to-server types are not valid in this direction.
  EXPECT_THAT(decode_error(bytes({'r'})), testing::HasSubstr("unknown replication message type"));
}

TEST(StandbyStatusUpdateTest, EncodesExactBytes) {
  StandbyStatusUpdate update;
  update.write = Lsn{0x0102030405060708};
  update.flush = Lsn{0x1112131415161718};
  update.apply = Lsn{0};
  update.send_time = 0x2122232425262728;
  update.reply_requested = true;
  std::array<std::byte, kStandbyStatusUpdateSize> out{};
  encode_standby_status_update(update, out);

  Bytes expected = bytes({'r'});
  append_be64(expected, 0x0102030405060708);
  append_be64(expected, 0x1112131415161718);
  append_be64(expected, 0);
  append_be64(expected, 0x2122232425262728);
  expected.push_back(std::byte{1});
  EXPECT_EQ(Bytes(out.begin(), out.end()), expected);

  update.reply_requested = false;
  update.send_time = -1;
  encode_standby_status_update(update, out);
  EXPECT_EQ(out[33], std::byte{0});
  for (std::size_t i = 25; i < 33; ++i) EXPECT_EQ(out[i], std::byte{0xFF});
}

TEST(HotStandbyFeedbackTest, EncodesExactBytes) {
  HotStandbyFeedback feedback;
  feedback.send_time = 0x0102030405060708;
  feedback.xmin = 0x11121314;
  feedback.xmin_epoch = 0x21222324;
  feedback.catalog_xmin = 0x31323334;
  feedback.catalog_xmin_epoch = 0x41424344;
  std::array<std::byte, kHotStandbyFeedbackSize> out{};
  encode_hot_standby_feedback(feedback, out);
  const Bytes expected =
      bytes({'h',  0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x11, 0x12, 0x13, 0x14,
             0x21, 0x22, 0x23, 0x24, 0x31, 0x32, 0x33, 0x34, 0x41, 0x42, 0x43, 0x44});
  ASSERT_EQ(expected.size(), kHotStandbyFeedbackSize);
  EXPECT_EQ(Bytes(out.begin(), out.end()), expected);
}

TEST(PgTimestampTest, EpochIs2000) {
  using std::chrono::system_clock;
  const system_clock::time_point pg_epoch{std::chrono::seconds{946684800}};
  EXPECT_EQ(to_pg_timestamp(pg_epoch), 0);
  EXPECT_EQ(to_pg_timestamp(pg_epoch + std::chrono::microseconds{1500001}), 1500001);
  EXPECT_EQ(to_pg_timestamp(system_clock::time_point{}), -946684800LL * 1000000);
  // 2024-01-01 00:00:00 UTC = unix 1704067200.
  EXPECT_EQ(to_pg_timestamp(system_clock::time_point{std::chrono::seconds{1704067200}}),
            (1704067200LL - 946684800LL) * 1000000);
}

}  // namespace
