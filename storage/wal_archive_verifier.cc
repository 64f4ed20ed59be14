#include "storage/wal_archive_verifier.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <map>
#include <sstream>
#include <vector>

#include "protocol/error.h"
#include "protocol/hex.h"
#include "protocol/timeline_history.h"
#include "protocol/wal_file_names.h"
#include "protocol/wal_page.h"
#include "storage/archive_scan.h"
#include "storage/file_util.h"
#include "storage/wal_archive_source.h"
#include "storage/zstd_file.h"

namespace walstream::storage {
namespace {

namespace fs = std::filesystem;
using protocol::Lsn;
using protocol::SegmentNo;
using protocol::TimelineId;
using protocol::WalFileKind;
using protocol::WalReader;
using protocol::WalReaderState;

constexpr std::size_t kReadChunk = 1 << 20;

void feed_plain(WalReader& reader, const fs::path& path, std::uint64_t offset) {
  UniqueFd fd = open_for_reading(path);
  std::vector<std::byte> buffer(kReadChunk);
  while (reader.state() == WalReaderState::kReading) {
    const ssize_t n = ::pread(fd.get(), buffer.data(), buffer.size(), static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_io_error("read file", path, errno);
    }
    if (n == 0) return;
    reader.feed(ByteView(buffer.data(), static_cast<std::size_t>(n)));
    offset += static_cast<std::uint64_t>(n);
  }
}

// Streams the decompressed content through the reader, one output buffer at
// a time, so a segment is never held whole in memory.
void feed_zstd(WalReader& reader, const fs::path& path, std::uint64_t skip) {
  decompress_zstd_file(path, [&](ByteView produced) {
    const std::size_t skipped =
        static_cast<std::size_t>(std::min<std::uint64_t>(skip, produced.size()));
    skip -= skipped;
    return reader.feed(produced.subspan(skipped)) == WalReaderState::kReading;
  });
}

// Timeline history files hold a line per timeline switch; far below this.
constexpr std::uint64_t kMaxHistoryFileSize = 16 * 1024 * 1024;

bool is_segment_file(WalFileKind kind) {
  return kind == WalFileKind::kSegment || kind == WalFileKind::kCompressedSegment ||
         kind == WalFileKind::kPartialSegment;
}

// The first page's long header of a segment file, plain or compressed.
std::optional<protocol::WalLongPageHeader> read_long_header(WalArchiveSource& source,
                                                            const std::string& name,
                                                            bool compressed) {
  std::array<std::byte, protocol::kWalLongPageHeaderSize> header{};
  const std::size_t have = source.read_prefix(name, compressed, header);
  return protocol::parse_long_page_header(ByteView(header).first(have));
}

// Errors that say the archive could not be reached (a server down, an S3
// error such as a missing bucket or a refused signature) rather than that it
// is damaged: the command ends with them, and their exit code.
void rethrow_unless_damage(const Error& error) {
  switch (error.kind()) {
    case ErrorKind::kConnection:
    case ErrorKind::kServer:
    case ErrorKind::kCancelled:
    case ErrorKind::kInternal:
      throw error;
    default:
      return;
  }
}

}  // namespace

void feed_wal_file(WalReader& reader, const fs::path& path, bool compressed, std::uint64_t offset) {
  if (compressed) {
    feed_zstd(reader, path, offset);
  } else {
    feed_plain(reader, path, offset);
  }
}

WalArchiveVerifyResult verify_wal_archive(const WalArchiveVerifyOptions& options) {
  DirectoryWalSource source(options.directory);
  return verify_wal_archive(source, options.from, options.to);
}

WalArchiveVerifyResult verify_wal_archive(WalArchiveSource& source,
                                          std::optional<protocol::Lsn> from,
                                          std::optional<protocol::Lsn> to) {
  WalArchiveVerifyResult result;
  const struct {
    std::optional<Lsn> from;
    std::optional<Lsn> to;
  } options{from, to};

  // The segment size and server version come from the first segment's long
  // page header: both are needed before names can be turned into LSNs, so
  // names are read for any segment size here. By name, the oldest segment
  // of the oldest timeline comes first.
  std::map<std::string, WalFileKind> segment_files;
  for (std::string& name : source.list_names()) {
    const auto parsed = protocol::parse_wal_file_name(name, protocol::kAnySegmentSize);
    if (parsed && is_segment_file(parsed->kind)) {
      segment_files.emplace(std::move(name), parsed->kind);
    }
  }
  if (segment_files.empty()) {
    result.problems.push_back("the WAL archive \"" + source.display_name() +
                              "\" holds no WAL segment");
    return result;
  }
  const auto& [first_name, first_kind] = *segment_files.begin();
  const auto header =
      read_long_header(source, first_name, first_kind == WalFileKind::kCompressedSegment);
  if (!header || !protocol::is_valid_wal_segment_size(header->segment_size)) {
    result.problems.push_back("\"" + first_name + "\" does not start with a valid WAL page header");
    return result;
  }
  const std::uint64_t segment_size = header->segment_size;
  const auto major = protocol::server_major_for_xlog_page_magic(header->magic);
  if (!major) {
    result.problems.push_back("\"" + first_name + "\" has WAL page magic " +
                              protocol::format_hex(header->magic, 4) +
                              ", which is not that of a known PostgreSQL release (11 to 18)");
    return result;
  }
  result.server_major = *major;

  ArchiveContents contents;
  try {
    contents = source.scan(segment_size);
  } catch (const Error& e) {
    rethrow_unless_damage(e);
    result.problems.push_back(e.what());
    return result;
  }

  // The history to follow: that of the newest timeline in the archive.
  TimelineId target = 0;
  for (const auto& segment : contents.segments) target = std::max(target, segment.timeline);
  // Without a history only the newest timeline can be followed; pages of
  // older timelines may still begin its first segment.
  protocol::TimelineHistory history{target, {}};
  const bool have_history =
      target > 1 && std::find(contents.history_files.begin(), contents.history_files.end(),
                              target) != contents.history_files.end();
  if (have_history) {
    const std::string history_name = protocol::timeline_history_file_name(target);
    try {
      history = protocol::parse_timeline_history_content(
          source.read_small_file(history_name, kMaxHistoryFileSize), target);
    } catch (const Error& e) {
      rethrow_unless_damage(e);
      result.problems.push_back("\"" + history_name + "\": " + e.what());
      return result;
    }
  }
  // The timeline whose file holds segment `segno`: the one that holds its
  // last byte (a timeline's first segment holds the parent's WAL up to the
  // switch, then its own).
  auto timeline_of = [&](SegmentNo segno) {
    return history.timeline_at(
        Lsn{protocol::segment_start_lsn(segno, segment_size).value + segment_size - 1});
  };

  // The files on that path, by segment number.
  std::map<SegmentNo, const ArchivedSegment*> complete;
  std::map<SegmentNo, const ArchivedSegment*> partial;
  for (const auto& segment : contents.segments) {
    if (segment.timeline != timeline_of(segment.segno)) continue;
    auto& slot = segment.state == SegmentState::kPartial ? partial : complete;
    if (slot.find(segment.segno) == slot.end()) slot[segment.segno] = &segment;
  }
  if (complete.empty() && partial.empty()) {
    result.problems.push_back("no WAL segment of timeline " + std::to_string(target) +
                              " is in the archive");
    return result;
  }
  SegmentNo first = std::min(complete.empty() ? partial.begin()->first : complete.begin()->first,
                             partial.empty() ? complete.begin()->first : partial.begin()->first);
  SegmentNo last = std::max(complete.empty() ? 0 : complete.rbegin()->first,
                            partial.empty() ? 0 : partial.rbegin()->first);
  if (options.from) first = protocol::segment_number(*options.from, segment_size);
  if (options.to) {
    if (options.from && *options.to <= *options.from) {
      result.problems.push_back("--to " + protocol::to_string(*options.to) +
                                " is not after --from " + protocol::to_string(*options.from));
      return result;
    }
    last = protocol::segment_number(Lsn{options.to->value - 1}, segment_size);
  }

  protocol::WalReaderOptions reader_options;
  reader_options.page_magic = header->magic;
  reader_options.segment_size = segment_size;
  reader_options.start =
      options.from ? Lsn{options.from->value - options.from->value % protocol::kWalPageSize}
                   : protocol::segment_start_lsn(first, segment_size);
  reader_options.system_id = contents.system_id;
  if (have_history) {
    for (const auto& entry : history.switches) {
      reader_options.allowed_timelines.push_back(entry.ended_timeline);
    }
    reader_options.allowed_timelines.push_back(target);
  }
  if (options.to) reader_options.stop_at = *options.to;
  WalReader reader(reader_options);
  result.from = options.from.value_or(reader_options.start);

  std::map<SegmentNo, std::string> file_of_segment;
  auto file_for_lsn = [&](Lsn lsn) {
    const auto it = file_of_segment.find(protocol::segment_number(lsn, segment_size));
    return it == file_of_segment.end() ? std::string("?") : it->second;
  };
  auto corrupt_message = [&]() {
    const auto& problem = *reader.problem();
    return "invalid WAL at " + protocol::to_string(problem.lsn) + " in \"" +
           file_for_lsn(problem.lsn) + "\": " + problem.reason;
  };

  for (SegmentNo segno = first; segno <= last; ++segno) {
    const TimelineId timeline = timeline_of(segno);
    const ArchivedSegment* file = nullptr;
    if (auto it = complete.find(segno); it != complete.end()) {
      file = it->second;
    } else if (auto p = partial.find(segno); p != partial.end() && segno == last) {
      file = p->second;
    }
    if (file == nullptr) {
      const std::string name = protocol::wal_segment_file_name(timeline, segno, segment_size);
      result.problems.push_back(
          "WAL segment \"" + name + "\" is missing from the archive" +
          (partial.count(segno)
               ? " (only \"" +
                     protocol::wal_file_name({WalFileKind::kPartialSegment, timeline, segno},
                                             segment_size) +
                     "\" is there)"
               : std::string()) +
          "; WAL was verified up to " + protocol::to_string(reader.end_of_valid_wal()));
      return result;
    }
    file_of_segment[segno] = file->file_name;
    const std::uint64_t offset =
        segno == first
            ? reader_options.start.value - protocol::segment_start_lsn(segno, segment_size).value
            : 0;
    try {
      source.read_content(
          file->file_name, file->state == SegmentState::kCompressed, offset,
          [&](ByteView plain) { return reader.feed(plain) == WalReaderState::kReading; });
    } catch (const Error& e) {
      rethrow_unless_damage(e);
      result.problems.push_back(e.what());
      return result;
    }
    switch (reader.state()) {
      case WalReaderState::kReading:
        break;
      case WalReaderState::kCorrupt:
        result.problems.push_back(corrupt_message());
        return result;
      case WalReaderState::kReachedStop:
        result.to = *options.to;
        result.records = reader.record_count();
        return result;
      case WalReaderState::kEndOfWal: {
        const Lsn end = reader.end_of_valid_wal();
        if (file->state != SegmentState::kPartial) {
          result.problems.push_back("WAL ends at " + protocol::to_string(end) +
                                    " inside complete segment \"" + file->file_name + "\"");
        } else if (options.to) {
          result.problems.push_back("WAL ends at " + protocol::to_string(end) + " in \"" +
                                    file->file_name + "\", before " +
                                    protocol::to_string(*options.to));
        }
        result.to = end;
        result.records = reader.record_count();
        return result;
      }
    }
  }
  result.records = reader.record_count();
  result.to = reader.end_of_valid_wal();
  // Every byte up to --to was there and valid; only a record that straddles
  // it is unfinished (pg_waldump --end stops the same way).
  if (options.to && reader.fed_up_to() >= *options.to) {
    result.to = *options.to;
    return result;
  }
  if (options.to) {
    result.problems.push_back("the archive ends at " + protocol::to_string(reader.fed_up_to()) +
                              ", before " + protocol::to_string(*options.to));
  }
  return result;
}

}  // namespace walstream::storage
