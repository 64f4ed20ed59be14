// Decoding the CopyData sub-messages of START_REPLICATION with
// protocol::decode_server_copy_message: XLogData ('w') as the server sends
// them (8 kB, or the 128 kB a walsender sends at most per message) and
// keepalives ('k'). A batch is 64 messages, what the driver holds before it
// writes. The payload is handed out as a span into the message, so the cost
// per message is the header; bytes/s counts whole messages.
#include <benchmark/benchmark.h>

#include <cstddef>
#include <cstdint>
#include <random>
#include <variant>
#include <vector>

#include "bench_support.h"
#include "protocol/bytes.h"
#include "protocol/lsn.h"
#include "protocol/replication_messages.h"

namespace {

using walstream::ByteView;
using walstream::store_be64;
using walstream::bench::check;
using walstream::bench::run_step;
using walstream::protocol::decode_server_copy_message;
using walstream::protocol::PrimaryKeepalive;
using walstream::protocol::XLogData;

constexpr std::size_t kMessagesPerBatch = 64;
constexpr std::size_t kXLogDataHeaderSize = 25;  // 'w' + start + end + send time
constexpr std::size_t kKeepaliveSize = 18;       // 'k' + end + send time + reply flag
constexpr std::uint64_t kFirstLsn = 0x3000000;
constexpr std::int64_t kSendTime = 750000000000000;  // 2023, in PostgreSQL's epoch

struct MessageBatch {
  std::vector<std::vector<std::byte>> messages;
  std::size_t total_bytes = 0;
};

MessageBatch make_xlog_data_batch(std::size_t payload_size) {
  std::mt19937 random(20240601);
  MessageBatch batch;
  std::uint64_t lsn = kFirstLsn;
  for (std::size_t i = 0; i < kMessagesPerBatch; ++i) {
    std::vector<std::byte> message(kXLogDataHeaderSize + payload_size);
    message[0] = std::byte{'w'};
    store_be64(message.data() + 1, lsn);
    store_be64(message.data() + 9, lsn + payload_size);
    store_be64(message.data() + 17, static_cast<std::uint64_t>(kSendTime + i));
    for (std::size_t j = kXLogDataHeaderSize; j < message.size(); ++j) {
      message[j] = static_cast<std::byte>(random() & 0xff);
    }
    lsn += payload_size;
    batch.total_bytes += message.size();
    batch.messages.push_back(std::move(message));
  }
  return batch;
}

MessageBatch make_keepalive_batch() {
  MessageBatch batch;
  for (std::size_t i = 0; i < kMessagesPerBatch; ++i) {
    std::vector<std::byte> message(kKeepaliveSize);
    message[0] = std::byte{'k'};
    store_be64(message.data() + 1, kFirstLsn + i * 8192);
    store_be64(message.data() + 9, static_cast<std::uint64_t>(kSendTime + i));
    message[17] = std::byte{static_cast<unsigned char>(i % 2)};
    batch.total_bytes += message.size();
    batch.messages.push_back(std::move(message));
  }
  return batch;
}

void BM_DecodeXLogData(benchmark::State& state) {
  const auto payload_size = static_cast<std::size_t>(state.range(0));
  const MessageBatch batch = make_xlog_data_batch(payload_size);
  for (auto _ : state) {
    bool ok = run_step(state, [&] {
      std::uint64_t expected_start = kFirstLsn;
      for (const auto& message : batch.messages) {
        const auto decoded = decode_server_copy_message(message);
        const auto* data = std::get_if<XLogData>(&decoded);
        // The payload must be the message's own bytes, from the right LSN.
        if (data == nullptr || data->data_start.value != expected_start ||
            data->payload.data() != message.data() + kXLogDataHeaderSize ||
            data->payload.size() != payload_size) {
          state.SkipWithError("XLogData decoded wrongly");
          return;
        }
        benchmark::DoNotOptimize(data->send_time);
        expected_start += payload_size;
      }
    });
    if (!ok || state.error_occurred()) break;
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * batch.total_bytes));
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * kMessagesPerBatch));
}

void BM_DecodeKeepalive(benchmark::State& state) {
  const MessageBatch batch = make_keepalive_batch();
  for (auto _ : state) {
    bool ok = run_step(state, [&] {
      std::size_t replies = 0;
      std::uint64_t expected_end = kFirstLsn;
      for (const auto& message : batch.messages) {
        const auto decoded = decode_server_copy_message(message);
        const auto* keepalive = std::get_if<PrimaryKeepalive>(&decoded);
        if (keepalive == nullptr || keepalive->wal_end.value != expected_end) {
          state.SkipWithError("keepalive decoded wrongly");
          return;
        }
        replies += keepalive->reply_requested ? 1 : 0;
        expected_end += 8192;
      }
      check(state, replies == kMessagesPerBatch / 2, "keepalive reply flags decoded wrongly");
    });
    if (!ok || state.error_occurred()) break;
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * batch.total_bytes));
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * kMessagesPerBatch));
}

BENCHMARK(BM_DecodeXLogData)->ArgName("payload")->Arg(8 * 1024)->Arg(128 * 1024);
BENCHMARK(BM_DecodeKeepalive);

}  // namespace
