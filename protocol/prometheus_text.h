// The Prometheus text exposition format, version 0.0.4 (what a scraper reads
// from GET /metrics): one family per metric, each introduced by its # HELP and
// # TYPE lines, then its samples as `name{label="value",...} number`.
// Histograms are written as cumulative _bucket{le="..."} samples ending with
// le="+Inf", then _sum and _count. Pure: the caller brings the numbers.
#pragma once

#include <concepts>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>

namespace walstream::protocol {

// The content type a server gives the text.
inline constexpr std::string_view kPrometheusTextContentType =
    "text/plain; version=0.0.4; charset=utf-8";

// A sample value as the format spells it: integers exactly (an LSN or a byte
// count needs all 64 bits), whole doubles below 1e15 without an exponent,
// other numbers in the shortest form that reads back the same, and NaN, +Inf,
// -Inf.
class PrometheusNumber {
 public:
  template <std::integral T>
  PrometheusNumber(T value)  // NOLINT(google-explicit-constructor): a number is a number
      : text_(std::to_string(value)) {}
  PrometheusNumber(double value);  // NOLINT(google-explicit-constructor)
  const std::string& text() const { return text_; }

 private:
  std::string text_;
};

struct PrometheusLabel {
  std::string_view name;
  std::string_view value;
};

// Observations of a histogram with fixed buckets: counts[i] is how many fell
// in (upper_bounds[i-1], upper_bounds[i]], and counts has one more element
// than upper_bounds, for those above the last bound. Not cumulative: the
// writer sums them up.
struct PrometheusHistogram {
  std::span<const double> upper_bounds;
  std::span<const std::uint64_t> counts;
  double sum = 0;
};

// Appends metric families to one text. Names and label names must be valid
// Prometheus names (an invalid one is a programming error: std::logic_error).
class PrometheusText {
 public:
  void counter(std::string_view name, std::string_view help, PrometheusNumber value);
  void gauge(std::string_view name, std::string_view help, PrometheusNumber value);
  // A gauge with labels, such as an info metric (value 1, facts as labels).
  void gauge(std::string_view name, std::string_view help,
             std::initializer_list<PrometheusLabel> labels, PrometheusNumber value);
  void histogram(std::string_view name, std::string_view help, const PrometheusHistogram& data);

  const std::string& text() const { return text_; }

 private:
  void family(std::string_view name, std::string_view help, std::string_view type);
  void sample(std::string_view name, std::string_view suffix,
              std::initializer_list<PrometheusLabel> labels, const PrometheusNumber& value);

  std::string text_;
};

// Escapes for a label value: backslash, double quote and line feed.
std::string prometheus_escape_label_value(std::string_view value);
// Escapes for a HELP text: backslash and line feed.
std::string prometheus_escape_help(std::string_view help);
// [a-zA-Z_:][a-zA-Z0-9_:]* (metric names) or, without colons, label names.
bool is_valid_prometheus_name(std::string_view name, bool label = false);

}  // namespace walstream::protocol
