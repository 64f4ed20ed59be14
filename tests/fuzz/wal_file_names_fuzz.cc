// Fuzz target for WAL file names (protocol/wal_file_names.h). The first
// byte chooses a segment size (b % 12: 1 MiB << b, the last one 3 MiB, which
// is not a valid size); the rest is a name as found in a directory. A name
// that parses must be written back exactly as it was (one spelling per file),
// must parse the same under kAnySegmentSize, and is a plain segment name
// exactly when its kind says so. The other way round, the same bytes also
// make a file (kind, timeline, segment number): its name must parse back to
// it whenever the segment number fits the name.
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>

#include "protocol/error.h"
#include "protocol/lsn.h"
#include "protocol/wal_file_names.h"
#include "tests/fuzz/fuzz_support.h"

namespace {

using walstream::fuzz::check;
using walstream::fuzz::FuzzInput;
using namespace walstream::protocol;

constexpr WalFileKind kKinds[] = {
    WalFileKind::kSegment,           WalFileKind::kPartialSegment,
    WalFileKind::kCompressedSegment, WalFileKind::kCompressionTemporary,
    WalFileKind::kHistory,           WalFileKind::kHistoryTemporary,
    WalFileKind::kArchiveDoneMarker,
};

bool is_history(WalFileKind kind) {
  return kind == WalFileKind::kHistory || kind == WalFileKind::kHistoryTemporary;
}

void check_parsed_name(std::string_view name, std::uint64_t segment_size) {
  const std::optional<WalFileName> file = parse_wal_file_name(name, segment_size);
  const std::optional<WalFileName> segment = parse_wal_segment_file_name(name, segment_size);
  check(segment.has_value() == (file && file->kind == WalFileKind::kSegment));
  if (!file) return;
  check(segment == std::nullopt || segment == file);
  if (is_history(file->kind)) {
    check(file->segno == 0);
  } else {
    check(is_valid_wal_segment_size(segment_size));
  }
  check(wal_file_name(*file, segment_size) == name);
  const auto any = parse_wal_file_name(name, kAnySegmentSize);
  check(any && any->kind == file->kind && any->timeline == file->timeline);
}

void check_written_name(const WalFileName& file, std::uint64_t segment_size) {
  if (!is_history(file.kind) && !is_valid_wal_segment_size(segment_size)) {
    try {
      wal_file_name(file, segment_size);
    } catch (const walstream::Error& e) {
      check(e.kind() == walstream::ErrorKind::kInternal);
      return;
    }
    check(false);  // an invalid segment size must be refused
  }
  const std::string name = wal_file_name(file, segment_size);
  const std::uint64_t segments_per_id =
      is_history(file.kind) ? 1 : (std::uint64_t{1} << 32) / segment_size;
  const bool fits = file.segno / segments_per_id <= 0xFFFFFFFFu;
  const auto parsed = parse_wal_file_name(name, segment_size);
  check(parsed.has_value() == fits);
  if (parsed) check(*parsed == file);
  if (file.kind == WalFileKind::kSegment && fits) {
    check(parse_wal_file_name(archive_done_marker_name(name), segment_size) ==
          WalFileName{WalFileKind::kArchiveDoneMarker, file.timeline, file.segno});
    check(parse_wal_file_name(compressed_file_name(name), segment_size) ==
          WalFileName{WalFileKind::kCompressedSegment, file.timeline, file.segno});
    check(parse_wal_file_name(compression_temporary_file_name(name), segment_size) ==
          WalFileName{WalFileKind::kCompressionTemporary, file.timeline, file.segno});
  }
  if (file.kind == WalFileKind::kHistory) {
    check(name == timeline_history_file_name(file.timeline));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzInput input(data, size);
  const std::size_t choice = input.pick(12);
  const std::uint64_t segment_size =
      choice == 11 ? std::uint64_t{3} << 20 : std::uint64_t{1} << (20 + choice);

  FuzzInput as_file(data, size);
  as_file.byte();
  const WalFileKind kind = kKinds[as_file.pick(std::size(kKinds))];
  const TimelineId timeline = as_file.number<std::uint32_t>();
  const SegmentNo segno = is_history(kind) ? 0 : as_file.number<std::uint64_t>();

  check_parsed_name(input.rest_text(), segment_size);
  check_written_name({kind, timeline, segno}, segment_size);
  return 0;
}
