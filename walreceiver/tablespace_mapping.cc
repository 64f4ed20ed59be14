#include "walreceiver/tablespace_mapping.h"

#include <filesystem>

#include "protocol/error.h"

namespace walstream::walreceiver {
namespace {

std::string canonical(const std::string& path) {
  std::string text = std::filesystem::path(path).lexically_normal().string();
  while (text.size() > 1 && text.back() == '/') text.pop_back();
  return text;
}

[[noreturn]] void invalid(const std::string& spec, const std::string& why) {
  throw Error(ErrorKind::kUsage, "invalid tablespace mapping \"" + spec + "\": " + why,
              "write -T OLDDIR=NEWDIR with absolute paths (\\= for an '=' inside a path)");
}

}  // namespace

void TablespaceMapping::add(const std::string& spec) {
  std::string old_dir;
  std::string new_dir;
  bool seen_separator = false;
  for (std::size_t i = 0; i < spec.size(); ++i) {
    char c = spec[i];
    if (c == '\\' && i + 1 < spec.size() && spec[i + 1] == '=') {
      (seen_separator ? new_dir : old_dir) += '=';
      ++i;
    } else if (c == '=' && !seen_separator) {
      seen_separator = true;
    } else if (c == '=') {
      invalid(spec, "more than one unescaped '='");
    } else {
      (seen_separator ? new_dir : old_dir) += c;
    }
  }
  if (!seen_separator || old_dir.empty() || new_dir.empty()) invalid(spec, "needs OLDDIR=NEWDIR");
  if (old_dir.front() != '/') invalid(spec, "old directory is not an absolute path");
  if (new_dir.front() != '/') invalid(spec, "new directory is not an absolute path");
  Entry entry{canonical(old_dir), canonical(new_dir)};
  for (const auto& existing : entries_) {
    if (existing.old_dir == entry.old_dir) invalid(spec, "that old directory is already mapped");
  }
  entries_.push_back(std::move(entry));
}

std::string TablespaceMapping::map(const std::string& location) const {
  const std::string key = canonical(location);
  for (const auto& entry : entries_) {
    if (entry.old_dir == key) return entry.new_dir;
  }
  return location;
}

}  // namespace walstream::walreceiver
