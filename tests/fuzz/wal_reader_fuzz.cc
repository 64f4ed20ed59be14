// Fuzz target for the WAL record reader (protocol/wal_reader.h). The input
// starts with the reader's options, then the WAL:
//   byte  segment size: 1 MiB << (b % 11)
//   byte  server major: 11 + (b % 8), whose page magic is expected
//   byte  flags: 1 system identifier follows, 2 a timeline list follows,
//         4 a stop position follows
//   [8    system identifier, little-endian]
//   [byte count (b % 4), then that many timeline bytes]
//   [4    stop position: this many bytes after the start, little-endian]
//   4     segment number, little-endian
//   2     where reading starts: n % pages-per-segment pages before the end of
//         its segment (0: at the segment start), little-endian
//   byte  how the WAL is cut into pieces for the second reading
//   ...   the WAL, from the start position on
// The WAL is read twice, in one piece and in uneven pieces: both readings
// must end the same way (state, problem, positions, record count). The end
// state must be consistent: positions in order, a problem exactly when
// corrupt and then a printable line, at most one record per 24 bytes.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <optional>

#include "protocol/bytes.h"
#include "protocol/lsn.h"
#include "protocol/wal_page.h"
#include "protocol/wal_reader.h"
#include "tests/fuzz/fuzz_support.h"

namespace {

using walstream::ByteView;
using walstream::fuzz::check;
using walstream::fuzz::FuzzInput;
using namespace walstream::protocol;

WalReader read(const WalReaderOptions& options, ByteView wal, std::optional<std::size_t> pieces) {
  WalReader reader(options);
  if (!pieces) {
    reader.feed(wal);
    return reader;
  }
  // Sizes around page and record-header boundaries.
  static constexpr std::size_t kSizes[] = {1, 23, 8191, 8192, 8193, 100, 4096, 25, 16384};
  std::size_t pos = 0;
  for (std::size_t i = *pieces; pos < wal.size(); ++i) {
    const std::size_t n = std::min(kSizes[i % std::size(kSizes)], wal.size() - pos);
    const WalReaderState state = reader.feed(wal.subspan(pos, n));
    check(state == reader.state());
    pos += n;
  }
  return reader;
}

void check_end_state(const WalReader& reader, const WalReaderOptions& options, ByteView wal) {
  const Lsn start = options.start;
  const Lsn fed = reader.fed_up_to();
  check(fed.value >= start.value && fed.value <= start.value + wal.size());
  check(start <= reader.end_of_valid_wal() && reader.end_of_valid_wal() <= fed);
  check((reader.record_count() == 0) == !reader.last_record().valid());
  if (reader.last_record().valid()) {
    check(start <= reader.last_record() && reader.last_record() < reader.end_of_valid_wal());
  }
  check(reader.record_count() <= (fed.value - start.value) / kXLogRecordHeaderSize);
  if (options.system_id) check(reader.system_id() == options.system_id);
  switch (reader.state()) {
    case WalReaderState::kReading:
      check(!reader.problem() && fed.value == start.value + wal.size());
      break;
    case WalReaderState::kReachedStop:
      check(!reader.problem() && options.stop_at.valid());
      break;
    case WalReaderState::kEndOfWal:
      check(!reader.problem());
      break;
    case WalReaderState::kCorrupt: {
      check(reader.problem().has_value());
      const WalProblem& problem = *reader.problem();
      check(start <= problem.lsn && problem.lsn < fed);
      check(!problem.reason.empty() &&
            problem.reason.size() <= walstream::fuzz::kMaxErrorMessageLength);
      for (char c : problem.reason) check(c >= 0x20 && c < 0x7f);
      break;
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzInput input(data, size);
  WalReaderOptions options;
  options.segment_size = std::uint64_t{1} << (20 + input.pick(11));
  options.page_magic = *xlog_page_magic_for_major(static_cast<int>(11 + input.pick(8)));
  const std::uint8_t flags = input.byte();
  if ((flags & 1) != 0) options.system_id = input.number<std::uint64_t>();
  if ((flags & 2) != 0) {
    for (std::size_t n = input.pick(4); n > 0; --n)
      options.allowed_timelines.push_back(input.byte());
  }
  const std::uint32_t stop_after = (flags & 4) != 0 ? input.number<std::uint32_t>() : 0;
  const SegmentNo segno = input.number<std::uint32_t>();
  const std::uint64_t pages_per_segment = options.segment_size / kWalPageSize;
  const std::uint64_t before_end = input.number<std::uint16_t>() % pages_per_segment;
  const Lsn segment = segment_start_lsn(segno, options.segment_size);
  options.start =
      Lsn{before_end == 0 ? segment.value
                          : segment.value + (pages_per_segment - before_end) * kWalPageSize};
  if (stop_after != 0) options.stop_at = Lsn{options.start.value + stop_after};
  const std::size_t pieces = input.byte();
  const ByteView wal = input.rest();

  const WalReader whole = read(options, wal, std::nullopt);
  const WalReader cut = read(options, wal, pieces);
  check_end_state(whole, options, wal);
  check(whole.state() == cut.state());
  check(whole.fed_up_to() == cut.fed_up_to());
  check(whole.end_of_valid_wal() == cut.end_of_valid_wal());
  check(whole.last_record() == cut.last_record());
  check(whole.record_count() == cut.record_count());
  check(whole.system_id() == cut.system_id());
  check(whole.problem().has_value() == cut.problem().has_value());
  if (whole.problem()) {
    check(whole.problem()->lsn == cut.problem()->lsn);
    check(whole.problem()->reason == cut.problem()->reason);
  }
  return 0;
}
