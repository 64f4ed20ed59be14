#include "walreceiver/connection_options.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "protocol/error.h"

using namespace walstream::walreceiver;
using testing::HasSubstr;
using testing::Not;

namespace {

std::string value_of(const Keywords& keywords, const std::string& key) {
  std::string found;
  for (const auto& [k, v] : keywords) {
    if (k == key) found = v;  // the last one wins, as in libpq
  }
  return found;
}

TEST(ReplicationKeywordsTest, FlagsOverrideConnectionStringAndDbnameIsDropped) {
  ConnectionOptions options;
  options.conninfo = "host=a port=1 user=x dbname=app sslmode=require";
  options.host = "b";
  options.user = "r";
  Keywords keywords = replication_keywords(options, "");
  EXPECT_EQ(value_of(keywords, "host"), "b");
  EXPECT_EQ(value_of(keywords, "port"), "1");
  EXPECT_EQ(value_of(keywords, "user"), "r");
  EXPECT_EQ(value_of(keywords, "sslmode"), "require");
  EXPECT_EQ(value_of(keywords, "dbname"), "replication");
  EXPECT_EQ(value_of(keywords, "replication"), "true");
  EXPECT_EQ(value_of(keywords, "fallback_application_name"), "walstream");
  EXPECT_EQ(value_of(keywords, "password"), "");
}

TEST(ReplicationKeywordsTest, UriIsAccepted) {
  ConnectionOptions options;
  options.conninfo = "postgresql://r@db.example:6543/ignored?application_name=clone1";
  Keywords keywords = replication_keywords(options, "pw");
  EXPECT_EQ(value_of(keywords, "host"), "db.example");
  EXPECT_EQ(value_of(keywords, "port"), "6543");
  EXPECT_EQ(value_of(keywords, "application_name"), "clone1");
  EXPECT_EQ(value_of(keywords, "dbname"), "replication");
  EXPECT_EQ(value_of(keywords, "password"), "pw");
}

// libpq quotes a malformed URI whole in its complaint: the password in it
// must not reach the error line.
TEST(ReplicationKeywordsTest, BadUriErrorHidesItsPassword) {
  for (const char* uri : {"postgresql://r:hunter2@[::1", "postgresql://r:hunter2@[::1]x"}) {
    SCOPED_TRACE(uri);
    ConnectionOptions options;
    options.conninfo = uri;
    try {
      replication_keywords(options, "");
      FAIL() << "expected an error";
    } catch (const walstream::Error& e) {
      EXPECT_EQ(e.kind(), walstream::ErrorKind::kUsage);
      EXPECT_THAT(e.what(), HasSubstr("URI"));
      EXPECT_THAT(e.what(), Not(HasSubstr("hunter2")));
    }
  }
}

TEST(ReplicationKeywordsTest, BadConnectionStringIsAUsageError) {
  ConnectionOptions options;
  options.conninfo = "host=a nonsense_option=1";
  try {
    replication_keywords(options, "");
    FAIL() << "expected an error";
  } catch (const walstream::Error& e) {
    EXPECT_EQ(e.kind(), walstream::ErrorKind::kUsage);
    EXPECT_THAT(e.what(), HasSubstr("nonsense_option"));
  }
}

TEST(DiagnoseTest, FoldsLinesAndScrubsPassword) {
  Diagnosis d = diagnose_server_message(
      "connection to server failed: FATAL:  password authentication failed for user \"r\"\n"
      "secret-pw was wrong\n",
      "r", "secret-pw");
  EXPECT_THAT(d.message, Not(HasSubstr("\n")));
  EXPECT_THAT(d.message, Not(HasSubstr("secret-pw")));
  EXPECT_THAT(d.message, HasSubstr("password authentication failed"));
  EXPECT_THAT(d.hint, HasSubstr("PGPASSWORD"));
}

TEST(DiagnoseTest, HintsNameTheFix) {
  struct Case {
    const char* server_text;
    const char* hint_part;
  };
  const Case cases[] = {
      {"FATAL:  no pg_hba.conf entry for replication connection from host \"127.0.0.1\"",
       "host replication r"},
      {"FATAL:  must be superuser or replication role to start walsender",
       "ALTER ROLE r REPLICATION"},
      {"FATAL:  number of requested standby connections exceeds max_wal_senders (currently 1)",
       "raise max_wal_senders"},
      {"connection to server at \"127.0.0.1\", port 1 failed: Connection refused", "-h, -p"},
      {"ERROR:  replication slot \"s\" does not exist", "-C/--create-slot"},
      {"ERROR:  WAL level not sufficient for making an online backup (wal_level)",
       "wal_level = replica"},
  };
  for (const auto& c : cases) {
    EXPECT_THAT(diagnose_server_message(c.server_text, "r", "").hint, HasSubstr(c.hint_part))
        << c.server_text;
  }
  EXPECT_EQ(diagnose_server_message("something new", "r", "").hint, "");
}

}  // namespace
