// WAL shaped like an OLTP workload's (pgbench-like), for benchmarks whose
// cost depends on the content: compression above all, and the page check of
// a completed segment. WalBuilder lays out valid page headers and record
// headers (with CRCs); the record bodies mix
//   - heap tuples (tuple header, increasing keys, random balances, a blank
//     padded filler, sometimes a random text column),
//   - index insertions and commit records (small, mostly structure),
//   - full-page images (a page of similar tuples with its hole left out),
// so the WAL compresses part way, as real WAL does. Deterministic per seed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "protocol/lsn.h"
#include "tests/support/wal_builder.h"

namespace walstream::bench {

class WorkloadRecordBodies {
 public:
  explicit WorkloadRecordBodies(unsigned seed) : random_(seed) {}

  // Fills `body` with the next record's body; returns its resource manager.
  std::uint8_t next(std::vector<std::byte>& body) {
    body.clear();
    const auto kind = random_() % 100;
    if (kind < 55) return heap_record(body);
    if (kind < 80) return index_record(body);
    if (kind < 92) return commit_record(body);
    return full_page_image(body);
  }

 private:
  static constexpr std::uint8_t kRmXact = 1;
  static constexpr std::uint8_t kRmHeap = 10;
  static constexpr std::uint8_t kRmBtree = 11;
  static constexpr std::size_t kPageSize = 8192;

  template <typename T>
  static void put(std::vector<std::byte>& out, T value) {
    const std::size_t at = out.size();
    out.resize(at + sizeof value);
    std::memcpy(out.data() + at, &value, sizeof value);
  }
  static void pad_to(std::vector<std::byte>& out, std::size_t alignment) {
    while (out.size() % alignment != 0) out.push_back(std::byte{0});
  }

  // Block reference: block id, fork flags, data length, relation, block.
  void block_reference(std::vector<std::byte>& out, std::uint32_t relation,
                       std::uint16_t data_length) {
    put<std::uint8_t>(out, 0);
    put<std::uint8_t>(out, 0x20);
    put<std::uint16_t>(out, data_length);
    put<std::uint32_t>(out, 1663);  // pg_default
    put<std::uint32_t>(out, 5);     // the database
    put<std::uint32_t>(out, relation);
    put<std::uint32_t>(out, static_cast<std::uint32_t>(random_() % 20000));
  }

  void tuple(std::vector<std::byte>& out) {
    put<std::uint32_t>(out, xid_);                                           // xmin
    put<std::uint32_t>(out, 0);                                              // xmax
    put<std::uint32_t>(out, 0);                                              // cid
    put<std::uint32_t>(out, static_cast<std::uint32_t>(random_() % 20000));  // ctid block
    put<std::uint16_t>(out, static_cast<std::uint16_t>(1 + random_() % 60));
    put<std::uint16_t>(out, 4);       // infomask2: attribute count
    put<std::uint16_t>(out, 0x0802);  // infomask
    put<std::uint8_t>(out, 24);       // t_hoff
    pad_to(out, 8);
    put<std::uint32_t>(out, ++key_);                                              // aid
    put<std::uint32_t>(out, 1 + key_ / 100000);                                   // bid
    put<std::int32_t>(out, static_cast<std::int32_t>(random_() % 10001) - 5000);  // abalance
    out.insert(out.end(), 84, std::byte{' '});                                    // filler
    if (random_() % 10 < 3) {
      // A text column: an identifier or a hash, which compresses poorly.
      const std::size_t n = 20 + random_() % 180;
      for (std::size_t i = 0; i < n; ++i) out.push_back(static_cast<std::byte>(random_() & 0xff));
    }
  }

  std::uint8_t heap_record(std::vector<std::byte>& out) {
    block_reference(out, 16397, 0);
    put<std::uint16_t>(out, static_cast<std::uint16_t>(1 + random_() % 60));  // offnum
    put<std::uint8_t>(out, 0);                                                // flags
    tuple(out);
    return kRmHeap;
  }

  std::uint8_t index_record(std::vector<std::byte>& out) {
    block_reference(out, 16405, 16);
    put<std::uint16_t>(out, static_cast<std::uint16_t>(1 + random_() % 300));  // offnum
    put<std::uint32_t>(out, static_cast<std::uint32_t>(random_() % 20000));    // heap block
    put<std::uint16_t>(out, static_cast<std::uint16_t>(1 + random_() % 60));   // heap offset
    put<std::uint16_t>(out, 16);                                               // t_info
    put<std::uint32_t>(out, key_);
    pad_to(out, 8);
    return kRmBtree;
  }

  std::uint8_t commit_record(std::vector<std::byte>& out) {
    commit_time_ += 200 + random_() % 800;  // microseconds between commits
    put<std::int64_t>(out, commit_time_);
    put<std::uint32_t>(out, 0);  // xinfo
    ++xid_;
    return kRmXact;
  }

  std::uint8_t full_page_image(std::vector<std::byte>& out) {
    const std::size_t tuples = 20 + random_() % 40;
    block_reference(out, 16397, 0);
    const std::size_t image_at = out.size();
    put<std::uint16_t>(out, 0);  // image length, set below
    put<std::uint16_t>(out, static_cast<std::uint16_t>(24 + 4 * tuples));  // hole offset
    put<std::uint8_t>(out, 0x01);                                          // has hole
    // Page header: LSN, checksum, flags, lower, upper, special, version, prune xid.
    put<std::uint64_t>(out, 0x2000000 + random_() % 0x1000000);
    put<std::uint16_t>(out, static_cast<std::uint16_t>(random_()));
    put<std::uint16_t>(out, 0);
    put<std::uint16_t>(out, static_cast<std::uint16_t>(24 + 4 * tuples));
    put<std::uint16_t>(out, static_cast<std::uint16_t>(kPageSize - 128 * tuples));
    put<std::uint16_t>(out, static_cast<std::uint16_t>(kPageSize));
    put<std::uint16_t>(out, 0x2004);
    put<std::uint32_t>(out, xid_);
    for (std::size_t i = 0; i < tuples; ++i) {
      // Line pointer: offset 15 bits, flags 2 bits, length 15 bits.
      const auto offset = static_cast<std::uint32_t>(kPageSize - 128 * (i + 1));
      put<std::uint32_t>(out, offset | (1u << 15) | (121u << 17));
    }
    for (std::size_t i = 0; i < tuples; ++i) {
      const std::size_t start = out.size();
      tuple(out);
      out.resize(start + 128, std::byte{0});  // one slot per tuple, text column cut
    }
    const auto image_length = static_cast<std::uint16_t>(out.size() - image_at - 5);
    std::memcpy(out.data() + image_at, &image_length, sizeof image_length);
    return kRmHeap;
  }

  std::mt19937 random_;
  std::uint32_t xid_ = 750;
  std::uint32_t key_ = 0;
  std::int64_t commit_time_ = 750000000000000;  // 2023, in PostgreSQL's epoch
};

// `size` bytes of workload WAL from `start` (a page boundary) of a server
// whose segments are `segment_size` bytes.
inline std::vector<std::byte> workload_wal(protocol::Lsn start, std::size_t size,
                                           std::uint64_t segment_size, unsigned seed) {
  test::WalBuilder builder(start, 1, segment_size);
  WorkloadRecordBodies bodies(seed);
  std::vector<std::byte> body;
  while (builder.end().value < start.value + size) {
    const std::uint8_t rmid = bodies.next(body);
    builder.add_record_with_body(body, std::nullopt, rmid);
  }
  std::vector<std::byte> wal = builder.bytes();
  wal.resize(size);
  return wal;
}

}  // namespace walstream::bench
