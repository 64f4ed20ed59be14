#include "storage/s3_wal_source.h"

#include <zstd.h>

#include <algorithm>
#include <array>
#include <tuple>

#include "protocol/error.h"
#include "protocol/wal_file_names.h"
#include "protocol/wal_page.h"

namespace walstream::storage {
namespace {

using protocol::WalFileKind;

// Thrown by a sink to end a GET early; never leaves this file.
struct StopReading {};

[[noreturn]] void throw_invalid_segment(const std::string& name, const std::string& reason) {
  throw Error(ErrorKind::kIo,
              "file \"" + name + "\" in the archive is not a valid WAL segment: " + reason,
              "delete the object or upload the segment again");
}

// An answer the S3 client could not accept says nothing about the archive:
// it ends verification as an S3 error (kProtocol is what a damaged history
// file throws, which is damage found).
template <typename Request>
auto s3_request(Request&& request) {
  try {
    return request();
  } catch (const Error& e) {
    if (e.kind() == ErrorKind::kProtocol) throw Error(ErrorKind::kServer, e.what(), e.hint());
    throw;
  }
}

// ZSTD_FRAMEHEADERSIZE_MAX, which zstd.h only exports with ZSTD_STATIC_LINKING_ONLY.
constexpr std::size_t kMaxFrameHeaderSize = 18;

}  // namespace

S3WalSource::S3WalSource(S3Client& client, protocol::S3Location location)
    : client_(client), location_(std::move(location)) {}

std::string S3WalSource::url_of(const std::string& name) const {
  return "s3://" + location_.bucket + "/" + location_.prefix + name;
}

std::vector<std::string> S3WalSource::list_names() {
  if (!listing_) {
    const auto objects =
        s3_request([&] { return client_.list_objects(location_.bucket, location_.prefix); });
    std::map<std::string, std::uint64_t> listing;
    for (const S3ListedObject& object : objects) {
      if (auto name = protocol::s3_archive_file_name(location_, object.key)) {
        listing.emplace(std::move(*name), object.size);
      }
    }
    listing_ = std::move(listing);
  }
  std::vector<std::string> names;
  for (const auto& [name, size] : *listing_) names.push_back(name);
  return names;
}

void S3WalSource::get(const std::string& name, const std::function<bool(ByteView)>& raw) {
  std::optional<S3ObjectInfo> found;
  try {
    found = s3_request([&] {
      return client_.get_object(location_.bucket, location_.prefix + name, [&](ByteView piece) {
        if (!raw(piece)) throw StopReading{};
      });
    });
  } catch (const StopReading&) {
    return;
  }
  if (!found) {
    throw Error(ErrorKind::kIo, "object \"" + url_of(name) + "\" disappeared while verifying");
  }
}

ArchiveContents S3WalSource::scan(std::uint64_t segment_size) {
  ArchiveContents contents;
  const std::vector<std::string> names = list_names();
  for (const std::string& name : names) {
    const auto parsed = protocol::parse_wal_file_name(name, segment_size);
    if (!parsed) continue;
    if (parsed->kind == WalFileKind::kHistory) {
      contents.history_files.push_back(parsed->timeline);
      continue;
    }
    SegmentState state = SegmentState::kComplete;
    if (parsed->kind == WalFileKind::kCompressedSegment) {
      state = SegmentState::kCompressed;
    } else if (parsed->kind == WalFileKind::kPartialSegment) {
      state = SegmentState::kPartial;
    } else if (parsed->kind != WalFileKind::kSegment) {
      continue;
    }
    contents.segments.push_back(ArchivedSegment{name, parsed->timeline, parsed->segno, state});
  }
  sort_archive_contents(contents);

  for (const ArchivedSegment& segment : contents.segments) {
    if (segment.state == SegmentState::kPartial) continue;
    std::array<std::byte, protocol::kWalPageSize> page{};
    std::size_t have = 0;
    if (segment.state == SegmentState::kComplete) {
      const std::uint64_t size = listing_->at(segment.file_name);
      if (size != segment_size) {
        throw_invalid_segment(
            segment.file_name,
            "it has " + std::to_string(size) + " bytes, expected " + std::to_string(segment_size));
      }
      have = read_prefix(segment.file_name, false, page);
    } else {
      // One GET: the frame header says the content size, the first page
      // follows.
      std::array<std::byte, kMaxFrameHeaderSize> frame{};
      std::size_t frame_have = 0;
      bool size_checked = false;
      ZstdDecoder decoder("object \"" + url_of(segment.file_name) + "\"", ErrorKind::kIo);
      auto check_size = [&] {
        size_checked = true;
        const unsigned long long content = ZSTD_getFrameContentSize(frame.data(), frame_have);
        if (content == ZSTD_CONTENTSIZE_ERROR) {
          throw_invalid_segment(segment.file_name, "not a zstd-compressed file");
        }
        if (content == ZSTD_CONTENTSIZE_UNKNOWN) {
          throw_invalid_segment(segment.file_name,
                                "its zstd frame does not record the content size");
        }
        if (content != segment_size) {
          throw_invalid_segment(segment.file_name, "it holds " + std::to_string(content) +
                                                       " bytes, expected " +
                                                       std::to_string(segment_size));
        }
      };
      try {
        get(segment.file_name, [&](ByteView piece) {
          const std::size_t take = std::min(piece.size(), frame.size() - frame_have);
          std::copy_n(piece.begin(), take, frame.begin() + static_cast<std::ptrdiff_t>(frame_have));
          frame_have += take;
          if (!size_checked && frame_have == frame.size()) check_size();
          return decoder.feed(piece, [&](ByteView plain) {
            const std::size_t copy = std::min(plain.size(), page.size() - have);
            std::copy_n(plain.begin(), copy, page.begin() + static_cast<std::ptrdiff_t>(have));
            have += copy;
            return have < page.size();
          });
        });
        if (!size_checked) check_size();
      } catch (const Error& e) {
        if (e.kind() != ErrorKind::kIo) throw;
        const std::string what = e.what();
        if (what.find("is not a valid WAL segment") != std::string::npos) throw;
        throw_invalid_segment(segment.file_name, what);
      }
    }
    const std::string problem = protocol::check_segment_first_page(
        ByteView(page).first(have), segment.segno, segment_size, contents.system_id);
    if (!problem.empty()) throw_invalid_segment(segment.file_name, problem);
    if (!contents.system_id) {
      contents.system_id = protocol::parse_long_page_header(ByteView(page).first(have))->system_id;
    }
  }
  return contents;
}

std::size_t S3WalSource::read_prefix(const std::string& name, bool compressed,
                                     MutableByteView out) {
  std::size_t have = 0;
  if (out.empty()) return 0;
  read_content(name, compressed, 0, [&](ByteView plain) {
    const std::size_t copy = std::min(plain.size(), out.size() - have);
    std::copy_n(plain.begin(), copy, out.begin() + static_cast<std::ptrdiff_t>(have));
    have += copy;
    return have < out.size();
  });
  return have;
}

std::string S3WalSource::read_small_file(const std::string& name, std::uint64_t max_size) {
  std::string content;
  get(name, [&](ByteView piece) {
    if (content.size() + piece.size() > max_size) {
      throw Error(ErrorKind::kIo, "object \"" + url_of(name) + "\" is larger than " +
                                      std::to_string(max_size) + " bytes");
    }
    content.append(reinterpret_cast<const char*>(piece.data()), piece.size());
    return true;
  });
  return content;
}

void S3WalSource::read_content(const std::string& name, bool compressed, std::uint64_t offset,
                               const ZstdOutput& out) {
  // No Range request: the bytes before `offset` go by (at most a segment).
  auto skip_then_out = [&](ByteView plain) {
    const std::size_t skipped =
        static_cast<std::size_t>(std::min<std::uint64_t>(offset, plain.size()));
    offset -= skipped;
    return out(plain.subspan(skipped));
  };
  if (!compressed) {
    get(name, skip_then_out);
    return;
  }
  ZstdDecoder decoder("object \"" + url_of(name) + "\"", ErrorKind::kIo);
  bool stopped = false;
  get(name, [&](ByteView piece) {
    stopped = !decoder.feed(piece, skip_then_out);
    return !stopped;
  });
  if (!stopped) decoder.finish();
}

}  // namespace walstream::storage
