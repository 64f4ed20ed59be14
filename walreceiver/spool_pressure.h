// When `walstream receive --archive s3://` stops reading WAL from the server:
// the spool (the -D directory) holds completed files until the bucket has
// confirmed them. While the bucket is unreachable they pile up; past a bound
// the receiver stops reading (the server keeps the WAL for the slot) rather
// than fill the disk or drop anything.
//
// Full at `limit` files waiting; room again only once half of them are
// gone, so that an outage's end does not toggle reading per file.
#pragma once

#include <cstddef>

namespace walstream::walreceiver {

class SpoolPressure {
 public:
  enum class Change { kNone, kFull, kHasRoom };

  // `limit` files waiting for upload make the spool full; at least 1.
  explicit SpoolPressure(std::size_t limit);

  // The number of completed files waiting for their upload now; says when
  // the spool became full or has room again.
  Change update(std::size_t waiting);

  bool full() const { return full_; }
  std::size_t limit() const { return limit_; }

 private:
  std::size_t limit_;
  std::size_t resume_at_;
  bool full_ = false;
};

}  // namespace walstream::walreceiver
