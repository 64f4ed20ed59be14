#include "tests/integration/primary_conninfo.h"

#include <libpq-fe.h>

#include <gtest/gtest.h>

#include "tests/integration/test_env.h"

namespace walstream::it {

namespace fs = std::filesystem;

std::string primary_conninfo_text(const fs::path& data_dir) {
  const std::string prefix = "primary_conninfo = '";
  std::string quoted;
  for (const auto& line : non_empty_lines(read_file(data_dir / "postgresql.auto.conf"))) {
    if (line.starts_with(prefix)) quoted = line.substr(prefix.size());
  }
  std::string value;
  for (std::size_t i = 0; i < quoted.size(); ++i) {
    const char c = quoted[i];
    if (c == '\\' && i + 1 < quoted.size()) {
      value += quoted[++i];
    } else if (c == '\'' && i + 1 < quoted.size() && quoted[i + 1] == '\'') {
      value += '\'';
      ++i;
    } else if (c == '\'') {
      break;  // the closing quote
    } else {
      value += c;
    }
  }
  return value;
}

ConninfoMap primary_conninfo(const fs::path& data_dir) {
  const std::string text = primary_conninfo_text(data_dir);
  char* error = nullptr;
  PQconninfoOption* options = PQconninfoParse(text.c_str(), &error);
  if (options == nullptr) {
    const std::string reason = error != nullptr ? error : "out of memory";
    PQfreemem(error);
    ADD_FAILURE() << "primary_conninfo does not parse: " << reason << " in: " << text;
    return {};
  }
  ConninfoMap map;
  for (PQconninfoOption* option = options; option->keyword != nullptr; ++option) {
    if (option->val != nullptr) map[option->keyword] = option->val;
  }
  PQconninfoFree(options);
  return map;
}

}  // namespace walstream::it
