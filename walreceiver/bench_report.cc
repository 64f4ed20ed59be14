#include "walreceiver/bench_report.h"

#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>

namespace walstream::walreceiver {
namespace {

// Keys in the order written here, the order a person reads them in.
using json = nlohmann::ordered_json;

BenchDuration clamped_difference(BenchDuration whole, BenchDuration part) {
  return std::max(whole - part, BenchDuration::zero());
}

std::string fixed(double value, int decimals) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%.*f", decimals, value);
  return buffer;
}

json optional_seconds(const std::optional<BenchDuration>& duration) {
  return duration ? json(seconds(*duration)) : json(nullptr);
}

json backup_json(const BackupStageResult& backup) {
  json times = {
      {"checkpoint", seconds(backup.start)},
      {"receive", seconds(backup.steps.receive)},
      {"decompress",
       backup.compression.empty() ? json(nullptr) : json(seconds(backup.steps.decompress))},
      {"tar_parse", seconds(backup.steps.tar_parse)},
      {"write", backup.written_bytes ? json(seconds(backup.steps.write)) : json(nullptr)},
      {"end", seconds(backup.end)},
      {"sync", optional_seconds(backup.sync)},
  };
  return {
      {"checkpoint", backup.checkpoint},
      {"compression", backup.compression.empty() ? json(nullptr) : json(backup.compression)},
      {"manifest", backup.manifest},
      {"messages", backup.messages},
      {"bytes", backup.bytes},
      {"archive_bytes", backup.archive_bytes},
      {"tar_bytes", backup.tar_bytes},
      {"manifest_bytes", backup.manifest_bytes},
      {"archives", backup.archives},
      {"files", backup.files},
      {"written_bytes", backup.written_bytes ? json(*backup.written_bytes) : json(nullptr)},
      {"seconds", seconds(backup.total)},
      {"transfer_seconds", seconds(backup.transfer)},
      {"mb_per_second", per_second(megabytes(backup.bytes), backup.transfer)},
      {"messages_per_second", per_second(static_cast<double>(backup.messages), backup.transfer)},
      {"times", times},
  };
}

json wal_json(const WalStageResult& wal) {
  json times = {
      {"receive", seconds(wal.receive)},
      {"write", optional_seconds(wal.write)},
      {"sync", optional_seconds(wal.sync)},
  };
  return {
      {"start_from", to_string(wal.start_from)},
      {"timeline", wal.start.timeline},
      {"start_lsn", protocol::to_string(wal.start.lsn)},
      {"end_lsn", protocol::to_string(wal.end.lsn)},
      {"end_timeline", wal.end.timeline},
      {"stop_reason", to_string(wal.stop_reason)},
      {"messages", wal.messages},
      {"keepalives", wal.keepalives},
      {"bytes", wal.bytes},
      {"seconds", seconds(wal.total)},
      {"streaming_seconds", seconds(wal.streaming)},
      {"mb_per_second", per_second(megabytes(wal.bytes), wal.streaming)},
      {"messages_per_second", per_second(static_cast<double>(wal.messages), wal.streaming)},
      {"times", times},
  };
}

std::vector<std::string> throughput_row(const std::string& stage, std::uint64_t bytes,
                                        std::uint64_t messages, BenchDuration over) {
  return {stage,
          fixed(megabytes(bytes), 1),
          std::to_string(messages),
          fixed(seconds(over), 3),
          fixed(per_second(megabytes(bytes), over), 1),
          fixed(per_second(static_cast<double>(messages), over), 0)};
}

std::vector<std::string> step_row(const std::string& step, BenchDuration duration) {
  return {"  " + step, fixed(seconds(duration), 3)};
}

}  // namespace

BackupStepTimes split_backup_times(BenchDuration transfer, const BackupInclusiveTimes& inclusive,
                                   bool compressed) {
  BackupStepTimes steps;
  steps.receive = clamped_difference(transfer, inclusive.handler);
  steps.write = inclusive.write;
  // Without compression, archive handling is the tar parser plus a call.
  const BenchDuration parsing = compressed ? inclusive.tar : inclusive.archive;
  steps.tar_parse = clamped_difference(parsing, inclusive.write);
  if (compressed) steps.decompress = clamped_difference(inclusive.archive, inclusive.tar);
  return steps;
}

const char* to_string(WalStartFrom from) {
  switch (from) {
    case WalStartFrom::kRetained:
      return "retained";
    case WalStartFrom::kCurrent:
      return "current";
    case WalStartFrom::kGiven:
      return "given";
  }
  return "?";
}

const char* to_string(WalStopReason reason) {
  switch (reason) {
    case WalStopReason::kDuration:
      return "duration";
    case WalStopReason::kBytes:
      return "wal-bytes";
    case WalStopReason::kServerEnded:
      return "server-ended";
  }
  return "?";
}

double seconds(BenchDuration duration) { return std::chrono::duration<double>(duration).count(); }

double per_second(double amount, BenchDuration duration) {
  const double s = seconds(duration);
  return s > 0 ? amount / s : 0.0;
}

double megabytes(std::uint64_t bytes) { return static_cast<double>(bytes) / (1024.0 * 1024.0); }

std::string bench_report_json(const BenchReport& report) {
  json document = {
      {"server",
       {
           {"version", protocol::format_server_version(report.server_version)},
           {"version_num", report.server_version.number},
           // As text: a 64-bit identifier does not survive a double.
           {"system_identifier", std::to_string(report.system_id)},
           {"timeline", report.timeline},
           {"wal_segment_size", report.segment_size},
       }},
      {"write_to", report.write_to ? json(*report.write_to) : json(nullptr)},
      {"backup", report.backup ? backup_json(*report.backup) : json(nullptr)},
      {"wal", report.wal ? wal_json(*report.wal) : json(nullptr)},
  };
  return document.dump(2) + "\n";
}

std::string format_table(const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::size_t> widths;
  for (const auto& row : rows) {
    if (widths.size() < row.size()) widths.resize(row.size(), 0);
    for (std::size_t c = 0; c < row.size(); ++c) widths[c] = std::max(widths[c], row[c].size());
  }
  std::string out;
  for (const auto& row : rows) {
    std::string line;
    for (std::size_t c = 0; c < row.size(); ++c) {
      const std::string padding(widths[c] - row[c].size(), ' ');
      if (c > 0) line += "  ";
      line += c == 0 ? row[c] + padding : padding + row[c];
    }
    line.erase(line.find_last_not_of(' ') + 1);
    out += line + "\n";
  }
  return out;
}

std::string bench_report_text(const BenchReport& report) {
  std::string out = "PostgreSQL " + protocol::format_server_version(report.server_version) +
                    ", system identifier " + std::to_string(report.system_id) + ", timeline " +
                    std::to_string(report.timeline) + "\n\n";

  std::vector<std::vector<std::string>> throughput = {
      {"stage", "MB", "messages", "seconds", "MB/s", "messages/s"}};
  if (report.backup) {
    throughput.push_back(throughput_row("base backup", report.backup->bytes,
                                        report.backup->messages, report.backup->transfer));
  }
  if (report.wal) {
    throughput.push_back(throughput_row("WAL stream", report.wal->bytes, report.wal->messages,
                                        report.wal->streaming));
  }
  out += format_table(throughput) + "\n";

  std::vector<std::vector<std::string>> steps = {{"time per step", "seconds"}};
  if (const auto& backup = report.backup) {
    steps.push_back({"base backup", fixed(seconds(backup->total), 3)});
    steps.push_back(step_row("checkpoint (" + backup->checkpoint + ")", backup->start));
    steps.push_back(step_row("receive", backup->steps.receive));
    if (!backup->compression.empty()) {
      steps.push_back(
          step_row("decompress (" + backup->compression + ")", backup->steps.decompress));
    }
    steps.push_back(step_row("tar parse", backup->steps.tar_parse));
    if (backup->written_bytes) steps.push_back(step_row("write", backup->steps.write));
    steps.push_back(step_row("end of backup", backup->end));
    if (backup->sync) steps.push_back(step_row("sync", *backup->sync));
  }
  if (const auto& wal = report.wal) {
    steps.push_back({"WAL stream", fixed(seconds(wal->total), 3)});
    steps.push_back(step_row("receive", wal->receive));
    if (wal->write) steps.push_back(step_row("write", *wal->write));
    if (wal->sync) steps.push_back(step_row("sync", *wal->sync));
  }
  out += format_table(steps);

  if (const auto& backup = report.backup) {
    out += "\nbase backup: " + std::to_string(backup->archives) + " archive(s), " +
           std::to_string(backup->files) + " files, " + fixed(megabytes(backup->tar_bytes), 1) +
           " MB of tar";
    if (!backup->compression.empty()) {
      out += " (" + fixed(megabytes(backup->archive_bytes), 1) + " MB " + backup->compression + ")";
    }
    out += backup->manifest ? ", with manifest\n" : ", no manifest\n";
  }
  if (const auto& wal = report.wal) {
    out += (report.backup ? "" : "\n") + std::string("WAL stream: ") +
           protocol::to_string(wal->start) + " (" + to_string(wal->start_from) + ") to " +
           protocol::to_string(wal->end.lsn) + ", stopped by " + to_string(wal->stop_reason) + "\n";
  }
  return out;
}

}  // namespace walstream::walreceiver
