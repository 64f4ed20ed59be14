// What an archiver streaming into object storage may report as flushed with
// --ack=remote: only WAL whose object is confirmed in the bucket, so that the
// primary (through the slot) keeps WAL until it is off this machine.
//
// Archive files complete locally in stream order (segments, and each
// timeline's .history before any WAL of that timeline); their uploads are
// confirmed in any order, several at a time. The reportable position is the
// end of the newest segment in the longest confirmed run from the oldest
// file: a confirmed segment behind an unconfirmed one (or behind its
// timeline's unconfirmed history file) reports nothing yet.
//
// Pure: no clock, no I/O. The uploader says what completed and what was
// confirmed; the stream reports what this returns.
#pragma once

#include <cstddef>
#include <deque>
#include <optional>
#include <string>

#include "protocol/stream_position.h"

namespace walstream::walreceiver {

class RemoteAckTracker {
 public:
  // A file completed locally and is queued for upload, in stream order.
  // `end` is where the WAL it holds ends (a segment's end, or a timeline's
  // switch point); nullopt for a file that holds no WAL (a .history file),
  // which only holds back what follows it. Throws walstream::Error
  // (kInternal) for a name already pending or a position that goes back on
  // one timeline.
  void completed(std::string name, std::optional<protocol::StreamPosition> end);

  // The upload of `name` is confirmed (its checksum read back). Returns
  // true when the reportable position advanced. Throws walstream::Error
  // (kInternal) for a name that is not pending.
  bool confirmed(const std::string& name);

  // The newest position that is confirmed together with everything before
  // it; nullopt until the first segment is.
  const std::optional<protocol::StreamPosition>& reportable() const { return reportable_; }

  // Files completed and not yet confirmed or passed over: the spool's depth.
  std::size_t pending() const { return queue_.size(); }

 private:
  struct Entry {
    std::string name;
    std::optional<protocol::StreamPosition> end;
    bool confirmed = false;
  };

  std::deque<Entry> queue_;
  std::optional<protocol::StreamPosition> last_completed_;
  std::optional<protocol::StreamPosition> reportable_;
};

}  // namespace walstream::walreceiver
