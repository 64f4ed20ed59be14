#include "protocol/replication_commands.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "protocol/error.h"

using namespace walstream::protocol;
using testing::HasSubstr;

namespace {

using Row = std::vector<std::optional<std::string>>;

ResultSet result(std::vector<std::string> columns, std::vector<Row> rows) {
  return ResultSet{std::move(columns), std::move(rows)};
}

// Calls `fn` and returns the walstream::Error it throws (failing if none).
template <typename Fn>
walstream::Error error_of(Fn&& fn) {
  try {
    fn();
  } catch (const walstream::Error& e) {
    return e;
  }
  ADD_FAILURE() << "no walstream::Error thrown";
  return walstream::Error(walstream::ErrorKind::kInternal, "");
}

TEST(QuoteLiteralTest, DoublesSingleQuotesOnly) {
  EXPECT_EQ(quote_literal(""), "''");
  EXPECT_EQ(quote_literal("walstream base backup"), "'walstream base backup'");
  EXPECT_EQ(quote_literal("it's"), "'it''s'");
  EXPECT_EQ(quote_literal("''"), "''''''");
  EXPECT_EQ(quote_literal(R"(C:\dir)"), R"('C:\dir')");
}

TEST(SlotNameTest, Validity) {
  EXPECT_TRUE(is_valid_slot_name("walstream"));
  EXPECT_TRUE(is_valid_slot_name("slot_1"));
  EXPECT_TRUE(is_valid_slot_name("_"));
  EXPECT_TRUE(is_valid_slot_name(std::string(63, 'a')));
  EXPECT_FALSE(is_valid_slot_name(""));
  EXPECT_FALSE(is_valid_slot_name(std::string(64, 'a')));
  EXPECT_FALSE(is_valid_slot_name("Slot"));
  EXPECT_FALSE(is_valid_slot_name("my-slot"));
  EXPECT_FALSE(is_valid_slot_name("a\"b"));
  EXPECT_FALSE(is_valid_slot_name("a b"));
}

TEST(IdentifySystemTest, Command) { EXPECT_EQ(identify_system_command(), "IDENTIFY_SYSTEM"); }

TEST(IdentifySystemTest, ParsesPhysicalConnection) {
  const auto identity =
      parse_identify_system(result({"systemid", "timeline", "xlogpos", "dbname"},
                                   {{"7350000000000000001", "3", "0/3000148", std::nullopt}}));
  EXPECT_EQ(identity.system_id, 7350000000000000001u);
  EXPECT_EQ(identity.timeline, 3u);
  EXPECT_EQ(identity.xlogpos, Lsn{0x3000148});
  EXPECT_FALSE(identity.dbname.has_value());
}

TEST(IdentifySystemTest, ParsesDbnameAndThreeColumnForm) {
  EXPECT_EQ(parse_identify_system(result({"systemid", "timeline", "xlogpos", "dbname"},
                                         {{"1", "1", "16/B374D848", "postgres"}}))
                .dbname,
            "postgres");
  const auto identity = parse_identify_system(
      result({"systemid", "timeline", "xlogpos"}, {{"18446744073709551615", "4294967295", "0/0"}}));
  EXPECT_EQ(identity.system_id, UINT64_MAX);
  EXPECT_EQ(identity.timeline, 4294967295u);
  EXPECT_FALSE(identity.dbname.has_value());
}

TEST(IdentifySystemTest, RejectsBadShapesAndValues) {
  const std::vector<std::string> cols = {"systemid", "timeline", "xlogpos", "dbname"};
  const std::vector<ResultSet> bad = {
      result(cols, {}),
      result(cols, {{"1", "1", "0/0", std::nullopt}, {"1", "1", "0/0", std::nullopt}}),
      result({"systemid", "timeline"}, {{"1", "1"}}),
      result(cols, {{"1", "1", "0/0"}}),  // short row
      result(cols, {{std::nullopt, "1", "0/0", std::nullopt}}),
      result(cols, {{"1", std::nullopt, "0/0", std::nullopt}}),
      result(cols, {{"1", "1", std::nullopt, std::nullopt}}),
      result(cols, {{"", "1", "0/0", std::nullopt}}),
      result(cols, {{"-1", "1", "0/0", std::nullopt}}),
      result(cols, {{"12x", "1", "0/0", std::nullopt}}),
      result(cols, {{"18446744073709551616", "1", "0/0", std::nullopt}}),
      result(cols, {{"1", "0", "0/0", std::nullopt}}),           // timeline 0
      result(cols, {{"1", "4294967296", "0/0", std::nullopt}}),  // > uint32
      result(cols, {{"1", " 1", "0/0", std::nullopt}}),
      result(cols, {{"1", "1", "0/0/0", std::nullopt}}),
      result(cols, {{"1", "1", "3000148", std::nullopt}}),
  };
  for (const auto& r : bad) {
    const auto e = error_of([&] { parse_identify_system(r); });
    EXPECT_EQ(e.kind(), walstream::ErrorKind::kProtocol) << e.what();
  }
  EXPECT_STREQ(error_of([&] { parse_identify_system(bad[0]); }).what(),
               "unexpected IDENTIFY_SYSTEM result: 0 rows, expected 1");
  EXPECT_STREQ(error_of([&] { parse_identify_system(bad[5]); }).what(),
               "unexpected NULL in column \"timeline\" of IDENTIFY_SYSTEM result");
  EXPECT_STREQ(error_of([&] { parse_identify_system(bad[14]); }).what(),
               "malformed value \"0/0/0\" in column \"xlogpos\" of IDENTIFY_SYSTEM result");
}

// Column names and values come from the server: in messages they are
// escaped, one line, bounded.
TEST(ResultErrorsTest, ServerTextIsEscaped) {
  const std::string escape = "\x1b[2J\n";
  const std::string escaped = R"(\x1b[2J\x0a)";
  const std::vector<std::string> cols = {"systemid", "timeline", "xlogpos", "dbname"};
  const std::vector<std::pair<walstream::Error, std::string>> errors = {
      {error_of([&] {
         parse_identify_system(result(cols, {{"1" + escape, "1", "0/0", "d"}}));
       }),
       "malformed value \"1" + escaped + "\" in column \"systemid\""},
      {error_of([&] {
         parse_identify_system(
             result({"systemid", "time" + escape, "xlogpos"}, {{"1", std::nullopt, "0/0"}}));
       }),
       "unexpected NULL in column \"time" + escaped + "\""},
      {error_of([&] {
         parse_backup_position(result({"recptr", "tli"}, {{"0/0", std::string(5000, '7')}}));
       }),
       "malformed value \"777"},
      {error_of([&] {
         parse_read_replication_slot(
             result({"slot_type", "restart_lsn", "restart_tli"}, {{"logi" + escape, "0/1", "1"}}));
       }),
       "slot is of type \"logi" + escaped + "\""},
      {error_of([&] {
         parse_timeline_history(result({"filename", "content"}, {{"x" + escape, "1"}}), 2);
       }),
       "unexpected file name \"x" + escaped + "\""},
  };
  for (const auto& [error, words] : errors) {
    const std::string message = error.what();
    EXPECT_THAT(message, HasSubstr(words));
    EXPECT_LE(message.size(), 1000U) << message;
    for (char c : message) EXPECT_TRUE(c >= 0x20 && c < 0x7f) << "unescaped byte in: " << message;
  }
}

TEST(ShowTest, CommandAndParse) {
  EXPECT_EQ(show_command("wal_segment_size"), "SHOW wal_segment_size");
  EXPECT_EQ(parse_show(result({"wal_segment_size"}, {{"16MB"}})), "16MB");
  EXPECT_EQ(parse_show(result({"a", "b"}, {{"x", "y"}})), "x");
  EXPECT_THROW(parse_show(result({"wal_segment_size"}, {})), walstream::Error);
  EXPECT_THROW(parse_show(result({"wal_segment_size"}, {{"a"}, {"b"}})), walstream::Error);
  EXPECT_THROW(parse_show(result({}, {{}})), walstream::Error);
  EXPECT_THROW(parse_show(result({"wal_segment_size"}, {{std::nullopt}})), walstream::Error);
  EXPECT_THROW(show_command("x; DROP"), walstream::Error);
  EXPECT_THROW(show_command(""), walstream::Error);
}

struct SlotCommandCase {
  int version;
  SlotLifetime lifetime;
  const char* expected;
};

class CreateSlotTest : public testing::TestWithParam<SlotCommandCase> {};

TEST_P(CreateSlotTest, Syntax) {
  const auto& c = GetParam();
  EXPECT_EQ(create_physical_slot_command(ServerVersion{c.version}, "clone_slot", c.lifetime),
            c.expected);
}

INSTANTIATE_TEST_SUITE_P(
    Versions, CreateSlotTest,
    testing::Values(
        SlotCommandCase{110022, SlotLifetime::kPermanent,
                        R"(CREATE_REPLICATION_SLOT "clone_slot" PHYSICAL RESERVE_WAL)"},
        SlotCommandCase{140023, SlotLifetime::kTemporary,
                        R"(CREATE_REPLICATION_SLOT "clone_slot" TEMPORARY PHYSICAL RESERVE_WAL)"},
        SlotCommandCase{150018, SlotLifetime::kPermanent,
                        R"(CREATE_REPLICATION_SLOT "clone_slot" PHYSICAL (RESERVE_WAL))"},
        SlotCommandCase{
            180004, SlotLifetime::kTemporary,
            R"(CREATE_REPLICATION_SLOT "clone_slot" TEMPORARY PHYSICAL (RESERVE_WAL))"}));

TEST(SlotCommandTest, DropAndInvalidNames) {
  EXPECT_EQ(drop_slot_command("clone_slot"), R"(DROP_REPLICATION_SLOT "clone_slot" WAIT)");
  // Same text for every major: no option list, so no RESERVE_WAL.
  EXPECT_EQ(probe_slot_command("clone_slot"),
            R"(CREATE_REPLICATION_SLOT "clone_slot" TEMPORARY PHYSICAL)");
  EXPECT_THROW(probe_slot_command("a b"), walstream::Error);
  const auto e = error_of([] {
    create_physical_slot_command(ServerVersion{150000}, "bad\"name", SlotLifetime::kPermanent);
  });
  EXPECT_EQ(e.kind(), walstream::ErrorKind::kUsage);
  EXPECT_THROW(drop_slot_command(""), walstream::Error);
  EXPECT_THROW(start_replication_command("Upper", Lsn{0}, 1), walstream::Error);
}

TEST(StartReplicationTest, Command) {
  EXPECT_EQ(start_replication_command("s", Lsn{0x3000000}, 1),
            R"(START_REPLICATION SLOT "s" PHYSICAL 0/3000000 TIMELINE 1)");
  EXPECT_EQ(start_replication_command(std::nullopt, Lsn{0x16B3000000}, 12),
            "START_REPLICATION PHYSICAL 16/B3000000 TIMELINE 12");
}

TEST(TimelineSwitchTest, Parses) {
  const auto next =
      parse_timeline_switch(result({"next_tli", "next_tli_startpos"}, {{"2", "0/5000A0"}}));
  EXPECT_EQ(next.next_timeline, 2u);
  EXPECT_EQ(next.next_timeline_start, Lsn{0x5000A0});
  EXPECT_EQ(next.ended_timeline, 0u);  // not in the result set
}

TEST(TimelineSwitchTest, WithTheStreamedTimeline) {
  const std::vector<std::string> cols = {"next_tli", "next_tli_startpos"};
  const auto next = parse_timeline_switch(result(cols, {{"3", "0/5000A0"}}), 2);
  EXPECT_EQ(next, (TimelineSwitch{2, 3, Lsn{0x5000A0}, ""}));
  for (TimelineId streamed : {3U, 4U}) {
    try {
      parse_timeline_switch(result(cols, {{"3", "0/5000A0"}}), streamed);
      ADD_FAILURE() << "no error after timeline " << streamed;
    } catch (const walstream::Error& e) {
      EXPECT_THAT(e.what(), HasSubstr("not after timeline " + std::to_string(streamed)));
    }
  }
}

TEST(TimelineSwitchTest, RejectsMalformed) {
  const std::vector<std::string> cols = {"next_tli", "next_tli_startpos"};
  for (const auto& r :
       {result(cols, {}), result({"next_tli"}, {{"2"}}), result(cols, {{"2", "0/1"}, {"3", "0/2"}}),
        result(cols, {{std::nullopt, "0/1"}}), result(cols, {{"2", std::nullopt}}),
        result(cols, {{"two", "0/1"}}), result(cols, {{"2", "zero"}})}) {
    EXPECT_THROW(parse_timeline_switch(r), walstream::Error);
  }
}

struct BaseBackupCase {
  const char* name;
  int version;
  BaseBackupOptions options;
  const char* expected;
};

BaseBackupOptions defaults() { return BaseBackupOptions{}; }

BaseBackupOptions everything_changed() {
  BaseBackupOptions o;
  o.label = "it's a clone";
  o.progress = false;
  o.checkpoint = CheckpointMode::kSpread;
  o.max_rate_kbps = 1024;
  o.wait_for_wal_archive = true;
  o.manifest = true;
  o.manifest_checksums = "SHA256";
  o.tablespace_map = true;
  o.verify_checksums = false;
  return o;
}

BaseBackupOptions all_flags() {
  BaseBackupOptions o;
  o.label = "x";
  o.max_rate_kbps = 32;
  o.tablespace_map = true;
  o.verify_checksums = false;
  return o;
}

BaseBackupOptions no_manifest() {
  BaseBackupOptions o;
  o.manifest = false;
  return o;
}

class BaseBackupCommandTest : public testing::TestWithParam<BaseBackupCase> {};

TEST_P(BaseBackupCommandTest, Syntax) {
  const auto& c = GetParam();
  EXPECT_EQ(base_backup_command(ServerVersion{c.version}, c.options), c.expected);
}

INSTANTIATE_TEST_SUITE_P(
    Versions, BaseBackupCommandTest,
    testing::Values(
        // 11: old syntax, no manifest even when requested.
        BaseBackupCase{"v11_defaults", 110022, defaults(),
                       "BASE_BACKUP LABEL 'walstream base backup' PROGRESS FAST NOWAIT"},
        BaseBackupCase{"v11_all_flags", 110022, all_flags(),
                       "BASE_BACKUP LABEL 'x' PROGRESS FAST NOWAIT MAX_RATE 32 TABLESPACE_MAP "
                       "NOVERIFY_CHECKSUMS"},
        BaseBackupCase{"v11_everything_changed", 110022, everything_changed(),
                       "BASE_BACKUP LABEL 'it''s a clone' MAX_RATE 1024 TABLESPACE_MAP "
                       "NOVERIFY_CHECKSUMS"},
        // 13 and 14: old syntax with manifest.
        BaseBackupCase{"v13_defaults", 130023, defaults(),
                       "BASE_BACKUP LABEL 'walstream base backup' PROGRESS FAST NOWAIT "
                       "MANIFEST 'yes' MANIFEST_CHECKSUMS 'CRC32C'"},
        BaseBackupCase{"v13_no_manifest", 130023, no_manifest(),
                       "BASE_BACKUP LABEL 'walstream base backup' PROGRESS FAST NOWAIT"},
        BaseBackupCase{"v14_all_flags", 140023, all_flags(),
                       "BASE_BACKUP LABEL 'x' PROGRESS FAST NOWAIT MAX_RATE 32 TABLESPACE_MAP "
                       "NOVERIFY_CHECKSUMS MANIFEST 'yes' MANIFEST_CHECKSUMS 'CRC32C'"},
        BaseBackupCase{"v14_everything_changed", 140023, everything_changed(),
                       "BASE_BACKUP LABEL 'it''s a clone' MAX_RATE 1024 TABLESPACE_MAP "
                       "NOVERIFY_CHECKSUMS MANIFEST 'yes' MANIFEST_CHECKSUMS 'SHA256'"},
        // 15 and later: parenthesized syntax.
        BaseBackupCase{"v15_defaults", 150018, defaults(),
                       "BASE_BACKUP (LABEL 'walstream base backup', PROGRESS, CHECKPOINT "
                       "'fast', WAIT 0, MANIFEST 'yes', MANIFEST_CHECKSUMS 'CRC32C')"},
        BaseBackupCase{"v15_all_flags", 150018, all_flags(),
                       "BASE_BACKUP (LABEL 'x', PROGRESS, CHECKPOINT 'fast', WAIT 0, MAX_RATE "
                       "32, TABLESPACE_MAP, VERIFY_CHECKSUMS 0, MANIFEST 'yes', "
                       "MANIFEST_CHECKSUMS 'CRC32C')"},
        BaseBackupCase{"v17_everything_changed", 170010, everything_changed(),
                       "BASE_BACKUP (LABEL 'it''s a clone', CHECKPOINT 'spread', MAX_RATE "
                       "1024, TABLESPACE_MAP, VERIFY_CHECKSUMS 0, MANIFEST 'yes', "
                       "MANIFEST_CHECKSUMS 'SHA256')"},
        BaseBackupCase{"v17_no_manifest", 170010, no_manifest(),
                       "BASE_BACKUP (LABEL 'walstream base backup', PROGRESS, CHECKPOINT "
                       "'fast', WAIT 0)"}),
    [](const testing::TestParamInfo<BaseBackupCase>& param_info) { return param_info.param.name; });

TEST(BaseBackupCommandTest, MaxRateBounds) {
  for (std::uint32_t rate : {0u, 31u, 1048577u, 4000000000u}) {
    BaseBackupOptions o;
    o.max_rate_kbps = rate;
    for (int version : {110022, 150018}) {
      const auto e = error_of([&] { base_backup_command(ServerVersion{version}, o); });
      EXPECT_EQ(e.kind(), walstream::ErrorKind::kUsage) << rate;
      EXPECT_THAT(e.what(), HasSubstr("out of range"));
    }
  }
  BaseBackupOptions o;
  o.max_rate_kbps = 1048576;
  EXPECT_THAT(base_backup_command(ServerVersion{150018}, o), HasSubstr("MAX_RATE 1048576,"));
}

TEST(BackupPositionTest, Parses) {
  const auto pos = parse_backup_position(result({"recptr", "tli"}, {{"0/2000028", "1"}}));
  EXPECT_EQ(pos.lsn, Lsn{0x2000028});
  EXPECT_EQ(pos.timeline, 1u);
}

TEST(BackupPositionTest, RejectsMalformed) {
  const std::vector<std::string> cols = {"recptr", "tli"};
  for (const auto& r :
       {result(cols, {}), result({"recptr"}, {{"0/1"}}), result(cols, {{"0/1", "1"}, {"0/2", "1"}}),
        result(cols, {{std::nullopt, "1"}}), result(cols, {{"0/1", std::nullopt}}),
        result(cols, {{"0/1", "1.0"}}), result(cols, {{"01", "1"}})}) {
    EXPECT_THROW(parse_backup_position(r), walstream::Error);
  }
}

TEST(TablespaceHeaderTest, ParsesTablespacesThenMain) {
  const auto spaces = parse_tablespace_header(
      result({"spcoid", "spclocation", "size"}, {{"16384", "/srv/ts1", "1024"},
                                                 {"16385", "/srv/it's here", std::nullopt},
                                                 {std::nullopt, std::nullopt, "30000"}}));
  ASSERT_EQ(spaces.size(), 3u);
  EXPECT_EQ(spaces[0].oid, 16384u);
  EXPECT_EQ(spaces[0].location, "/srv/ts1");
  EXPECT_EQ(spaces[0].size_kb, 1024);
  EXPECT_EQ(spaces[1].oid, 16385u);
  EXPECT_EQ(spaces[1].location, "/srv/it's here");
  EXPECT_FALSE(spaces[1].size_kb.has_value());
  EXPECT_FALSE(spaces[2].oid.has_value());
  EXPECT_FALSE(spaces[2].location.has_value());
  EXPECT_EQ(spaces[2].size_kb, 30000);
}

TEST(TablespaceHeaderTest, MainOnlyWithoutProgress) {
  const auto spaces = parse_tablespace_header(
      result({"spcoid", "spclocation", "size"}, {{std::nullopt, std::nullopt, std::nullopt}}));
  ASSERT_EQ(spaces.size(), 1u);
  EXPECT_FALSE(spaces[0].oid.has_value());
  EXPECT_FALSE(spaces[0].size_kb.has_value());
}

TEST(TablespaceHeaderTest, RejectsMalformed) {
  const std::vector<std::string> cols = {"spcoid", "spclocation", "size"};
  const Row main = {std::nullopt, std::nullopt, std::nullopt};
  for (const auto& r : {
           result(cols, {}),  // no main row
           result({"spcoid", "spclocation"}, {{std::nullopt, std::nullopt}}),
           result(cols, {{"16384", "/srv/ts1", "1"}}),             // main missing
           result(cols, {main, {"16384", "/srv/ts1", "1"}}),       // main not last
           result(cols, {main, main}),                             // two mains
           result(cols, {{"16384", std::nullopt, "1"}, main}),     // half NULL
           result(cols, {{std::nullopt, "/srv/ts1", "1"}, main}),  // half NULL
           result(cols, {{"abc", "/srv/ts1", "1"}, main}),         // bad oid
           result(cols, {{"0", "/srv/ts1", "1"}, main}),           // invalid oid
           result(cols, {{"4294967296", "/srv/ts1", "1"}, main}),  // oid overflow
           result(cols, {{"16384", "", "1"}, main}),               // empty location
           result(cols, {{"16384", "/srv/ts1", "-1"}, main}),      // negative size
           result(cols, {{"16384", "/srv/ts1", "-0"}, main}),      // a sign
           result(cols, {{"16384", "/srv/ts1", "+1"}, main}),      // a sign
           result(cols, {{"16384", "/srv/ts1", "1kB"}, main}),     // bad size
           result(cols, {{"16384", "/srv/ts1"}, main}),            // short row
       }) {
    EXPECT_THROW(parse_tablespace_header(r), walstream::Error);
  }
}

}  // namespace

namespace {

TEST(ReadReplicationSlotTest, CommandQuotesName) {
  EXPECT_EQ(read_replication_slot_command("archive_1"), "READ_REPLICATION_SLOT \"archive_1\"");
  EXPECT_THROW(read_replication_slot_command("Bad\"Name"), walstream::Error);
}

TEST(ReadReplicationSlotTest, ParsesPhysicalSlot) {
  const std::vector<std::string> cols = {"slot_type", "restart_lsn", "restart_tli"};
  auto info = parse_read_replication_slot(result(cols, {{"physical", "0/3000000", "1"}}));
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->restart_lsn, Lsn{0x3000000});
  EXPECT_EQ(info->restart_timeline, 1u);
}

TEST(ReadReplicationSlotTest, SlotWithoutReservedWal) {
  const std::vector<std::string> cols = {"slot_type", "restart_lsn", "restart_tli"};
  auto info = parse_read_replication_slot(result(cols, {{"physical", std::nullopt, std::nullopt}}));
  ASSERT_TRUE(info.has_value());
  EXPECT_FALSE(info->restart_lsn.has_value());
}

TEST(ReadReplicationSlotTest, MissingSlotIsRowOfNulls) {
  const std::vector<std::string> cols = {"slot_type", "restart_lsn", "restart_tli"};
  EXPECT_FALSE(
      parse_read_replication_slot(result(cols, {{std::nullopt, std::nullopt, std::nullopt}}))
          .has_value());
}

TEST(ReadReplicationSlotTest, LogicalSlotIsRefused) {
  const std::vector<std::string> cols = {"slot_type", "restart_lsn", "restart_tli"};
  EXPECT_THROW(parse_read_replication_slot(result(cols, {{"logical", "0/1", "1"}})),
               walstream::Error);
}

}  // namespace

namespace {

TEST(TimelineHistoryTest, CommandAndResult) {
  EXPECT_EQ(timeline_history_command(2), "TIMELINE_HISTORY 2");
  auto file = parse_timeline_history(
      result({"filename", "content"}, {{"00000002.history", "1\t0/3000000\tno recovery target\n"}}),
      2);
  EXPECT_EQ(file.file_name, "00000002.history");
  EXPECT_EQ(file.content, "1\t0/3000000\tno recovery target\n");
  EXPECT_EQ(file.history.timeline, 2U);
  ASSERT_EQ(file.history.switches.size(), 1U);
  EXPECT_EQ(file.history.switches[0], (TimelineSwitch{1, 2, Lsn{0x3000000}, "no recovery target"}));
}

TEST(TimelineHistoryTest, RejectsContentThatIsNotAHistoryOfThatTimeline) {
  for (const char* content :
       {"", "garbage", "<html>\n<body>not found</body>\n",
        "1\t0/3000000\tok\n2\t0/2000000\tgoes back\n", "3\t0/3000000\tnot below 3\n",
        "1\t0/3000000\tok\n1\t0/4000000\tx\n"}) {
    try {
      parse_timeline_history(result({"filename", "content"}, {{"00000003.history", content}}), 3);
      ADD_FAILURE() << "no error for " << content;
    } catch (const walstream::Error& e) {
      const std::string message = e.what();
      EXPECT_EQ(e.kind(), walstream::ErrorKind::kProtocol);
      EXPECT_THAT(message, HasSubstr("TIMELINE_HISTORY 3: invalid timeline history of timeline 3"));
      EXPECT_EQ(message.find('\n'), std::string::npos) << message;
      EXPECT_THAT(e.hint(), HasSubstr("00000003.history"));
    }
  }
}

TEST(TimelineHistoryTest, RejectsUnexpectedName) {
  EXPECT_THROW(parse_timeline_history(result({"filename", "content"}, {{"../x.history", "1"}}), 2),
               walstream::Error);
  EXPECT_THROW(
      parse_timeline_history(result({"filename", "content"}, {{"00000003.history", "1"}}), 2),
      walstream::Error);
  EXPECT_THROW(parse_timeline_history(
                   result({"filename", "content"}, {{"00000002.history", std::nullopt}}), 2),
               walstream::Error);
}

}  // namespace

namespace {

TEST(BaseBackupCompressionTest, SentFrom15) {
  BaseBackupOptions options;
  options.label = "x";
  options.progress = false;
  options.manifest = false;
  options.compression = "zstd";
  options.compression_detail = "level=3,workers=2";
  EXPECT_EQ(base_backup_command(ServerVersion{150018}, options),
            "BASE_BACKUP (LABEL 'x', CHECKPOINT 'fast', WAIT 0, COMPRESSION 'zstd', "
            "COMPRESSION_DETAIL 'level=3,workers=2')");
  options.compression_detail.clear();
  options.compression = "lz4";
  EXPECT_EQ(base_backup_command(ServerVersion{170010}, options),
            "BASE_BACKUP (LABEL 'x', CHECKPOINT 'fast', WAIT 0, COMPRESSION 'lz4')");
}

TEST(BaseBackupCompressionTest, RefusedBefore15) {
  BaseBackupOptions options;
  options.compression = "gzip";
  EXPECT_THROW(base_backup_command(ServerVersion{140023}, options), walstream::Error);
}

}  // namespace
