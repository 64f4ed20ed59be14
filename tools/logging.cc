#include "tools/logging.h"

#include <spdlog/details/null_mutex.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>

#include "protocol/error.h"

namespace walstream::tools {

namespace {

bool json_format = false;
bool level_chosen = false;
std::string identity;

// "2026-12-02 09:51:19.123 UTC" (text) or "2026-12-02T09:51:19.123Z" (JSON).
std::string timestamp(std::chrono::system_clock::time_point when, bool iso) {
  const std::time_t seconds = std::chrono::system_clock::to_time_t(when);
  const auto millis =
      std::chrono::duration_cast<std::chrono::milliseconds>(when.time_since_epoch()).count() % 1000;
  std::tm utc{};
  ::gmtime_r(&seconds, &utc);
  char text[40];
  std::strftime(text, sizeof text, iso ? "%Y-%m-%dT%H:%M:%S" : "%Y-%m-%d %H:%M:%S", &utc);
  char out[64];
  std::snprintf(out, sizeof out, iso ? "%s.%03dZ" : "%s.%03d UTC", text, static_cast<int>(millis));
  return out;
}

const char* level_name(spdlog::level::level_enum level) {
  switch (level) {
    case spdlog::level::trace:
    case spdlog::level::debug:
      return "debug";
    case spdlog::level::info:
      return "info";
    case spdlog::level::warn:
      return "warning";
    default:
      return "error";
  }
}

// One line per event on stderr, in the chosen format.
class EventSink : public spdlog::sinks::base_sink<std::mutex> {
 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    const std::string message(msg.payload.data(), msg.payload.size());
    std::string line;
    if (json_format) {
      nlohmann::json event = {{"time", timestamp(msg.time, true)},
                              {"level", level_name(msg.level)},
                              {"pid", static_cast<long>(::getpid())},
                              {"message", message}};
      if (!identity.empty()) event["connection"] = identity;
      line = event.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    } else {
      line = timestamp(msg.time, false) + " walstream[" + std::to_string(::getpid()) + "] ";
      if (!identity.empty()) line += identity + " ";
      line += std::string(level_name(msg.level)) + ": " + message;
    }
    line += '\n';
    std::fputs(line.c_str(), stderr);
  }
  void flush_() override { std::fflush(stderr); }
};

}  // namespace

void set_up_logging() {
  auto logger = std::make_shared<spdlog::logger>("walstream", std::make_shared<EventSink>());
  logger->set_level(spdlog::level::warn);
  logger->flush_on(spdlog::level::trace);
  spdlog::set_default_logger(logger);
}

void apply_log_settings(const std::string& format, const std::string& level) {
  if (format == "json") {
    json_format = true;
  } else if (!format.empty() && format != "text") {
    throw Error(ErrorKind::kUsage, "--log-format: \"" + format + "\" is not a format",
                "use --log-format=text or --log-format=json");
  }
  if (level.empty()) return;
  spdlog::level::level_enum chosen;
  if (level == "error") {
    chosen = spdlog::level::err;
  } else if (level == "warning" || level == "warn") {
    chosen = spdlog::level::warn;
  } else if (level == "info") {
    chosen = spdlog::level::info;
  } else if (level == "debug") {
    chosen = spdlog::level::debug;
  } else {
    throw Error(ErrorKind::kUsage, "--log-level: \"" + level + "\" is not a level",
                "use error, warning, info or debug");
  }
  spdlog::set_level(chosen);
  level_chosen = true;
}

void log_verbose() {
  if (!level_chosen) spdlog::set_level(spdlog::level::info);
}

void set_log_identity(const std::string& value) { identity = value; }

void print_error(const std::string& message, const std::string& hint) {
  std::string line;
  if (json_format) {
    nlohmann::json event = {{"time", timestamp(std::chrono::system_clock::now(), true)},
                            {"level", "error"},
                            {"pid", static_cast<long>(::getpid())},
                            {"message", message}};
    if (!hint.empty()) event["hint"] = hint;
    if (!identity.empty()) event["connection"] = identity;
    line = event.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  } else {
    line = "walstream: error: " + message;
    if (!hint.empty()) line += "; hint: " + hint;
  }
  std::fprintf(stderr, "%s\n", line.c_str());
}

}  // namespace walstream::tools
