#include "walreceiver/bench_report.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace walstream::walreceiver {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;
using ::testing::Not;

struct SplitCase {
  const char* name;
  BenchDuration transfer;
  BackupInclusiveTimes inclusive;
  bool compressed;
  BackupStepTimes expected;
};

TEST(SplitBackupTimesTest, StepsDoNotOverlap) {
  const std::vector<SplitCase> cases = {
      {"plain, discarded",
       100ms,
       {.handler = 30ms, .archive = 29ms, .tar = 28ms, .write = 0ms},
       false,
       {.receive = 70ms, .decompress = 0ms, .tar_parse = 29ms, .write = 0ms}},
      {"plain, written",
       100ms,
       {.handler = 60ms, .archive = 59ms, .tar = 58ms, .write = 40ms},
       false,
       {.receive = 40ms, .decompress = 0ms, .tar_parse = 19ms, .write = 40ms}},
      {"compressed, written",
       100ms,
       {.handler = 80ms, .archive = 79ms, .tar = 50ms, .write = 30ms},
       true,
       {.receive = 20ms, .decompress = 29ms, .tar_parse = 20ms, .write = 30ms}},
      // Clock granularity can make a part exceed its whole: never negative.
      {"clamped",
       10ms,
       {.handler = 11ms, .archive = 5ms, .tar = 6ms, .write = 7ms},
       true,
       {.receive = 0ms, .decompress = 0ms, .tar_parse = 0ms, .write = 7ms}},
  };
  for (const auto& c : cases) {
    const BackupStepTimes steps = split_backup_times(c.transfer, c.inclusive, c.compressed);
    EXPECT_EQ(steps.receive, c.expected.receive) << c.name;
    EXPECT_EQ(steps.decompress, c.expected.decompress) << c.name;
    EXPECT_EQ(steps.tar_parse, c.expected.tar_parse) << c.name;
    EXPECT_EQ(steps.write, c.expected.write) << c.name;
  }
}

TEST(BenchArithmeticTest, RatesAndUnits) {
  EXPECT_DOUBLE_EQ(seconds(1500ms), 1.5);
  EXPECT_DOUBLE_EQ(megabytes(3 * 1024 * 1024), 3.0);
  EXPECT_DOUBLE_EQ(per_second(10.0, 2s), 5.0);
  EXPECT_DOUBLE_EQ(per_second(10.0, 0s), 0.0);  // nothing measured: no rate, no division
  EXPECT_EQ(protocol::format_server_version({150018}), "15.18");
  EXPECT_EQ(protocol::format_server_version({110022}), "11.22");
  EXPECT_EQ(protocol::format_server_version({180000}), "18.0");
}

TEST(FormatTableTest, AlignsColumns) {
  EXPECT_EQ(format_table({{"stage", "MB", "s"}, {"base backup", "12.5", "3"}, {"WAL", "0.1", ""}}),
            "stage          MB  s\n"
            "base backup  12.5  3\n"
            "WAL           0.1\n");
  EXPECT_EQ(format_table({}), "");
}

BackupStageResult sample_backup() {
  BackupStageResult backup;
  backup.checkpoint = "fast";
  backup.manifest = true;
  backup.messages = 200;
  backup.bytes = 4 * 1024 * 1024;
  backup.archive_bytes = 4 * 1024 * 1024 - 1000;
  backup.tar_bytes = backup.archive_bytes;
  backup.manifest_bytes = 900;
  backup.archives = 2;
  backup.files = 950;
  backup.start = 300ms;
  backup.transfer = 2s;
  backup.steps = {.receive = 1500ms, .decompress = 0ms, .tar_parse = 500ms, .write = 0ms};
  backup.end = 10ms;
  backup.total = 2310ms;
  return backup;
}

WalStageResult sample_wal() {
  WalStageResult wal;
  wal.start_from = WalStartFrom::kRetained;
  wal.start = {1, protocol::Lsn{0x3000000}};
  wal.end = {1, protocol::Lsn{0x3A00000}};
  wal.stop_reason = WalStopReason::kDuration;
  wal.messages = 80;
  wal.keepalives = 3;
  wal.bytes = 0xA00000;
  wal.streaming = 4s;
  wal.receive = 3900ms;
  wal.total = 4100ms;
  return wal;
}

BenchReport sample_report() {
  BenchReport report;
  report.server_version = {150018};
  report.system_id = 7412345678901234567ULL;
  report.timeline = 1;
  report.segment_size = 16 * 1024 * 1024;
  report.backup = sample_backup();
  report.wal = sample_wal();
  return report;
}

TEST(BenchReportJsonTest, BothStages) {
  const auto json = nlohmann::json::parse(bench_report_json(sample_report()));
  EXPECT_EQ(json["server"]["version"], "15.18");
  EXPECT_EQ(json["server"]["version_num"], 150018);
  EXPECT_EQ(json["server"]["system_identifier"], "7412345678901234567");
  EXPECT_TRUE(json["write_to"].is_null());

  const auto& backup = json["backup"];
  EXPECT_EQ(backup["bytes"], 4 * 1024 * 1024);
  EXPECT_EQ(backup["messages"], 200);
  EXPECT_EQ(backup["files"], 950);
  EXPECT_TRUE(backup["compression"].is_null());
  EXPECT_DOUBLE_EQ(backup["mb_per_second"].get<double>(), 2.0);  // 4 MB in 2 s of transfer
  EXPECT_DOUBLE_EQ(backup["messages_per_second"].get<double>(), 100.0);
  EXPECT_DOUBLE_EQ(backup["times"]["checkpoint"].get<double>(), 0.3);
  EXPECT_DOUBLE_EQ(backup["times"]["receive"].get<double>(), 1.5);
  EXPECT_TRUE(backup["times"]["decompress"].is_null());
  EXPECT_TRUE(backup["times"]["write"].is_null());
  EXPECT_TRUE(backup["times"]["sync"].is_null());
  EXPECT_TRUE(backup["written_bytes"].is_null());

  const auto& wal = json["wal"];
  EXPECT_EQ(wal["start_from"], "retained");
  EXPECT_EQ(wal["start_lsn"], "0/3000000");
  EXPECT_EQ(wal["end_lsn"], "0/3A00000");
  EXPECT_EQ(wal["stop_reason"], "duration");
  EXPECT_EQ(wal["bytes"], 0xA00000);
  EXPECT_DOUBLE_EQ(wal["mb_per_second"].get<double>(), 2.5);  // 10 MB in 4 s
  EXPECT_DOUBLE_EQ(wal["messages_per_second"].get<double>(), 20.0);
  EXPECT_TRUE(wal["times"]["write"].is_null());
}

TEST(BenchReportJsonTest, WriteToAndCompressionFillTheirFields) {
  BenchReport report = sample_report();
  report.write_to = "/tmp/x";
  report.backup->compression = "zstd";
  report.backup->steps.decompress = 250ms;
  report.backup->written_bytes = 123;
  report.backup->steps.write = 100ms;
  report.backup->sync = 40ms;
  report.wal->write = 5ms;
  report.wal->sync = 7ms;
  const auto json = nlohmann::json::parse(bench_report_json(report));
  EXPECT_EQ(json["write_to"], "/tmp/x");
  EXPECT_EQ(json["backup"]["compression"], "zstd");
  EXPECT_DOUBLE_EQ(json["backup"]["times"]["decompress"].get<double>(), 0.25);
  EXPECT_DOUBLE_EQ(json["backup"]["times"]["write"].get<double>(), 0.1);
  EXPECT_DOUBLE_EQ(json["backup"]["times"]["sync"].get<double>(), 0.04);
  EXPECT_EQ(json["backup"]["written_bytes"], 123);
  EXPECT_DOUBLE_EQ(json["wal"]["times"]["write"].get<double>(), 0.005);
  EXPECT_DOUBLE_EQ(json["wal"]["times"]["sync"].get<double>(), 0.007);
}

TEST(BenchReportJsonTest, StageNotRunIsNull) {
  BenchReport report = sample_report();
  report.backup.reset();
  const auto json = nlohmann::json::parse(bench_report_json(report));
  EXPECT_TRUE(json["backup"].is_null());
  EXPECT_TRUE(json["wal"].is_object());
}

TEST(BenchReportTextTest, ThroughputTableAndSteps) {
  const std::string text = bench_report_text(sample_report());
  EXPECT_THAT(text, HasSubstr("PostgreSQL 15.18, system identifier 7412345678901234567"));
  EXPECT_THAT(text, HasSubstr("stage          MB  messages  seconds  MB/s  messages/s\n"
                              "base backup   4.0       200    2.000   2.0         100\n"
                              "WAL stream   10.0        80    4.000   2.5          20\n"));
  EXPECT_THAT(text, HasSubstr("  checkpoint (fast)"));
  EXPECT_THAT(text, HasSubstr("  receive"));
  EXPECT_THAT(text, Not(HasSubstr("decompress")));
  EXPECT_THAT(text, Not(HasSubstr("write")));
  EXPECT_THAT(text, HasSubstr("WAL stream: 0/3000000 on timeline 1 (retained) to 0/3A00000, "
                              "stopped by duration"));
}

TEST(BenchReportTextTest, OptionalStepsAppearWhenMeasured) {
  BenchReport report = sample_report();
  report.backup->compression = "lz4";
  report.backup->written_bytes = 1;
  report.backup->sync = 1s;
  report.wal->write = 1s;
  report.wal->sync = 1s;
  const std::string text = bench_report_text(report);
  EXPECT_THAT(text, HasSubstr("  decompress (lz4)"));
  EXPECT_THAT(text, HasSubstr("  write"));
  EXPECT_THAT(text, HasSubstr("  sync"));
}

}  // namespace
}  // namespace walstream::walreceiver
