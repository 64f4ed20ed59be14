#include "walreceiver/standby_conninfo_facts.h"

#include <libpq-fe.h>

#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <string>

namespace walstream::walreceiver {
namespace {

struct ConninfoOptionsDeleter {
  void operator()(PQconninfoOption* options) const { PQconninfoFree(options); }
};
using ConninfoOptions = std::unique_ptr<PQconninfoOption, ConninfoOptionsDeleter>;

std::string or_empty(const char* text) { return text != nullptr ? text : ""; }

std::optional<std::string> dbname_in(const ConninfoOptions& options) {
  if (!options) return std::nullopt;
  for (const PQconninfoOption* option = options.get(); option->keyword != nullptr; ++option) {
    if (std::strcmp(option->keyword, "dbname") == 0 && option->val != nullptr &&
        *option->val != '\0') {
      return std::string(option->val);
    }
  }
  return std::nullopt;
}

// -d parsed as libpq parses it; it already parsed once to connect.
std::optional<std::string> conninfo_dbname(const std::string& conninfo) {
  if (conninfo.empty()) return std::nullopt;
  char* error = nullptr;
  ConninfoOptions parsed(PQconninfoParse(conninfo.c_str(), &error));
  if (error != nullptr) PQfreemem(error);
  return dbname_in(parsed);
}

}  // namespace

protocol::StandbyConninfoFacts gather_standby_conninfo_facts(const PgConnection& conn,
                                                             const ConnectionOptions& options) {
  protocol::StandbyConninfoFacts facts;
  ConninfoOptions effective(PQconninfo(conn.native()));
  if (effective) {
    for (const PQconninfoOption* option = effective.get(); option->keyword != nullptr; ++option) {
      protocol::LibpqOption fact{option->keyword, or_empty(option->val), or_empty(option->compiled),
                                 or_empty(option->envvar)};
      if (!fact.envvar.empty() && std::getenv(fact.envvar.c_str()) != nullptr) {
        facts.environment.insert(fact.envvar);
      }
      facts.options.push_back(std::move(fact));
    }
  }
  for (const auto& [keyword, value] : replication_keywords(options, conn.password())) {
    if (!value.empty()) facts.given_keywords.insert(keyword);
  }
  facts.conninfo_dbname = conninfo_dbname(options.conninfo);
  facts.default_dbname = dbname_in(ConninfoOptions(PQconndefaults()));
  return facts;
}

}  // namespace walstream::walreceiver
