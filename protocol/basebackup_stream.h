// Demultiplexes the single COPY stream BASE_BACKUP sends from PostgreSQL 15 on.
// Every CopyData message starts with a type byte:
//   'n' archive_name\0 tablespace_path\0   a new archive begins (path "" = main)
//   'd' bytes                              archive (or, after 'm', manifest) data
//   'p' int64                              bytes done so far, whole backup
//   'm'                                    the manifest follows as 'd' messages
// An archive ends at the next 'n', at 'm', or at the end of the stream.
// Servers up to 14 send one CopyOut stream per tablespace instead; their
// driver calls the BackupStreamHandler directly.
#pragma once

#include <cstdint>
#include <string_view>

#include "protocol/bytes.h"

namespace walstream::protocol {

class BackupStreamHandler {
 public:
  virtual ~BackupStreamHandler() = default;
  // tablespace_path is the server-side location, "" for the main directory.
  virtual void archive_begin(std::string_view archive_name, std::string_view tablespace_path) = 0;
  virtual void archive_data(ByteView data) = 0;  // valid only during the call
  virtual void archive_end() = 0;
  virtual void manifest_begin() = 0;
  virtual void manifest_data(ByteView data) = 0;
  virtual void manifest_end() = 0;
  virtual void progress(std::uint64_t bytes_done) = 0;
};

class BackupStreamDecoder {
 public:
  explicit BackupStreamDecoder(BackupStreamHandler& handler);

  // One CopyData payload. Throws walstream::Error (kProtocol) on an unknown
  // type, a truncated or over-long message, an unsafe archive name (empty,
  // leading '.', containing '/' or '\'), data before any archive, or an
  // archive after the manifest.
  void feed(ByteView message);
  // End of the COPY stream: closes the open archive or manifest.
  void finish();

 private:
  enum class State { kStart, kArchive, kManifest, kDone, kFailed };

  void feed_unchecked(ByteView message);

  BackupStreamHandler& handler_;
  State state_ = State::kStart;
};

}  // namespace walstream::protocol
