#include "protocol/basebackup_stream.h"

#include <string>

#include "protocol/error.h"
#include "protocol/hex.h"
#include "protocol/quote_untrusted.h"

namespace walstream::protocol {
namespace {

constexpr std::size_t kProgressPayloadSize = 8;

// Same rule as pg_basebackup: the name is used as a file name in the output
// directory, so it must not be hidden, empty or contain a path separator.
bool is_valid_archive_name(std::string_view name) {
  return !name.empty() && name.front() != '.' && name.find('/') == std::string_view::npos &&
         name.find('\\') == std::string_view::npos;
}

}  // namespace

BackupStreamDecoder::BackupStreamDecoder(BackupStreamHandler& handler) : handler_(handler) {}

void BackupStreamDecoder::feed(ByteView message) {
  if (state_ == State::kFailed) {
    throw Error(ErrorKind::kInternal, "base backup stream decoder used after an error");
  }
  if (state_ == State::kDone) {
    throw Error(ErrorKind::kInternal, "base backup stream decoder fed after finish");
  }
  try {
    feed_unchecked(message);
  } catch (...) {
    state_ = State::kFailed;
    throw;
  }
}

void BackupStreamDecoder::feed_unchecked(ByteView message) {
  if (message.empty()) throw ProtocolError("empty message in base backup stream");
  const char type = static_cast<char>(message.front());
  const ByteView body = message.subspan(1);

  switch (type) {
    case 'n': {
      if (state_ == State::kManifest) {
        throw ProtocolError("base backup stream starts an archive after the manifest");
      }
      const std::string_view text = as_chars(body);
      const std::size_t name_end = text.find('\0');
      const std::size_t path_end =
          name_end == std::string_view::npos ? name_end : text.find('\0', name_end + 1);
      if (path_end == std::string_view::npos) {
        throw ProtocolError("truncated 'n' (new archive) message in base backup stream");
      }
      if (path_end + 1 != text.size()) {
        throw ProtocolError("'n' (new archive) message in base backup stream has " +
                            std::to_string(text.size() - path_end - 1) + " trailing bytes");
      }
      const std::string_view name = text.substr(0, name_end);
      const std::string_view path = text.substr(name_end + 1, path_end - name_end - 1);
      if (!is_valid_archive_name(name)) {
        throw ProtocolError("invalid archive name " + quote_untrusted(name) +
                            " in base backup stream");
      }
      if (state_ == State::kArchive) handler_.archive_end();
      state_ = State::kArchive;
      handler_.archive_begin(name, path);
      break;
    }
    case 'd':
      if (state_ == State::kStart) {
        throw ProtocolError("base backup stream sends data before any archive");
      }
      if (body.empty()) break;  // nothing to deliver
      if (state_ == State::kArchive) {
        handler_.archive_data(body);
      } else {
        handler_.manifest_data(body);
      }
      break;
    case 'p':
      if (body.size() != kProgressPayloadSize) {
        throw ProtocolError("'p' (progress) message in base backup stream has " +
                            std::to_string(body.size()) + " bytes of payload, expected 8");
      }
      handler_.progress(load_be64(body.data()));
      break;
    case 'm':
      if (!body.empty()) {
        throw ProtocolError("'m' (manifest) message in base backup stream has " +
                            std::to_string(body.size()) + " unexpected bytes of payload");
      }
      if (state_ == State::kManifest) {
        throw ProtocolError("base backup stream starts the manifest twice");
      }
      if (state_ == State::kArchive) handler_.archive_end();
      state_ = State::kManifest;
      handler_.manifest_begin();
      break;
    default: {
      throw ProtocolError("unknown message type 0x" + to_hex(static_cast<std::uint8_t>(type)) +
                          " in base backup stream");
    }
  }
}

void BackupStreamDecoder::finish() {
  switch (state_) {
    case State::kFailed:
      throw Error(ErrorKind::kInternal, "base backup stream decoder used after an error");
    case State::kDone:
      return;
    case State::kStart:
      break;
    case State::kArchive:
      state_ = State::kDone;
      handler_.archive_end();
      break;
    case State::kManifest:
      state_ = State::kDone;
      handler_.manifest_end();
      break;
  }
  state_ = State::kDone;
}

}  // namespace walstream::protocol
