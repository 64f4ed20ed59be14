#include "protocol/conninfo.h"

#include <string_view>

namespace walstream::protocol {
namespace {

struct KeywordSince {
  std::string_view keyword;
  int first_major;  // first libpq major that accepts the keyword
};

// libpq connection keywords a standby may be given, with the first libpq major
// that knows each one. A standby's walreceiver rejects the whole conninfo on an
// unknown keyword ("invalid connection option"), so anything not listed here is
// dropped. 10 stands for "every supported version". Deliberately missing:
// replication/dbname/fallback_application_name (set by walreceiver itself; a
// user's dbname is appended separately), and keywords removed from newer
// libpqs (requiressl, authtype, tty).
constexpr KeywordSince kKnownKeywords[] = {
    {"service", 10},
    {"host", 10},
    {"hostaddr", 10},
    {"port", 10},
    {"user", 10},
    {"password", 10},
    {"passfile", 10},
    {"connect_timeout", 10},
    {"client_encoding", 10},
    {"options", 10},
    {"application_name", 10},
    {"keepalives", 10},
    {"keepalives_idle", 10},
    {"keepalives_interval", 10},
    {"keepalives_count", 10},
    {"sslmode", 10},
    {"sslcompression", 10},
    {"sslcert", 10},
    {"sslkey", 10},
    {"sslrootcert", 10},
    {"sslcrl", 10},
    {"requirepeer", 10},
    {"krbsrvname", 10},
    {"gsslib", 10},
    {"target_session_attrs", 10},
    {"gssencmode", 12},
    {"tcp_user_timeout", 12},
    {"channel_binding", 13},
    {"sslpassword", 13},
    {"ssl_min_protocol_version", 13},
    {"ssl_max_protocol_version", 13},
    {"sslcrldir", 14},
    {"sslsni", 14},
    {"require_auth", 16},
    {"sslcertmode", 16},
    {"load_balance_hosts", 16},
    {"gssdelegation", 16},
    {"sslnegotiation", 17},
    {"servicefile", 18},
    {"min_protocol_version", 18},
    {"max_protocol_version", 18},
    {"sslkeylogfile", 18},
    {"scram_client_key", 18},
    {"scram_server_key", 18},
};
// oauth_issuer, oauth_client_id, ... (18) are matched by prefix.

constexpr std::string_view kOauthPrefix = "oauth_";
constexpr int kOauthFirstMajor = 18;

bool standby_libpq_knows(std::string_view keyword, int server_major) {
  if (keyword.empty()) return false;
  if (keyword.starts_with(kOauthPrefix)) return server_major >= kOauthFirstMajor;
  for (const auto& known : kKnownKeywords) {
    if (known.keyword == keyword) return server_major >= known.first_major;
  }
  return false;
}

// Set by walreceiver itself, whatever primary_conninfo says.
bool is_walreceiver_keyword(std::string_view keyword) {
  return keyword == "replication" || keyword == "dbname" || keyword == "fallback_application_name";
}

bool set_by_user(const LibpqOption& option, const StandbyConninfoFacts& facts) {
  if (facts.given_keywords.contains(option.keyword)) return true;
  return !option.envvar.empty() && facts.environment.contains(option.envvar);
}

// A value libpq filled in from its built-in defaults on its own: the
// standby's libpq has the same default, or takes the standby's environment.
// (A service file's value that equals the default is left out too; service=
// stays in, and libpq reads the service file before the environment.)
bool is_unset_compiled_default(const LibpqOption& option, const StandbyConninfoFacts& facts) {
  return !option.compiled_default.empty() && option.value == option.compiled_default &&
         !set_by_user(option, facts);
}

std::optional<std::string> user_dbname(const StandbyConninfoFacts& facts) {
  if (facts.conninfo_dbname && !facts.conninfo_dbname->empty()) return facts.conninfo_dbname;
  if (facts.default_dbname && !facts.default_dbname->empty()) return facts.default_dbname;
  return std::nullopt;
}

bool is_bare_conninfo_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '.';
}

void append_conninfo_value(std::string& out, std::string_view value) {
  bool bare = !value.empty();
  for (char c : value) bare = bare && is_bare_conninfo_char(c);
  if (bare) {
    out += value;
    return;
  }
  out.push_back('\'');
  for (char c : value) {
    if (c == '\'' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  out.push_back('\'');
}

}  // namespace

std::string format_conninfo(const std::vector<ConninfoOption>& options) {
  std::string out;
  for (const auto& option : options) {
    if (!out.empty()) out.push_back(' ');
    out += option.keyword;
    out.push_back('=');
    append_conninfo_value(out, option.value);
  }
  return out;
}

std::string quote_config_value(std::string_view value) {
  std::string out;
  out.reserve(value.size() + 2);
  out.push_back('\'');
  for (char c : value) {
    // A raw newline inside quotes is a syntax error that makes the server
    // refuse the whole file; the escape reads back as a newline.
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    if (c == '\'' || c == '\\') out.push_back(c);
    out.push_back(c);
  }
  out.push_back('\'');
  return out;
}

std::vector<ConninfoOption> standby_conninfo_options(const StandbyConninfoFacts& facts,
                                                     int server_major) {
  std::vector<ConninfoOption> kept;
  for (const auto& option : facts.options) {
    if (option.value.empty() || is_walreceiver_keyword(option.keyword)) continue;
    if (is_unset_compiled_default(option, facts)) continue;
    if (!standby_libpq_knows(option.keyword, server_major)) continue;
    kept.push_back({option.keyword, option.value});
  }
  if (auto dbname = user_dbname(facts)) kept.push_back({"dbname", *dbname});
  return kept;
}

std::string standby_config_text(int server_major, const StandbySettings& settings) {
  // From 12 recovery settings are ordinary GUCs (appended to
  // postgresql.auto.conf next to standby.signal); before that they live in
  // recovery.conf, which needs standby_mode to stay in standby.
  constexpr int kMajorRecoveryGucs = 12;
  std::string text = "# written by walstream clone\n";
  if (server_major < kMajorRecoveryGucs) text += "standby_mode = 'on'\n";
  text += "primary_conninfo = " + quote_config_value(settings.primary_conninfo) + "\n";
  if (settings.primary_slot_name) {
    // Slot names need no escaping, but quoting keeps the file valid regardless.
    text += "primary_slot_name = " + quote_config_value(*settings.primary_slot_name) + "\n";
  }
  return text;
}

}  // namespace walstream::protocol
