#include "storage/s3_archive_scan.h"

#include <algorithm>
#include <array>
#include <optional>
#include <set>
#include <tuple>

#include "protocol/error.h"
#include "protocol/wal_file_names.h"
#include "protocol/wal_page.h"
#include "storage/zstd_decoder.h"

namespace walstream::storage {

namespace {

using protocol::WalFileKind;

// A zstd block holds at most 128 kB: the first page of a compressed segment
// is in the first block, which starts after a frame header of a few bytes.
constexpr std::size_t kCompressedFirstPageFetch = 128 * 1024 + 1024;

std::string object_url(const protocol::S3Location& location, const std::string& name) {
  return "s3://" + location.bucket + "/" + location.prefix + name;
}

[[noreturn]] void throw_invalid_segment(const protocol::S3Location& location,
                                        const std::string& name, const std::string& reason) {
  throw Error(ErrorKind::kIo,
              "object " + object_url(location, name) + " is not a valid WAL segment: " + reason,
              "an archive prefix must hold only the WAL of one database system; walstream never "
              "overwrites an object");
}

// The first page of a segment object: fetched with a Range request and, for
// NAME.zst, decompressed as far as the page goes.
std::string first_page(S3Client& client, const protocol::S3Location& location,
                       const ArchivedSegment& segment) {
  const std::string key = location.prefix + segment.file_name;
  const bool compressed = segment.state == SegmentState::kCompressed;
  const auto head = client.get_object_prefix(
      location.bucket, key, compressed ? kCompressedFirstPageFetch : protocol::kWalPageSize);
  if (!head) {
    throw Error(ErrorKind::kServer,
                "object " + object_url(location, segment.file_name) +
                    " disappeared while the archive was scanned",
                "check that no other process deletes objects under this prefix");
  }
  if (!compressed) return *head;
  std::string page;
  ZstdDecoder decoder("object " + object_url(location, segment.file_name), ErrorKind::kIo);
  decoder.feed(ByteView(reinterpret_cast<const std::byte*>(head->data()), head->size()),
               [&](ByteView plain) {
                 const std::size_t take =
                     std::min(plain.size(), protocol::kWalPageSize - page.size());
                 page.append(reinterpret_cast<const char*>(plain.data()), take);
                 return page.size() < protocol::kWalPageSize;
               });
  return page;
}

std::uint64_t read_system_id(S3Client& client, const protocol::S3Location& location,
                             const ArchivedSegment& segment, std::uint64_t segment_size) {
  std::string page;
  try {
    page = first_page(client, location, segment);
  } catch (const Error& e) {
    if (e.kind() != ErrorKind::kIo) throw;
    throw_invalid_segment(location, segment.file_name, e.what());
  }
  const ByteView bytes(reinterpret_cast<const std::byte*>(page.data()), page.size());
  const std::string problem =
      protocol::check_segment_first_page(bytes, segment.segno, segment_size, std::nullopt);
  if (!problem.empty()) throw_invalid_segment(location, segment.file_name, problem);
  return protocol::parse_long_page_header(bytes)->system_id;
}

}  // namespace

S3ArchiveScan scan_s3_archive(S3Client& client, const protocol::S3Location& location,
                              std::uint64_t segment_size) {
  S3ArchiveScan scan;
  for (const S3ListedObject& object : client.list_objects(location.bucket, location.prefix)) {
    const auto name = protocol::s3_archive_file_name(location, object.key);
    // Again with the real segment size: a segment number past the end of an
    // xlogid for this size is no segment of this archive.
    const auto parsed = name ? protocol::parse_wal_file_name(*name, segment_size) : std::nullopt;
    if (!parsed) {
      scan.foreign_keys.push_back(object.key);
      continue;
    }
    switch (parsed->kind) {
      case WalFileKind::kHistory:
        scan.contents.history_files.push_back(parsed->timeline);
        break;
      case WalFileKind::kSegment:
        if (object.size != segment_size) {
          throw_invalid_segment(location, *name,
                                "it has " + std::to_string(object.size) + " bytes, expected " +
                                    std::to_string(segment_size));
        }
        scan.contents.segments.push_back(
            {*name, parsed->timeline, parsed->segno, SegmentState::kComplete});
        break;
      case WalFileKind::kCompressedSegment:
        scan.contents.segments.push_back(
            {*name, parsed->timeline, parsed->segno, SegmentState::kCompressed});
        break;
      default:  // never uploaded (s3_archive_file_name refuses them)
        scan.foreign_keys.push_back(object.key);
        break;
    }
  }
  sort_archive_contents(scan.contents);
  if (!scan.contents.segments.empty()) {
    scan.contents.system_id =
        read_system_id(client, location, scan.contents.segments.back(), segment_size);
  }
  return scan;
}

ArchiveContents merge_archive_contents(const ArchiveContents& local,
                                       const ArchiveContents& remote) {
  if (local.system_id && remote.system_id && *local.system_id != *remote.system_id) {
    throw Error(ErrorKind::kUsage,
                "the bucket holds WAL of database system " + std::to_string(*remote.system_id) +
                    ", the local archive of system " + std::to_string(*local.system_id),
                "use another prefix for each database system");
  }
  ArchiveContents merged = local;
  std::set<std::string> names;
  for (const auto& segment : local.segments) names.insert(segment.file_name);
  for (const auto& segment : remote.segments) {
    if (names.insert(segment.file_name).second) merged.segments.push_back(segment);
  }
  merged.history_files.insert(merged.history_files.end(), remote.history_files.begin(),
                              remote.history_files.end());
  if (!merged.system_id) merged.system_id = remote.system_id;
  sort_archive_contents(merged);
  return merged;
}

}  // namespace walstream::storage
