// Fuzz target for the standby's connection settings (protocol/conninfo.h):
// which options go into primary_conninfo, how they are written, and how
// that string is written into the configuration file. The input makes the
// facts about a clone's connection:
//   byte  server major: 10 + (b % 9)
//   byte  option count (b % 8), then each option:
//         byte  keyword (from a list of known, unknown and walreceiver ones)
//         byte  flags: 1 given on the command line, 2 its PG* variable is
//               set, 4 it has a compiled default, 8 the default is its value
//         the value (length byte and bytes), [the default, likewise]
//   byte  flags: 1 a -d dbname follows, 2 a default dbname follows, 4 a slot
//         name follows; then those, length byte and bytes each
// Values never hold NUL: libpq hands out C strings.
// Oracles: libpq itself (PQconninfoParse) reads back every value of the
// written conninfo, when the libpq linked here knows every keyword in it;
// PostgreSQL's configuration-file grammar, implemented below from its
// documented rules, reads back primary_conninfo and primary_slot_name from the
// configuration text. The choice of options follows its rules: walreceiver's
// own keywords and empty values never go in, a dbname the user gave comes
// last, nothing is invented or reordered, an unset compiled default is left
// out, and a newer server major never knows fewer keywords.
#include <libpq-fe.h>

#include <cctype>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/conninfo.h"
#include "tests/fuzz/fuzz_support.h"

namespace {

using walstream::fuzz::check;
using walstream::fuzz::FuzzInput;
using namespace walstream::protocol;

constexpr const char* kKeywords[] = {
    "host",
    "hostaddr",
    "port",
    "user",
    "password",
    "passfile",
    "connect_timeout",
    "client_encoding",
    "options",
    "application_name",
    "sslmode",
    "sslcert",
    "sslrootcert",
    "gssencmode",
    "channel_binding",
    "sslcrldir",
    "sslsni",
    "require_auth",
    "load_balance_hosts",
    "sslnegotiation",
    "servicefile",
    "oauth_issuer",
    "service",
    "target_session_attrs",
    "replication",
    "dbname",
    "fallback_application_name",
    "no_such_keyword",
};

bool is_walreceiver_keyword(std::string_view keyword) {
  return keyword == "replication" || keyword == "dbname" || keyword == "fallback_application_name";
}

std::string without_nul(std::string text) {
  for (char& c : text) {
    if (c == '\0') c = '\x01';
  }
  return text;
}

std::string envvar_of(std::string_view keyword) {
  std::string name = "PG";
  for (char c : keyword) name += static_cast<char>(c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c);
  return name;
}

struct Case {
  StandbyConninfoFacts facts;
  int major = 0;
  std::optional<std::string> slot;
};

Case decode(FuzzInput& input) {
  Case c;
  c.major = static_cast<int>(10 + input.pick(9));
  std::set<std::string> seen;
  for (std::size_t n = input.pick(8); n > 0; --n) {
    LibpqOption option;
    option.keyword = kKeywords[input.pick(std::size(kKeywords))];
    const std::uint8_t flags = input.byte();
    option.value = without_nul(input.text(64));
    if ((flags & 4) != 0) {
      option.compiled_default = (flags & 8) != 0 ? option.value : without_nul(input.text(16));
    }
    option.envvar = envvar_of(option.keyword);
    if (!seen.insert(option.keyword).second) continue;  // PQconninfo lists each once
    if ((flags & 1) != 0) c.facts.given_keywords.insert(option.keyword);
    if ((flags & 2) != 0) c.facts.environment.insert(option.envvar);
    c.facts.options.push_back(std::move(option));
  }
  const std::uint8_t flags = input.byte();
  if ((flags & 1) != 0) c.facts.conninfo_dbname = without_nul(input.text(32));
  if ((flags & 2) != 0) c.facts.default_dbname = without_nul(input.text(32));
  if ((flags & 4) != 0) c.slot = without_nul(input.text(64));
  return c;
}

std::optional<std::string> user_dbname(const StandbyConninfoFacts& facts) {
  if (facts.conninfo_dbname && !facts.conninfo_dbname->empty()) return facts.conninfo_dbname;
  if (facts.default_dbname && !facts.default_dbname->empty()) return facts.default_dbname;
  return std::nullopt;
}

// The options chosen, without the trailing dbname.
std::vector<ConninfoOption> check_choice(const Case& c, const std::vector<ConninfoOption>& kept) {
  std::vector<ConninfoOption> options = kept;
  const auto dbname = user_dbname(c.facts);
  check(dbname.has_value() == (!options.empty() && options.back().keyword == "dbname"));
  if (dbname) {
    check(options.back().value == *dbname);
    options.pop_back();
  }
  std::size_t next = 0;  // options come in facts order, each from its fact
  for (const ConninfoOption& option : options) {
    check(!option.value.empty() && !is_walreceiver_keyword(option.keyword));
    while (next < c.facts.options.size() && c.facts.options[next].keyword != option.keyword) {
      ++next;
    }
    check(next < c.facts.options.size());
    const LibpqOption& fact = c.facts.options[next++];
    check(fact.value == option.value);
    const bool set_by_user =
        c.facts.given_keywords.contains(fact.keyword) || c.facts.environment.contains(fact.envvar);
    check(fact.compiled_default.empty() || fact.value != fact.compiled_default || set_by_user);
  }
  return options;
}

// Keywords the libpq linked here knows (PQconninfoParse refuses others).
const std::set<std::string>& libpq_keywords() {
  static const std::set<std::string> keywords = [] {
    std::set<std::string> out;
    PQconninfoOption* defaults = PQconndefaults();
    for (PQconninfoOption* o = defaults; o != nullptr && o->keyword != nullptr; ++o) {
      out.insert(o->keyword);
    }
    PQconninfoFree(defaults);
    return out;
  }();
  return keywords;
}

void check_with_libpq(const std::string& conninfo, const std::vector<ConninfoOption>& options) {
  for (const ConninfoOption& option : options) {
    if (!libpq_keywords().contains(option.keyword)) return;
  }
  char* error = nullptr;
  PQconninfoOption* parsed = PQconninfoParse(conninfo.c_str(), &error);
  if (parsed == nullptr) {
    PQfreemem(error);
    check(false);
  }
  std::map<std::string, std::string> values;
  for (PQconninfoOption* o = parsed; o->keyword != nullptr; ++o) {
    if (o->val != nullptr) values[o->keyword] = o->val;
  }
  PQconninfoFree(parsed);
  check(values.size() == options.size());
  for (const ConninfoOption& option : options) check(values[option.keyword] == option.value);
}

// PostgreSQL's configuration-file grammar for the lines written here: blank
// lines and '#' comments; `name [=] value` per line, the value a quoted
// string ('...' with '' for a quote and backslash escapes: \b \f \n \r \t,
// up to three octal digits, any other character for itself) that may not
// hold a raw newline. Returns name -> value, or nullopt on a syntax error.
std::optional<std::map<std::string, std::string>> parse_config(std::string_view text) {
  std::map<std::string, std::string> settings;
  std::size_t i = 0;
  const auto skip_blanks = [&] {
    while (i < text.size() && (text[i] == ' ' || text[i] == '\t' || text[i] == '\r')) ++i;
  };
  const auto at_line_end = [&] {
    skip_blanks();
    if (i < text.size() && text[i] == '#') {
      while (i < text.size() && text[i] != '\n') ++i;
    }
    if (i == text.size()) return true;
    if (text[i] != '\n') return false;
    ++i;
    return true;
  };
  while (i < text.size()) {
    if (at_line_end()) continue;
    std::string name;
    while (i < text.size() && (std::isalnum(static_cast<unsigned char>(text[i])) ||
                               text[i] == '_' || text[i] == '.')) {
      name += text[i++];
    }
    if (name.empty()) return std::nullopt;
    skip_blanks();
    if (i < text.size() && text[i] == '=') ++i;
    skip_blanks();
    if (i == text.size() || text[i] != '\'') return std::nullopt;
    ++i;
    std::string value;
    for (;;) {
      if (i == text.size() || text[i] == '\n') return std::nullopt;
      const char c = text[i++];
      if (c == '\'') {
        if (i < text.size() && text[i] == '\'') {
          value += '\'';
          ++i;
          continue;
        }
        break;
      }
      if (c != '\\') {
        value += c;
        continue;
      }
      if (i == text.size() || text[i] == '\n') return std::nullopt;
      const char e = text[i++];
      switch (e) {
        case 'b':
          value += '\b';
          break;
        case 'f':
          value += '\f';
          break;
        case 'n':
          value += '\n';
          break;
        case 'r':
          value += '\r';
          break;
        case 't':
          value += '\t';
          break;
        default:
          if (e >= '0' && e <= '7') {
            int octal = e - '0';
            for (int k = 0; k < 2 && i < text.size() && text[i] >= '0' && text[i] <= '7'; ++k) {
              octal = octal * 8 + (text[i++] - '0');
            }
            value += static_cast<char>(octal);
          } else {
            value += e;
          }
      }
    }
    if (!at_line_end()) return std::nullopt;
    settings[name] = value;
  }
  return settings;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzInput input(data, size);
  const Case c = decode(input);

  const std::vector<ConninfoOption> kept = standby_conninfo_options(c.facts, c.major);
  const std::vector<ConninfoOption> options = check_choice(c, kept);
  if (c.major < 18) {
    // What one major keeps, the next one keeps too.
    const auto newer = check_choice(c, standby_conninfo_options(c.facts, c.major + 1));
    std::size_t j = 0;
    for (const ConninfoOption& option : options) {
      while (j < newer.size() && newer[j].keyword != option.keyword) ++j;
      check(j < newer.size());
    }
  }

  const std::string conninfo = format_conninfo(kept);
  check_with_libpq(conninfo, kept);

  const std::string text = standby_config_text(c.major, {conninfo, c.slot});
  const auto settings = parse_config(text);
  check(settings.has_value());
  std::map<std::string, std::string> expected = {{"primary_conninfo", conninfo}};
  if (c.slot) expected["primary_slot_name"] = *c.slot;
  if (c.major < 12) expected["standby_mode"] = "on";
  check(*settings == expected);
  return 0;
}
