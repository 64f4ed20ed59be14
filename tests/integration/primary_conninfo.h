// What a clone's standby configuration says about its primary, read back the
// way the standby itself reads it: postgresql.conf quoting undone, then the
// connection string parsed by libpq.
#pragma once

#include <filesystem>
#include <map>
#include <string>

namespace walstream::it {

// keyword -> value of the options that are set.
using ConninfoMap = std::map<std::string, std::string>;

// The value of the last `primary_conninfo = '...'` line of
// postgresql.auto.conf, with postgresql.conf's quoting undone ('' and \x
// stand for ' and x).
std::string primary_conninfo_text(const std::filesystem::path& data_dir);

// primary_conninfo as libpq parses it; adds a test failure (and returns an
// empty map) when it does not parse.
ConninfoMap primary_conninfo(const std::filesystem::path& data_dir);

}  // namespace walstream::it
