#include "protocol/conninfo.h"

#include <gtest/gtest.h>

#include <cstddef>
#include <functional>
#include <string>
#include <vector>

using namespace walstream::protocol;

namespace {

struct ValueCase {
  const char* value;
  const char* conninfo;  // format_conninfo({{"k", value}})
};

class ConninfoValueTest : public testing::TestWithParam<ValueCase> {};

TEST_P(ConninfoValueTest, Escapes) {
  const auto& c = GetParam();
  EXPECT_EQ(format_conninfo({{"k", c.value}}), c.conninfo);
}

INSTANTIATE_TEST_SUITE_P(Cases, ConninfoValueTest,
                         testing::Values(ValueCase{"abc", "k=abc"}, ValueCase{"A_b.9", "k=A_b.9"},
                                         ValueCase{"192.168.0.1", "k=192.168.0.1"},
                                         ValueCase{"", "k=''"}, ValueCase{"a b", "k='a b'"},
                                         ValueCase{"/var/run", "k='/var/run'"},
                                         ValueCase{"db-host", "k='db-host'"},
                                         ValueCase{"a=b", "k='a=b'"},
                                         ValueCase{"it's", R"(k='it\'s')"},
                                         ValueCase{R"(back\slash)", R"(k='back\\slash')"},
                                         ValueCase{R"(\')", R"(k='\\\'')"},
                                         ValueCase{"p\xc3\xa4ss", "k='p\xc3\xa4ss'"}));

TEST(FormatConninfoTest, JoinsWithSingleSpaces) {
  EXPECT_EQ(format_conninfo({}), "");
  EXPECT_EQ(format_conninfo({{"user", "postgres"}, {"host", "/tmp"}, {"port", "5432"}}),
            "user=postgres host='/tmp' port=5432");
}

TEST(QuoteConfigValueTest, DoublesQuotesAndBackslashes) {
  EXPECT_EQ(quote_config_value(""), "''");
  EXPECT_EQ(quote_config_value("plain"), "'plain'");
  EXPECT_EQ(quote_config_value("it's"), "'it''s'");
  EXPECT_EQ(quote_config_value(R"(a\b)"), R"('a\\b')");
  EXPECT_EQ(quote_config_value(R"(\')"), R"('\\''')");
}

// The configuration file's quoted strings cannot hold a raw newline (the
// server refuses the whole file, "syntax error"), but read \n as one.
TEST(QuoteConfigValueTest, NewlineIsWrittenAsAnEscape) {
  EXPECT_EQ(quote_config_value("a\nb"), R"('a\nb')");
  EXPECT_EQ(quote_config_value("\n"), R"('\n')");
  // A carriage return is allowed raw; only the newline ends a line.
  EXPECT_EQ(quote_config_value("a\rb"), "'a\rb'");
  const std::string conninfo = format_conninfo({{"password", "line1\nline2"}});
  EXPECT_EQ(standby_config_text(15, {conninfo, std::nullopt}),
            "# written by walstream clone\n"
            R"(primary_conninfo = 'password=''line1\nline2''')"
            "\n");
}

TEST(StandbyConnInfoTest, PasswordThroughBothLevels) {
  // Password: a b'c\d  (space, quote, backslash).
  const std::vector<ConninfoOption> options = {
      {"user", "rep"}, {"password", R"(a b'c\d)"}, {"host", "db1"}};
  const std::string conninfo = format_conninfo(options);
  EXPECT_EQ(conninfo, R"(user=rep password='a b\'c\\d' host=db1)");

  const std::string text = standby_config_text(16, {conninfo, std::nullopt});
  EXPECT_EQ(text,
            "# written by walstream clone\n"
            R"(primary_conninfo = 'user=rep password=''a b\\''c\\\\d'' host=db1')"
            "\n");
}

TEST(StandbyConfigTextTest, Version12AndLater) {
  for (int major : {12, 15, 18}) {
    EXPECT_EQ(standby_config_text(major, {"host=db1 port=5432", "clone_slot"}),
              "# written by walstream clone\n"
              "primary_conninfo = 'host=db1 port=5432'\n"
              "primary_slot_name = 'clone_slot'\n");
  }
}

TEST(StandbyConfigTextTest, Version11HasStandbyMode) {
  EXPECT_EQ(standby_config_text(11, {"host=db1", "s"}),
            "# written by walstream clone\n"
            "standby_mode = 'on'\n"
            "primary_conninfo = 'host=db1'\n"
            "primary_slot_name = 's'\n");
  EXPECT_EQ(standby_config_text(10, {"host=db1", std::nullopt}),
            "# written by walstream clone\n"
            "standby_mode = 'on'\n"
            "primary_conninfo = 'host=db1'\n");
}

// What PQconninfo() of a libpq 17 client reports for a clone connection made
// with `-h db1 -U rep` and a password (value, compiled default, variable), in
// libpq's order. Nothing in it is marked as set by the user.
StandbyConninfoFacts libpq17_facts() {
  StandbyConninfoFacts facts;
  facts.options = {
      {"service", "", "", "PGSERVICE"},
      {"user", "rep", "", "PGUSER"},
      {"password", "secret", "", "PGPASSWORD"},
      {"passfile", "/home/rep/.pgpass", "", "PGPASSFILE"},
      {"channel_binding", "prefer", "prefer", "PGCHANNELBINDING"},
      {"connect_timeout", "", "", "PGCONNECT_TIMEOUT"},
      {"dbname", "replication", "", "PGDATABASE"},
      {"host", "db1", "", "PGHOST"},
      {"hostaddr", "", "", "PGHOSTADDR"},
      {"port", "5432", "5432", "PGPORT"},
      {"client_encoding", "", "", "PGCLIENTENCODING"},
      {"options", "", "", "PGOPTIONS"},
      {"application_name", "", "", "PGAPPNAME"},
      {"fallback_application_name", "walstream", "", ""},
      {"keepalives", "", "", ""},
      {"sslmode", "prefer", "prefer", "PGSSLMODE"},
      {"sslnegotiation", "postgres", "postgres", "PGSSLNEGOTIATION"},
      {"sslcompression", "0", "0", "PGSSLCOMPRESSION"},
      {"sslsni", "1", "1", "PGSSLSNI"},
      {"ssl_min_protocol_version", "TLSv1.2", "TLSv1.2", "PGSSLMINPROTOCOLVERSION"},
      {"gssencmode", "prefer", "prefer", "PGGSSENCMODE"},
      {"krbsrvname", "postgres", "postgres", "PGKRBSRVNAME"},
      {"replication", "true", "", ""},
      {"target_session_attrs", "any", "any", "PGTARGETSESSIONATTRS"},
      {"load_balance_hosts", "disable", "disable", "PGLOADBALANCEHOSTS"},
  };
  facts.given_keywords = {"host", "user", "password"};
  return facts;
}

void set_value(StandbyConninfoFacts& facts, const std::string& keyword, const std::string& value) {
  for (auto& option : facts.options) {
    if (option.keyword == keyword) {
      option.value = value;
      return;
    }
  }
  ADD_FAILURE() << "no option " << keyword;
}

std::vector<std::string> pairs(const std::vector<ConninfoOption>& options) {
  std::vector<std::string> out;
  for (const auto& o : options) out.push_back(o.keyword + "=" + o.value);
  return out;
}

// What -h db1 -U rep with a password writes when nothing else was set.
const std::vector<std::string> kBase = {"user=rep", "password=secret", "passfile=/home/rep/.pgpass",
                                        "host=db1"};

std::vector<std::string> base_with(std::vector<std::string> extra, std::size_t at) {
  std::vector<std::string> out = kBase;
  out.insert(out.begin() + static_cast<std::ptrdiff_t>(at), extra.begin(), extra.end());
  return out;
}

struct DecisionCase {
  const char* name;
  int major;
  std::function<void(StandbyConninfoFacts&)> adjust;
  std::vector<std::string> expected;
};

class StandbyConninfoOptionsTest : public testing::TestWithParam<DecisionCase> {};

TEST_P(StandbyConninfoOptionsTest, WritesWhatTheUserSet) {
  const auto& c = GetParam();
  StandbyConninfoFacts facts = libpq17_facts();
  if (c.adjust) c.adjust(facts);
  EXPECT_EQ(pairs(standby_conninfo_options(facts, c.major)), c.expected) << c.name;
}

INSTANTIATE_TEST_SUITE_P(
    Cases, StandbyConninfoOptionsTest,
    testing::Values(
        DecisionCase{"compiled defaults nobody set are left out", 17, nullptr, kBase},
        DecisionCase{
            "explicit port=5432 is kept",
            17,
            [](auto& f) { f.given_keywords.insert("port"); },
            {"user=rep", "password=secret", "passfile=/home/rep/.pgpass", "host=db1", "port=5432"}},
        DecisionCase{
            "port=5432 from PGPORT is kept",
            15,
            [](auto& f) { f.environment.insert("PGPORT"); },
            {"user=rep", "password=secret", "passfile=/home/rep/.pgpass", "host=db1", "port=5432"}},
        DecisionCase{"sslmode=prefer from PGSSLMODE is kept", 15,
                     [](auto& f) { f.environment.insert("PGSSLMODE"); },
                     base_with({"sslmode=prefer"}, 4)},
        DecisionCase{"sslmode=prefer from -d is kept", 11,
                     [](auto& f) { f.given_keywords.insert("sslmode"); },
                     base_with({"sslmode=prefer"}, 4)},
        DecisionCase{"an unrelated variable marks nothing", 17,
                     [](auto& f) { f.environment.insert("PGAPPNAME"); }, kBase},
        DecisionCase{"a value other than the default is kept", 17,
                     [](auto& f) { set_value(f, "sslmode", "require"); },
                     base_with({"sslmode=require"}, 4)},
        DecisionCase{"channel_binding set by the user, standby 13+", 13,
                     [](auto& f) { f.given_keywords.insert("channel_binding"); },
                     base_with({"channel_binding=prefer"}, 3)},
        DecisionCase{"channel_binding set by the user, PG 11 standby does not know it", 11,
                     [](auto& f) {
                       f.given_keywords.insert("channel_binding");
                       set_value(f, "channel_binding", "require");
                     },
                     kBase},
        DecisionCase{"sslnegotiation from PGSSLNEGOTIATION, standby 17", 17,
                     [](auto& f) { f.environment.insert("PGSSLNEGOTIATION"); },
                     base_with({"sslnegotiation=postgres"}, 4)},
        DecisionCase{"sslnegotiation from PGSSLNEGOTIATION, standby 16", 16,
                     [](auto& f) { f.environment.insert("PGSSLNEGOTIATION"); }, kBase},
        DecisionCase{"load_balance_hosts set, standby 15", 15,
                     [](auto& f) {
                       f.given_keywords.insert("load_balance_hosts");
                       set_value(f, "load_balance_hosts", "random");
                     },
                     kBase},
        DecisionCase{"service is kept, on every major", 11,
                     [](auto& f) {
                       set_value(f, "service", "main");
                       f.given_keywords.insert("service");
                     },
                     base_with({"service=main"}, 0)},
        DecisionCase{"service from PGSERVICE is kept", 17,
                     [](auto& f) {
                       set_value(f, "service", "main");
                       f.environment.insert("PGSERVICE");
                     },
                     base_with({"service=main"}, 0)},
        DecisionCase{"dbname from -d is appended", 17, [](auto& f) { f.conninfo_dbname = "appdb"; },
                     base_with({"dbname=appdb"}, 4)},
        DecisionCase{"dbname from -d wins over PGDATABASE", 17,
                     [](auto& f) {
                       f.conninfo_dbname = "appdb";
                       f.default_dbname = "envdb";
                     },
                     base_with({"dbname=appdb"}, 4)},
        DecisionCase{"dbname from PGDATABASE when -d has none", 16,
                     [](auto& f) {
                       f.conninfo_dbname = "";
                       f.default_dbname = "envdb";
                     },
                     base_with({"dbname=envdb"}, 4)},
        DecisionCase{"dbname for an old standby too (pg_basebackup 17 does)", 11,
                     [](auto& f) { f.conninfo_dbname = "appdb"; }, base_with({"dbname=appdb"}, 4)},
        DecisionCase{"no dbname given: the connection's dbname=replication is not written", 17,
                     [](auto& f) { f.given_keywords.insert("dbname"); }, kBase},
        DecisionCase{"replication and fallback_application_name never", 17,
                     [](auto& f) { f.given_keywords.insert("replication"); }, kBase},
        DecisionCase{"unknown keyword dropped even when set", 18,
                     [](auto& f) {
                       f.options.push_back({"no_such_keyword", "x", "", ""});
                       f.given_keywords.insert("no_such_keyword");
                     },
                     kBase},
        DecisionCase{"oauth_ keywords from 18", 18,
                     [](auto& f) {
                       f.options.push_back({"oauth_issuer", "https://idp", "", ""});
                     },
                     base_with({"oauth_issuer=https://idp"}, 4)},
        DecisionCase{"oauth_ keywords not before 18", 17,
                     [](auto& f) {
                       f.options.push_back({"oauth_issuer", "https://idp", "", ""});
                     },
                     kBase},
        DecisionCase{"empty values are never written",
                     17,
                     [](auto& f) {
                       set_value(f, "password", "");
                       f.given_keywords.insert("options");
                     },
                     {"user=rep", "passfile=/home/rep/.pgpass", "host=db1"}}));

TEST(StandbyConninfoEndToEndTest, Pg11StandbyWithPasswordAndExplicitDefaults) {
  // The clone of a PG 11 primary made by a newer client: explicit port=5432
  // and sslmode=prefer stay, channel_binding and friends (which the PG 11
  // walreceiver would refuse) go, and the password survives both quotings.
  StandbyConninfoFacts facts = libpq17_facts();
  set_value(facts, "password", R"(it's \ hard)");
  set_value(facts, "host", "/var/run/postgresql");
  facts.given_keywords.insert("port");
  facts.environment.insert("PGSSLMODE");
  facts.given_keywords.insert("channel_binding");
  const std::string conninfo = format_conninfo(standby_conninfo_options(facts, 11));
  EXPECT_EQ(conninfo, R"(user=rep password='it\'s \\ hard' passfile='/home/rep/.pgpass' )"
                      R"(host='/var/run/postgresql' port=5432 sslmode=prefer)");
  EXPECT_EQ(standby_config_text(11, {conninfo, "clone"}),
            "# written by walstream clone\n"
            "standby_mode = 'on'\n"
            R"(primary_conninfo = 'user=rep password=''it\\''s \\\\ hard'' )"
            R"(passfile=''/home/rep/.pgpass'' host=''/var/run/postgresql'' port=5432 )"
            R"(sslmode=prefer')"
            "\n"
            "primary_slot_name = 'clone'\n");
}

}  // namespace
