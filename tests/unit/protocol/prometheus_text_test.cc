#include "protocol/prometheus_text.h"

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>

namespace walstream::protocol {
namespace {

struct NumberCase {
  PrometheusNumber number;
  std::string text;
};

TEST(PrometheusTextTest, Numbers) {
  const NumberCase cases[] = {
      {0, "0"},
      {std::uint64_t{18446744073709551615U}, "18446744073709551615"},  // every bit of an LSN
      {std::int64_t{-3}, "-3"},
      {0.5, "0.5"},
      {0.005, "0.005"},
      {1.0, "1"},
      {4096.0, "4096"},
      {1e6, "1000000"},
      {1700000000.25, "1700000000.25"},
      {-2.0, "-2"},
      {1e20, "1e+20"},
      {1.5e-7, "1.5e-07"},
      {std::numeric_limits<double>::infinity(), "+Inf"},
      {-std::numeric_limits<double>::infinity(), "-Inf"},
      {std::numeric_limits<double>::quiet_NaN(), "NaN"},
  };
  for (const auto& c : cases) EXPECT_EQ(c.number.text(), c.text);
}

struct EscapeCase {
  std::string raw;
  std::string label_value;
  std::string help;
};

TEST(PrometheusTextTest, Escapes) {
  const EscapeCase cases[] = {
      {"plain", "plain", "plain"},
      {"a\\b", "a\\\\b", "a\\\\b"},
      {"say \"hi\"", "say \\\"hi\\\"", "say \"hi\""},
      {"two\nlines", "two\\nlines", "two\\nlines"},
      {"", "", ""},
      {"tab\there", "tab\there", "tab\there"},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(prometheus_escape_label_value(c.raw), c.label_value) << c.raw;
    EXPECT_EQ(prometheus_escape_help(c.raw), c.help) << c.raw;
  }
}

TEST(PrometheusTextTest, Names) {
  EXPECT_TRUE(is_valid_prometheus_name("walstream_receive_lag_bytes"));
  EXPECT_TRUE(is_valid_prometheus_name("job:rate5m"));
  EXPECT_TRUE(is_valid_prometheus_name("_x9"));
  EXPECT_FALSE(is_valid_prometheus_name(""));
  EXPECT_FALSE(is_valid_prometheus_name("9lives"));
  EXPECT_FALSE(is_valid_prometheus_name("has-dash"));
  EXPECT_FALSE(is_valid_prometheus_name("has space"));
  EXPECT_TRUE(is_valid_prometheus_name("le", true));
  EXPECT_FALSE(is_valid_prometheus_name("a:b", true));
}

TEST(PrometheusTextTest, CounterAndGauges) {
  PrometheusText text;
  text.counter("x_bytes_total", "Bytes.\nMore \\ help", std::uint64_t{42});
  text.gauge("x_lag_seconds", "Lag.", 1.5);
  text.gauge("x_info", "Facts.", {{"slot", "a\"b"}, {"directory", "/d\\e\nf"}}, 1);
  EXPECT_EQ(text.text(),
            "# HELP x_bytes_total Bytes.\\nMore \\\\ help\n"
            "# TYPE x_bytes_total counter\n"
            "x_bytes_total 42\n"
            "# HELP x_lag_seconds Lag.\n"
            "# TYPE x_lag_seconds gauge\n"
            "x_lag_seconds 1.5\n"
            "# HELP x_info Facts.\n"
            "# TYPE x_info gauge\n"
            "x_info{slot=\"a\\\"b\",directory=\"/d\\\\e\\nf\"} 1\n");
}

TEST(PrometheusTextTest, HistogramIsCumulativeAndEndsWithInf) {
  const std::array<double, 3> bounds = {0.001, 0.01, 0.1};
  const std::array<std::uint64_t, 4> counts = {2, 0, 3, 1};
  PrometheusText text;
  text.histogram("x_seconds", "Time.", {bounds, counts, 0.75});
  EXPECT_EQ(text.text(),
            "# HELP x_seconds Time.\n"
            "# TYPE x_seconds histogram\n"
            "x_seconds_bucket{le=\"0.001\"} 2\n"
            "x_seconds_bucket{le=\"0.01\"} 2\n"
            "x_seconds_bucket{le=\"0.1\"} 5\n"
            "x_seconds_bucket{le=\"+Inf\"} 6\n"
            "x_seconds_sum 0.75\n"
            "x_seconds_count 6\n");
}

TEST(PrometheusTextTest, EmptyHistogram) {
  const std::array<double, 1> bounds = {1};
  const std::array<std::uint64_t, 2> counts = {0, 0};
  PrometheusText text;
  text.histogram("h", "H.", {bounds, counts, 0});
  EXPECT_EQ(text.text(),
            "# HELP h H.\n# TYPE h histogram\nh_bucket{le=\"1\"} 0\nh_bucket{le=\"+Inf\"} 0\n"
            "h_sum 0\nh_count 0\n");
}

TEST(PrometheusTextTest, RefusesInvalidNamesAndShapes) {
  PrometheusText text;
  EXPECT_THROW(text.gauge("bad-name", "", 1), std::logic_error);
  EXPECT_THROW(text.gauge("ok", "", {{"bad:label", "v"}}, 1), std::logic_error);
  const std::array<double, 2> bounds = {1, 2};
  const std::array<std::uint64_t, 2> counts = {0, 0};
  EXPECT_THROW(text.histogram("h", "", {bounds, counts, 0}), std::logic_error);
}

}  // namespace
}  // namespace walstream::protocol
