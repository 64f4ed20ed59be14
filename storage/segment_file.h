// One WAL segment file being written. Shared (shared_ptr) between the writer
// on the io thread, which pwrites into it, and the syncer thread, which
// fdatasyncs it and, once it is full and durable, renames it to its final name.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "protocol/lsn.h"
#include "storage/file_util.h"

namespace walstream::storage {

struct SegmentFile {
  UniqueFd fd;
  std::string name;  // final name, e.g. 000000010000000000000003
  std::filesystem::path partial_path;
  std::filesystem::path final_path;
  protocol::TimelineId timeline = 0;
  protocol::SegmentNo segno = 0;
  // Set by the syncer once the directory entry of the new file is durable
  // (fsync of the directory after the first fdatasync). Syncer thread only.
  bool entry_durable = false;
  // Set by the writer, before it hands the full segment over, when it
  // checked every page header in memory as the bytes went to the file: ""
  // if they are valid, else the first problem. nullopt: the completion reads
  // the file back to check it.
  std::optional<std::string> page_problem;
};

using SegmentFilePtr = std::shared_ptr<SegmentFile>;

}  // namespace walstream::storage
