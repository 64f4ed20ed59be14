#include "protocol/conninfo.h"

#include <gtest/gtest.h>

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

// A typical PQconninfo() result of a libpq 17 client, in libpq's order.
std::vector<ConninfoOption> effective_options() {
  return {
      {"user", "rep"},
      {"password", "secret"},
      {"passfile", "/home/rep/.pgpass"},
      {"channel_binding", "prefer"},
      {"dbname", "replication"},
      {"host", "db1"},
      {"hostaddr", ""},
      {"port", "5432"},
      {"client_encoding", ""},
      {"options", ""},
      {"application_name", ""},
      {"fallback_application_name", "walstream"},
      {"connect_timeout", "10"},
      {"keepalives", "1"},
      {"tcp_user_timeout", "0"},
      {"sslmode", "prefer"},
      {"sslnegotiation", "postgres"},
      {"sslcompression", "0"},
      {"sslcertmode", "allow"},
      {"sslsni", "1"},
      {"ssl_min_protocol_version", "TLSv1.2"},
      {"sslcrldir", "/etc/crl"},
      {"gssencmode", "prefer"},
      {"krbsrvname", "postgres"},
      {"gssdelegation", "0"},
      {"target_session_attrs", "any"},
      {"load_balance_hosts", "disable"},
      {"replication", "true"},
      {"service", "main"},
      {"requiressl", "0"},
      {"oauth_issuer", "https://idp"},
      {"min_protocol_version", "3.0"},
      {"no_such_keyword", "x"},
  };
}

std::vector<std::string> keywords(const std::vector<ConninfoOption>& options) {
  std::vector<std::string> out;
  for (const auto& o : options) out.push_back(o.keyword);
  return out;
}

struct FilterCase {
  int major;
  std::vector<std::string> expected;
};

class StandbyConninfoOptionsTest : public testing::TestWithParam<FilterCase> {};

TEST_P(StandbyConninfoOptionsTest, KeepsOnlyKeywordsTheStandbyKnows) {
  const auto& c = GetParam();
  EXPECT_EQ(keywords(standby_conninfo_options(effective_options(), c.major)), c.expected);
}

INSTANTIATE_TEST_SUITE_P(
    Versions, StandbyConninfoOptionsTest,
    testing::Values(FilterCase{11,
                               {"user", "password", "passfile", "host", "port", "connect_timeout",
                                "keepalives", "sslmode", "sslcompression", "krbsrvname",
                                "target_session_attrs"}},
                    FilterCase{12,
                               {"user", "password", "passfile", "host", "port", "connect_timeout",
                                "keepalives", "tcp_user_timeout", "sslmode", "sslcompression",
                                "gssencmode", "krbsrvname", "target_session_attrs"}},
                    FilterCase{13,
                               {"user", "password", "passfile", "channel_binding", "host", "port",
                                "connect_timeout", "keepalives", "tcp_user_timeout", "sslmode",
                                "sslcompression", "ssl_min_protocol_version", "gssencmode",
                                "krbsrvname", "target_session_attrs"}},
                    FilterCase{14,
                               {"user", "password", "passfile", "channel_binding", "host", "port",
                                "connect_timeout", "keepalives", "tcp_user_timeout", "sslmode",
                                "sslcompression", "sslsni", "ssl_min_protocol_version", "sslcrldir",
                                "gssencmode", "krbsrvname", "target_session_attrs"}},
                    FilterCase{16,
                               {"user",
                                "password",
                                "passfile",
                                "channel_binding",
                                "host",
                                "port",
                                "connect_timeout",
                                "keepalives",
                                "tcp_user_timeout",
                                "sslmode",
                                "sslcompression",
                                "sslcertmode",
                                "sslsni",
                                "ssl_min_protocol_version",
                                "sslcrldir",
                                "gssencmode",
                                "krbsrvname",
                                "gssdelegation",
                                "target_session_attrs",
                                "load_balance_hosts"}},
                    FilterCase{17,
                               {"user",
                                "password",
                                "passfile",
                                "channel_binding",
                                "host",
                                "port",
                                "connect_timeout",
                                "keepalives",
                                "tcp_user_timeout",
                                "sslmode",
                                "sslnegotiation",
                                "sslcompression",
                                "sslcertmode",
                                "sslsni",
                                "ssl_min_protocol_version",
                                "sslcrldir",
                                "gssencmode",
                                "krbsrvname",
                                "gssdelegation",
                                "target_session_attrs",
                                "load_balance_hosts"}},
                    FilterCase{18,
                               {"user",
                                "password",
                                "passfile",
                                "channel_binding",
                                "host",
                                "port",
                                "connect_timeout",
                                "keepalives",
                                "tcp_user_timeout",
                                "sslmode",
                                "sslnegotiation",
                                "sslcompression",
                                "sslcertmode",
                                "sslsni",
                                "ssl_min_protocol_version",
                                "sslcrldir",
                                "gssencmode",
                                "krbsrvname",
                                "gssdelegation",
                                "target_session_attrs",
                                "load_balance_hosts",
                                "oauth_issuer",
                                "min_protocol_version"}}));

TEST(StandbyConninfoOptionsTest, KeepsValuesUnchanged) {
  const auto kept = standby_conninfo_options({{"password", R"(a b'c\d)"}, {"host", "db1"}}, 11);
  ASSERT_EQ(kept.size(), 2u);
  EXPECT_EQ(kept[0].value, R"(a b'c\d)");
  EXPECT_EQ(kept[1].value, "db1");
}

TEST(StandbyConninfoOptionsTest, EndToEndForPg11Standby) {
  // The clone of a PG 11 primary made by a newer client must not carry
  // channel_binding and friends (the PG 11 walreceiver would refuse them).
  const std::string conninfo =
      format_conninfo(standby_conninfo_options({{"user", "rep"},
                                                {"password", R"(it's \ hard)"},
                                                {"channel_binding", "prefer"},
                                                {"dbname", "replication"},
                                                {"host", "/var/run/postgresql"},
                                                {"port", "5432"},
                                                {"sslsni", "1"},
                                                {"fallback_application_name", "walstream"}},
                                               11));
  EXPECT_EQ(conninfo, R"(user=rep password='it\'s \\ hard' host='/var/run/postgresql' port=5432)");
  EXPECT_EQ(
      standby_config_text(11, {conninfo, "clone"}),
      "# written by walstream clone\n"
      "standby_mode = 'on'\n"
      R"(primary_conninfo = 'user=rep password=''it\\''s \\\\ hard'' host=''/var/run/postgresql'' port=5432')"
      "\n"
      "primary_slot_name = 'clone'\n");
}

}  // namespace
