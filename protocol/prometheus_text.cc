#include "protocol/prometheus_text.h"

#include <charconv>
#include <cmath>
#include <stdexcept>

namespace walstream::protocol {

namespace {

void require_name(std::string_view name, bool label) {
  if (!is_valid_prometheus_name(name, label)) {
    throw std::logic_error("not a Prometheus " + std::string(label ? "label" : "metric") +
                           " name: \"" + std::string(name) + "\"");
  }
}

}  // namespace

PrometheusNumber::PrometheusNumber(double value) {
  if (std::isnan(value)) {
    text_ = "NaN";
  } else if (std::isinf(value)) {
    text_ = value > 0 ? "+Inf" : "-Inf";
  } else if (std::trunc(value) == value && std::fabs(value) < 1e15) {
    // Whole numbers in full ("1700000000", not "1.7e+09"): easier to read.
    text_ = std::to_string(static_cast<std::int64_t>(value));
  } else {
    char buffer[32];
    const auto result = std::to_chars(buffer, buffer + sizeof buffer, value);
    text_.assign(buffer, result.ptr);
  }
}

bool is_valid_prometheus_name(std::string_view name, bool label) {
  if (name.empty()) return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    const bool digit = c >= '0' && c <= '9';
    const bool colon = c == ':' && !label;
    if (!(letter || colon || (digit && i > 0))) return false;
  }
  return true;
}

std::string prometheus_escape_label_value(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (const char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string prometheus_escape_help(std::string_view help) {
  std::string out;
  out.reserve(help.size());
  for (const char c : help) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

void PrometheusText::family(std::string_view name, std::string_view help, std::string_view type) {
  require_name(name, false);
  text_ += "# HELP ";
  text_ += name;
  text_ += ' ';
  text_ += prometheus_escape_help(help);
  text_ += "\n# TYPE ";
  text_ += name;
  text_ += ' ';
  text_ += type;
  text_ += '\n';
}

void PrometheusText::sample(std::string_view name, std::string_view suffix,
                            std::initializer_list<PrometheusLabel> labels,
                            const PrometheusNumber& value) {
  text_ += name;
  text_ += suffix;
  if (labels.size() > 0) {
    text_ += '{';
    bool first = true;
    for (const PrometheusLabel& label : labels) {
      require_name(label.name, true);
      if (!first) text_ += ',';
      first = false;
      text_ += label.name;
      text_ += "=\"";
      text_ += prometheus_escape_label_value(label.value);
      text_ += '"';
    }
    text_ += '}';
  }
  text_ += ' ';
  text_ += value.text();
  text_ += '\n';
}

void PrometheusText::counter(std::string_view name, std::string_view help, PrometheusNumber value) {
  family(name, help, "counter");
  sample(name, "", {}, value);
}

void PrometheusText::gauge(std::string_view name, std::string_view help, PrometheusNumber value) {
  family(name, help, "gauge");
  sample(name, "", {}, value);
}

void PrometheusText::gauge(std::string_view name, std::string_view help,
                           std::initializer_list<PrometheusLabel> labels, PrometheusNumber value) {
  family(name, help, "gauge");
  sample(name, "", labels, value);
}

void PrometheusText::histogram(std::string_view name, std::string_view help,
                               const PrometheusHistogram& data) {
  if (data.counts.size() != data.upper_bounds.size() + 1) {
    throw std::logic_error("histogram \"" + std::string(name) +
                           "\": one count per bucket and one above the last");
  }
  family(name, help, "histogram");
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < data.upper_bounds.size(); ++i) {
    cumulative += data.counts[i];
    const PrometheusNumber bound(data.upper_bounds[i]);
    sample(name, "_bucket", {{"le", bound.text()}}, cumulative);
  }
  cumulative += data.counts.back();
  sample(name, "_bucket", {{"le", "+Inf"}}, cumulative);
  sample(name, "_sum", {}, data.sum);
  sample(name, "_count", {}, cumulative);
}

}  // namespace walstream::protocol
