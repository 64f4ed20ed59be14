#include "walreceiver/check_advice.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace walstream::walreceiver {
namespace {

using ::testing::HasSubstr;

struct FailureCase {
  const char* message;  // libpq's, folded to one line
  std::string_view failed;
  const char* fix_part;
};

TEST(CheckAdviceTest, AFailedConnectionNamesTheItemAndItsFix) {
  const std::vector<FailureCase> cases = {
      {"connection to server at \"10.0.0.9\", port 5432 failed: Connection refused Is the server "
       "running on that host and accepting TCP/IP connections?",
       kReachable, "listen_addresses"},
      {"connection to server at \"db\" (10.0.0.9), port 5432 failed: FATAL: no pg_hba.conf entry "
       "for replication connection from host \"10.0.0.5\", user \"r\", no encryption",
       kHba, "host replication r 10.0.0.5/32 scram-sha-256"},
      {"FATAL: no pg_hba.conf entry for replication connection from host \"::1\", user \"r\"", kHba,
       "host replication r ::1/128"},
      {"FATAL: password authentication failed for user \"r\"", kAuthentication,
       "ALTER ROLE \"r\" PASSWORD"},
      {"fe_sendauth: no password supplied", kAuthentication, "PGPASSWORD"},
      {"FATAL: role \"r\" does not exist", kAuthentication, "CREATE ROLE \"r\" LOGIN REPLICATION"},
      // PostgreSQL 15, then 16+.
      {"FATAL: must be superuser or replication role to start walsender", kReplicationRole,
       "ALTER ROLE \"r\" REPLICATION;"},
      {"FATAL: permission denied to start WAL sender DETAIL: Only roles with the REPLICATION "
       "attribute may start a WAL sender process.",
       kReplicationRole, "ALTER ROLE \"r\" REPLICATION;"},
      {"FATAL: number of requested standby connections exceeds max_wal_senders (currently 0)",
       kWalSenders, "wal_level = replica"},
      {"FATAL: number of requested standby connections exceeds max_wal_senders (currently 2)",
       kWalSenders, "in use"},
      {"FATAL: the database system is starting up", kReachable, "wait"},
  };
  for (const FailureCase& c : cases) {
    const std::vector<CheckItem> items = connection_failure_items(c.message, "r");
    ASSERT_EQ(items.size(), 5u) << c.message;
    bool seen_failure = false;
    for (const CheckItem& item : items) {
      if (item.name == c.failed) {
        EXPECT_EQ(item.status, CheckStatus::kFail) << c.message;
        EXPECT_THAT(item.fix, HasSubstr(c.fix_part)) << c.message;
        seen_failure = true;
      } else {
        EXPECT_EQ(item.status, seen_failure ? CheckStatus::kNotChecked : CheckStatus::kPass)
            << item.name << " for " << c.message;
      }
    }
    EXPECT_TRUE(seen_failure) << c.message;
  }
}

TEST(CheckAdviceTest, ServerFacts) {
  EXPECT_EQ(version_item(150018, "15.18").status, CheckStatus::kPass);
  EXPECT_EQ(version_item(150018, "15.18").detail, "PostgreSQL 15.18");
  EXPECT_EQ(version_item(100023, "10.23").status, CheckStatus::kFail);
  EXPECT_EQ(version_item(190000, "19devel").status, CheckStatus::kFail);
  EXPECT_EQ(wal_level_item("replica").status, CheckStatus::kPass);
  EXPECT_EQ(wal_level_item("logical").status, CheckStatus::kPass);
  EXPECT_THAT(wal_level_item("minimal").fix, HasSubstr("restart"));
  EXPECT_EQ(wal_senders_item(10, 3).status, CheckStatus::kPass);
  EXPECT_EQ(wal_senders_item(0, std::nullopt).status, CheckStatus::kFail);
  EXPECT_EQ(replication_slots_item(10, 10).status, CheckStatus::kFail);
  EXPECT_EQ(replication_slots_item(10, std::nullopt).status, CheckStatus::kPass);
  EXPECT_EQ(slot_item("s", SlotFacts{true, 3u << 20}, "").detail, "exists, retains 3.0 MB of WAL");
  EXPECT_EQ(slot_item("s", SlotFacts{false, {}}, "").status, CheckStatus::kFail);
  EXPECT_EQ(slot_item("s", std::nullopt, "why").status, CheckStatus::kNotChecked);
  EXPECT_EQ(free_space_item("/d", 10, 20).status, CheckStatus::kFail);
  EXPECT_EQ(free_space_item("/d", 30, 20).status, CheckStatus::kPass);
  EXPECT_EQ(free_space_item("/d", 30, std::nullopt).status, CheckStatus::kNotChecked);
}

}  // namespace
}  // namespace walstream::walreceiver
