#include "protocol/tar.h"

#include <algorithm>
#include <limits>
#include <optional>
#include <string>
#include <string_view>

#include "protocol/error.h"
#include "protocol/hex.h"
#include "protocol/quote_untrusted.h"

namespace walstream::protocol {
namespace {

// ustar header layout (offset, size).
constexpr std::size_t kNameOffset = 0;
constexpr std::size_t kNameSize = 100;
constexpr std::size_t kModeOffset = 100;
constexpr std::size_t kModeSize = 8;
constexpr std::size_t kSizeOffset = 124;
constexpr std::size_t kSizeSize = 12;
constexpr std::size_t kMtimeOffset = 136;
constexpr std::size_t kMtimeSize = 12;
constexpr std::size_t kChecksumOffset = 148;
constexpr std::size_t kChecksumSize = 8;
constexpr std::size_t kTypeOffset = 156;
constexpr std::size_t kLinkOffset = 157;
constexpr std::size_t kLinkSize = 100;
constexpr std::size_t kMagicOffset = 257;
constexpr std::size_t kPrefixOffset = 345;
constexpr std::size_t kPrefixSize = 155;

// POSIX magic "ustar\0". GNU's "ustar  " uses the prefix area for atime and
// ctime, so only the POSIX form has a prefix to join.
constexpr std::string_view kPosixMagic{"ustar\0", 6};

constexpr std::uint32_t kModeMask = 07777;

// A NUL-terminated (or full-width) text field of a header.
std::string_view text_field(ByteView block, std::size_t offset, std::size_t size) {
  std::string_view field = as_chars(block.subspan(offset, size));
  return field.substr(0, field.find('\0'));
}

bool all_zero(ByteView block) {
  return std::all_of(block.begin(), block.end(), [](std::byte b) { return b == std::byte{0}; });
}

// Walks the components of a relative path starting `depth` levels below the
// root; nullopt as soon as ".." would climb above the root, else the depth of
// the resolved path.
std::optional<std::size_t> resolved_depth(std::string_view path, std::size_t depth) {
  while (!path.empty()) {
    const std::size_t slash = path.find('/');
    const std::string_view part = path.substr(0, slash);
    path = slash == std::string_view::npos ? std::string_view{} : path.substr(slash + 1);
    if (part.empty() || part == ".") continue;
    if (part == "..") {
      if (depth == 0) return std::nullopt;
      --depth;
    } else {
      ++depth;
    }
  }
  return depth;
}

bool checksum_matches(ByteView block) {
  const auto stored = parse_tar_number(block.subspan(kChecksumOffset, kChecksumSize));
  if (!stored) return false;
  // The checksum field itself counts as eight spaces.
  constexpr int kBlankChecksum = static_cast<int>(kChecksumSize) * ' ';
  std::uint64_t unsigned_sum = kBlankChecksum;
  std::int64_t signed_sum = kBlankChecksum;
  for (std::size_t i = 0; i < block.size(); ++i) {
    if (i >= kChecksumOffset && i < kChecksumOffset + kChecksumSize) continue;
    const auto u = static_cast<std::uint8_t>(block[i]);
    unsigned_sum += u;
    signed_sum += static_cast<std::int8_t>(u);
  }
  // Some historic tars summed signed chars; accept either form.
  return *stored == unsigned_sum ||
         (signed_sum >= 0 && *stored == static_cast<std::uint64_t>(signed_sum));
}

std::string describe_type(char type) {
  std::string out = "'";
  if (type >= 0x20 && type < 0x7f) {
    out += type;
  } else {
    out += "\\x" + to_hex(static_cast<std::uint8_t>(type));
  }
  out += "'";
  switch (type) {
    case 'x':
      return out + " (pax extended header)";
    case 'g':
      return out + " (pax global header)";
    case 'L':
    case 'K':
      return out + " (gnu long name)";
    case '1':
      return out + " (hard link)";
    default:
      return out;
  }
}

}  // namespace

std::optional<std::uint64_t> parse_tar_number(ByteView field) {
  constexpr std::uint64_t kMax = std::numeric_limits<std::uint64_t>::max();
  if (field.empty()) return std::nullopt;
  // GNU base-256: used for values too large for the octal field (files of
  // 8 GiB and more). 0x80 marks a positive value.
  if (static_cast<std::uint8_t>(field[0]) == 0x80) {
    std::uint64_t value = 0;
    for (std::size_t i = 1; i < field.size(); ++i) {
      if (value > (kMax >> 8)) return std::nullopt;
      value = (value << 8) | static_cast<std::uint8_t>(field[i]);
    }
    return value;
  }
  const std::string_view text = as_chars(field);
  std::size_t i = 0;
  while (i < text.size() && (text[i] == ' ' || text[i] == '\0')) ++i;
  const std::size_t digits_begin = i;
  std::uint64_t value = 0;
  for (; i < text.size() && text[i] >= '0' && text[i] <= '7'; ++i) {
    if (value > (kMax >> 3)) return std::nullopt;
    value = (value << 3) | static_cast<std::uint64_t>(text[i] - '0');
  }
  if (i == digits_begin) return std::nullopt;
  for (; i < text.size(); ++i) {
    if (text[i] != ' ' && text[i] != '\0') return std::nullopt;
  }
  return value;
}

bool is_safe_relative_path(std::string_view path) {
  if (path.empty() || path.front() == '/') return false;
  // A NUL would silently truncate the name at the filesystem boundary.
  if (path.find('\0') != std::string_view::npos) return false;
  const auto depth = resolved_depth(path, 0);
  // Depth 0 ("." or "a/..") names the root itself, not something inside it.
  return depth.has_value() && *depth > 0;
}

TarParser::TarParser(TarMemberSink& sink, Trailer trailer) : sink_(sink), trailer_(trailer) {}

void TarParser::feed(ByteView chunk) {
  if (state_ == State::kFailed) {
    throw Error(ErrorKind::kInternal, "tar parser used after an error");
  }
  if (state_ == State::kFinished) {
    throw Error(ErrorKind::kInternal, "tar parser fed after finish");
  }
  try {
    feed_unchecked(chunk);
  } catch (...) {
    // Whatever threw (our checks or the sink), the stream position is lost.
    state_ = State::kFailed;
    throw;
  }
}

void TarParser::feed_unchecked(ByteView chunk) {
  while (!chunk.empty()) {
    switch (state_) {
      case State::kHeader: {
        if (header_filled_ == 0 && chunk.size() >= kTarBlockSize) {
          // Whole header in this chunk: parse it in place.
          parse_header(chunk.first(kTarBlockSize));
          chunk = chunk.subspan(kTarBlockSize);
          break;
        }
        const std::size_t n = std::min(kTarBlockSize - header_filled_, chunk.size());
        std::copy_n(chunk.begin(), n,
                    header_.begin() + static_cast<std::ptrdiff_t>(header_filled_));
        header_filled_ += n;
        chunk = chunk.subspan(n);
        if (header_filled_ == kTarBlockSize) {
          header_filled_ = 0;
          parse_header(header_);
        }
        break;
      }
      case State::kData: {
        const std::size_t n =
            static_cast<std::size_t>(std::min<std::uint64_t>(data_remaining_, chunk.size()));
        sink_.member_data(chunk.first(n));
        chunk = chunk.subspan(n);
        data_remaining_ -= n;
        if (data_remaining_ == 0) {
          if (padding_remaining_ == 0) {
            end_member();
          } else {
            state_ = State::kPadding;
          }
        }
        break;
      }
      case State::kPadding: {
        // Padding content is not checked: writers are not consistent about it.
        const std::size_t n =
            static_cast<std::size_t>(std::min<std::uint64_t>(padding_remaining_, chunk.size()));
        chunk = chunk.subspan(n);
        padding_remaining_ -= n;
        if (padding_remaining_ == 0) end_member();
        break;
      }
      case State::kTrailer:
      case State::kDone: {
        if (!all_zero(chunk)) throw ProtocolError("unexpected data after the tar archive trailer");
        if (state_ == State::kTrailer) {
          const std::size_t n = std::min(kTarBlockSize - trailer_filled_, chunk.size());
          trailer_filled_ += n;
          chunk = chunk.subspan(n);
          if (trailer_filled_ == kTarBlockSize) {
            trailer_filled_ = 0;
            ++zero_blocks_seen_;
            state_ = State::kDone;
          }
        } else {
          chunk = {};  // more zero blocks after the trailer are harmless
        }
        break;
      }
      case State::kFinished:
      case State::kFailed:
        throw Error(ErrorKind::kInternal, "tar parser in a terminal state");
    }
  }
}

void TarParser::parse_header(ByteView block) {
  if (all_zero(block)) {
    // The first zero block starts the two-block trailer.
    zero_blocks_seen_ = 1;
    trailer_filled_ = 0;
    state_ = State::kTrailer;
    return;
  }
  const std::string_view name = text_field(block, kNameOffset, kNameSize);
  if (!checksum_matches(block)) {
    throw ProtocolError("bad tar header checksum (member " + quote_untrusted(name) + ")");
  }

  std::string raw_path;
  const std::string_view prefix = text_field(block, kPrefixOffset, kPrefixSize);
  if (as_chars(block.subspan(kMagicOffset, kPosixMagic.size())) == kPosixMagic && !prefix.empty()) {
    raw_path.append(prefix).append("/").append(name);
  } else {
    raw_path.assign(name);
  }

  const char type_flag = static_cast<char>(block[kTypeOffset]);
  TarMember member;
  switch (type_flag) {
    case '0':
    case '\0':
      member.type = TarMemberType::kFile;
      break;
    case '5':
      member.type = TarMemberType::kDirectory;
      break;
    case '2':
      member.type = TarMemberType::kSymlink;
      break;
    default:
      throw ProtocolError("unsupported tar member type " + describe_type(type_flag) +
                          " for member " + quote_untrusted(raw_path));
  }

  std::string_view path = raw_path;
  while (path.starts_with("./")) path.remove_prefix(2);
  while (path.ends_with('/')) path.remove_suffix(1);
  if (!is_safe_relative_path(path)) {
    throw ProtocolError("tar member " + quote_untrusted(raw_path) + " has an unsafe path name");
  }
  member.path.assign(path);

  const auto mode = parse_tar_number(block.subspan(kModeOffset, kModeSize));
  const auto size = parse_tar_number(block.subspan(kSizeOffset, kSizeSize));
  const auto mtime = parse_tar_number(block.subspan(kMtimeOffset, kMtimeSize));
  if (!mode || !size || !mtime ||
      *mtime > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
    throw ProtocolError("tar member " + quote_untrusted(raw_path) +
                        " has a malformed numeric field");
  }
  member.mode = static_cast<std::uint32_t>(*mode & kModeMask);
  member.mtime = static_cast<std::int64_t>(*mtime);
  member.size = *size;

  if (member.type != TarMemberType::kFile && member.size != 0) {
    // Content we would not know what to do with; refuse rather than skip.
    throw ProtocolError("tar member " + quote_untrusted(raw_path) +
                        " is not a file but has content");
  }

  if (member.type == TarMemberType::kSymlink) {
    const std::string_view target = text_field(block, kLinkOffset, kLinkSize);
    if (target.empty()) {
      throw ProtocolError("tar symlink " + quote_untrusted(raw_path) + " has an empty target");
    }
    // Absolute targets are how tablespaces are linked; a relative target is
    // resolved from the link's directory and must stay inside the root.
    if (target.front() != '/') {
      const std::size_t link_dir_depth = *resolved_depth(member.path, 0) - 1;
      if (!resolved_depth(target, link_dir_depth)) {
        throw ProtocolError("tar symlink " + quote_untrusted(raw_path) +
                            " has an unsafe link target " + quote_untrusted(target));
      }
    }
    member.link_target.assign(target);
  }

  current_path_ = member.path;
  data_remaining_ = member.size;
  padding_remaining_ = (kTarBlockSize - member.size % kTarBlockSize) % kTarBlockSize;
  sink_.member_begin(member);
  if (data_remaining_ == 0) {
    end_member();
  } else {
    state_ = State::kData;
  }
}

void TarParser::end_member() {
  state_ = State::kHeader;
  sink_.member_end();
}

void TarParser::finish() {
  switch (state_) {
    case State::kFinished:
      return;  // archive_end was already delivered
    case State::kFailed:
      throw Error(ErrorKind::kInternal, "tar parser used after an error");
    case State::kHeader:
      if (header_filled_ != 0) {
        state_ = State::kFailed;
        throw ProtocolError("tar archive ends inside a member header");
      }
      if (trailer_ == Trailer::kRequired) {
        state_ = State::kFailed;
        throw ProtocolError("tar archive ends without its trailer");
      }
      break;
    case State::kData:
    case State::kPadding:
      state_ = State::kFailed;
      throw ProtocolError("tar archive ends inside member " + quote_untrusted(current_path_));
    case State::kTrailer:
      if (trailer_ == Trailer::kRequired) {
        state_ = State::kFailed;
        throw ProtocolError("tar archive ends inside its trailer");
      }
      break;
    case State::kDone:
      break;
  }
  state_ = State::kFinished;
  sink_.archive_end();
}

}  // namespace walstream::protocol
