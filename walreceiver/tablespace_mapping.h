// -T/--tablespace-mapping OLDDIR=NEWDIR, as pg_basebackup spells it: both
// absolute, "\=" for an '=' inside a path, compared after lexical
// normalisation (trailing slashes, "." and ".." resolved).
#pragma once

#include <string>
#include <vector>

namespace walstream::walreceiver {

class TablespaceMapping {
 public:
  // Adds one "OLDDIR=NEWDIR"; throws walstream::Error (kUsage) naming what is
  // wrong. An OLDDIR given twice is an error.
  void add(const std::string& spec);
  // NEWDIR for a tablespace's server-side location, or the location itself.
  std::string map(const std::string& location) const;
  bool empty() const { return entries_.empty(); }

 private:
  struct Entry {
    std::string old_dir;
    std::string new_dir;
  };
  std::vector<Entry> entries_;
};

}  // namespace walstream::walreceiver
