// A streaming ustar reader for the archives BASE_BACKUP sends. It turns a byte
// stream cut at arbitrary points into member events; member contents are
// passed through as sub-spans of the caller's buffer (no copy). Only the
// 512-byte header is buffered, when it straddles two chunks.
//
//   feed(chunk) ... feed(chunk) finish()
//     -> member_begin(header) member_data(span)* member_end() ... archive_end()
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "protocol/bytes.h"

namespace walstream::protocol {

inline constexpr std::size_t kTarBlockSize = 512;

enum class TarMemberType { kFile, kDirectory, kSymlink };

struct TarMember {
  std::string path;  // relative, without the trailing '/' of directories and links
  TarMemberType type = TarMemberType::kFile;
  std::uint32_t mode = 0;  // permission bits (07777)
  std::uint64_t size = 0;  // 0 for directories and symlinks
  std::int64_t mtime = 0;
  std::string link_target;  // symlinks only
};

class TarMemberSink {
 public:
  virtual ~TarMemberSink() = default;
  virtual void member_begin(const TarMember& member) = 0;
  // Consecutive pieces of the current member's content, in order. The span is
  // valid only during the call.
  virtual void member_data(ByteView data) = 0;
  virtual void member_end() = 0;
  virtual void archive_end() = 0;
};

// Parses the octal (or GNU base-256) numeric field of a header; nullopt if bad.
std::optional<std::uint64_t> parse_tar_number(ByteView field);

// True if `path` is relative and, once "." and ".." are resolved, stays inside
// the directory it is extracted into ("base/../x" is fine, "../x" and "/x" are
// not).
bool is_safe_relative_path(std::string_view path);

class TarParser {
 public:
  enum class Trailer {
    kRequired,  // servers 15+ end each archive with two zero blocks
    kOptional,  // servers up to 14 omit them; end of input ends the archive
  };

  TarParser(TarMemberSink& sink, Trailer trailer);

  // Throws walstream::Error (kProtocol) on a bad header checksum, an unsafe
  // member name, an unsupported member type or data after the trailer.
  void feed(ByteView chunk);
  // End of input: throws if it falls inside a header or a member's content,
  // or if the trailer is required and missing. Calls sink.archive_end().
  void finish();

 private:
  enum class State { kHeader, kData, kPadding, kTrailer, kDone, kFinished, kFailed };

  void feed_unchecked(ByteView chunk);
  void parse_header(ByteView block);
  void end_member();

  TarMemberSink& sink_;
  Trailer trailer_;
  State state_ = State::kHeader;
  std::array<std::byte, kTarBlockSize> header_{};
  std::size_t header_filled_ = 0;
  std::uint64_t data_remaining_ = 0;
  std::uint64_t padding_remaining_ = 0;
  int zero_blocks_seen_ = 0;
  std::size_t trailer_filled_ = 0;  // bytes of the current trailer block seen
  std::string current_path_;        // for "ends inside member X"
};

}  // namespace walstream::protocol
