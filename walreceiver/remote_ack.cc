#include "walreceiver/remote_ack.h"

#include <algorithm>

#include "protocol/error.h"

namespace walstream::walreceiver {

void RemoteAckTracker::completed(std::string name, std::optional<protocol::StreamPosition> end) {
  if (std::any_of(queue_.begin(), queue_.end(),
                  [&](const Entry& entry) { return entry.name == name; })) {
    throw Error(ErrorKind::kInternal, "archive file " + name + " completed twice");
  }
  if (end) {
    // A later timeline may restart below the old one's end (it continues
    // from the switch segment's start); on one timeline WAL only grows.
    if (last_completed_ && last_completed_->timeline == end->timeline &&
        end->lsn < last_completed_->lsn) {
      throw Error(ErrorKind::kInternal, "archive file " + name + " ends at " +
                                            protocol::to_string(*end) + ", before " +
                                            protocol::to_string(*last_completed_));
    }
    last_completed_ = end;
  }
  queue_.push_back(Entry{std::move(name), end, false});
}

bool RemoteAckTracker::confirmed(const std::string& name) {
  auto entry = std::find_if(queue_.begin(), queue_.end(),
                            [&](const Entry& candidate) { return candidate.name == name; });
  if (entry == queue_.end()) {
    throw Error(ErrorKind::kInternal, "archive file " + name + " confirmed but not pending");
  }
  entry->confirmed = true;
  bool advanced = false;
  while (!queue_.empty() && queue_.front().confirmed) {
    if (queue_.front().end) {
      reportable_ = queue_.front().end;
      advanced = true;
    }
    queue_.pop_front();
  }
  return advanced;
}

}  // namespace walstream::walreceiver
