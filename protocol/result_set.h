// A query result as plain values, so that protocol/ parses command results
// without libpq. walreceiver/ converts each PGresult into one of these.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace walstream::protocol {

struct ResultSet {
  std::vector<std::string> columns;
  std::vector<std::vector<std::optional<std::string>>> rows;  // nullopt = SQL NULL
};

}  // namespace walstream::protocol
