#include "walreceiver/receive_metrics.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace walstream::walreceiver {
namespace {

using namespace std::chrono_literals;
using protocol::Lsn;
using ::testing::HasSubstr;

const auto kNow = std::chrono::system_clock::time_point(std::chrono::seconds(1'800'000'000));

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// name{labels} -> value, for every sample line; fails on a line that is not a
// comment or a sample.
std::map<std::string, std::string> samples_of(const std::string& text) {
  static const std::regex sample(
      R"(^([a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*",?)*\})?) (\S+)$)");
  std::map<std::string, std::string> samples;
  for (const std::string& line : lines_of(text)) {
    if (line.starts_with("# HELP ") || line.starts_with("# TYPE ")) continue;
    std::smatch match;
    EXPECT_TRUE(std::regex_match(line, match, sample)) << line;
    if (!match.empty()) samples[match[1]] = match[5];
  }
  return samples;
}

ReceiveStats busy_stats() {
  ReceiveStats stats;
  stats.on_streaming({2, Lsn{0x5000000}});
  stats.on_wal_data(Lsn{0x5000000}, 0x20000, Lsn{0x5030000}, protocol::to_pg_timestamp(kNow - 3s));
  stats.on_durable({2, Lsn{0x5010000}});
  stats.on_write_batch(0x20000);
  stats.on_fdatasync(2ms);
  stats.on_fdatasync(30ms);
  stats.on_segment_completed();
  stats.on_segment_compressed();
  stats.on_file_uploaded();
  stats.on_file_uploaded();
  stats.on_spool_waiting(7);
  stats.on_spool_full(true);
  stats.on_spool_full(false);
  stats.on_spool_full(true);
  stats.on_spool_full(true);
  stats.on_upload_retry();
  stats.on_upload_retry();
  stats.on_upload_retry();
  stats.on_reconnect(std::chrono::system_clock::time_point(std::chrono::seconds(1'700'000'000)));
  stats.on_streaming({2, Lsn{0x5000000}});
  return stats;
}

TEST(ReceiveMetricsTest, EverySampleOfABusyReceiver) {
  const std::string text =
      render_receive_metrics(busy_stats(), {"/var/lib/wal \"main\"", "archiver"}, kNow);
  const auto samples = samples_of(text);
  const std::map<std::string, std::string> expected = {
      {"walstream_receive_info{directory=\"/var/lib/wal \\\"main\\\"\",slot=\"archiver\"}", "1"},
      {"walstream_receive_streaming", "1"},
      {"walstream_receive_received_bytes_total", "131072"},
      {"walstream_receive_flushed_bytes_total", "65536"},
      {"walstream_receive_received_lsn", std::to_string(0x5020000)},
      {"walstream_receive_flushed_lsn", std::to_string(0x5010000)},
      {"walstream_receive_server_wal_end_lsn", std::to_string(0x5030000)},
      {"walstream_receive_lag_bytes", "131072"},
      {"walstream_receive_lag_seconds", "3"},
      {"walstream_receive_reconnects_total", "1"},
      {"walstream_receive_timeline", "2"},
      {"walstream_receive_segments_completed_total", "1"},
      {"walstream_receive_segments_compressed_total", "1"},
      {"walstream_receive_files_uploaded_total", "2"},
      {"walstream_receive_spool_files", "7"},
      {"walstream_receive_spool_full", "1"},
      {"walstream_receive_spool_full_total", "2"},
      {"walstream_receive_upload_retries_total", "3"},
      {"walstream_receive_last_error_timestamp_seconds", "1700000000"},
      {"walstream_receive_fdatasync_seconds_bucket{le=\"0.001\"}", "0"},
      {"walstream_receive_fdatasync_seconds_bucket{le=\"0.0025\"}", "1"},
      {"walstream_receive_fdatasync_seconds_bucket{le=\"0.025\"}", "1"},
      {"walstream_receive_fdatasync_seconds_bucket{le=\"0.05\"}", "2"},
      {"walstream_receive_fdatasync_seconds_bucket{le=\"+Inf\"}", "2"},
      {"walstream_receive_fdatasync_seconds_sum", "0.032"},
      {"walstream_receive_fdatasync_seconds_count", "2"},
      {"walstream_receive_write_batch_bytes_bucket{le=\"131072\"}", "1"},
      {"walstream_receive_write_batch_bytes_bucket{le=\"+Inf\"}", "1"},
      {"walstream_receive_write_batch_bytes_count", "1"},
  };
  for (const auto& [name, value] : expected) {
    const auto found = samples.find(name);
    if (found == samples.end()) {
      ADD_FAILURE() << "no sample " << name << " in\n" << text;
    } else {
      EXPECT_EQ(found->second, value) << name;
    }
  }
}

TEST(ReceiveMetricsTest, EachFamilyHasHelpAndTypeOnceBeforeItsSamples) {
  const std::string text = render_receive_metrics(busy_stats(), {"/d", ""}, kNow);
  ASSERT_TRUE(text.ends_with("\n"));
  std::set<std::string> families;
  std::string current;
  for (const std::string& line : lines_of(text)) {
    if (line.starts_with("# HELP ")) {
      current = line.substr(7, line.find(' ', 7) - 7);
      EXPECT_TRUE(current.starts_with("walstream_receive_")) << line;
      EXPECT_TRUE(families.insert(current).second) << "twice: " << current;
    } else if (line.starts_with("# TYPE ")) {
      EXPECT_THAT(line, ::testing::StartsWith("# TYPE " + current + " ")) << line;
      const std::string type = line.substr(line.rfind(' ') + 1);
      EXPECT_TRUE(type == "counter" || type == "gauge" || type == "histogram") << line;
      if (type == "counter") {
        EXPECT_TRUE(current.ends_with("_total")) << line;
      }
    } else {
      EXPECT_TRUE(line.starts_with(current)) << line << " outside its family " << current;
    }
  }
  EXPECT_EQ(families.size(), 21U);
}

TEST(ReceiveMetricsTest, FreshReceiverHasZeros) {
  const std::string text = render_receive_metrics(ReceiveStats(), {"/d", ""}, kNow);
  const auto samples = samples_of(text);
  EXPECT_EQ(samples.at("walstream_receive_streaming"), "0");
  EXPECT_EQ(samples.at("walstream_receive_flushed_lsn"), "0");
  EXPECT_EQ(samples.at("walstream_receive_lag_seconds"), "0");
  EXPECT_EQ(samples.at("walstream_receive_last_error_timestamp_seconds"), "0");
  EXPECT_EQ(samples.at("walstream_receive_fdatasync_seconds_count"), "0");
  EXPECT_EQ(samples.at("walstream_receive_info{directory=\"/d\",slot=\"\"}"), "1");
  EXPECT_THAT(text, HasSubstr("walstream_receive_write_batch_bytes_bucket{le=\"+Inf\"} 0\n"));
}

}  // namespace
}  // namespace walstream::walreceiver
