#include "tools/check_command.h"

#include <cstdio>

#include "tools/connection_flags.h"
#include "tools/exit_codes.h"
#include "tools/logging.h"

namespace walstream::tools {

CheckCommand::CheckCommand(CLI::App& app) {
  command_ = app.add_subcommand(
      "check",
      "Check that a primary is ready for clone and receive, and say how to fix what is not");
  auto& c = *command_;
  c.set_help_flag("--help", "Show help");
  add_connection_flags(c, options_.connection);
  c.add_option("-S,--slot", slot_, "Also check this replication slot");
  c.add_option("-D,--pgdata", directory_, "Also check free space where a clone would go");
}

std::string check_report_text(const std::vector<walreceiver::CheckItem>& items) {
  std::string text;
  for (const walreceiver::CheckItem& item : items) {
    switch (item.status) {
      case walreceiver::CheckStatus::kPass:
        text += "✓ ";
        break;
      case walreceiver::CheckStatus::kFail:
        text += "✗ ";
        break;
      case walreceiver::CheckStatus::kNotChecked:
        text += "? ";
        break;
    }
    text += item.name;
    if (!item.detail.empty()) text += ": " + item.detail;
    text += "\n";
    if (item.status == walreceiver::CheckStatus::kFail && !item.fix.empty()) {
      text += "    fix: " + item.fix + "\n";
    }
  }
  return text;
}

int CheckCommand::run() {
  set_log_identity(walreceiver::connection_identity(options_.connection));
  if (!slot_.empty()) options_.slot = slot_;
  if (!directory_.empty()) options_.directory = directory_;
  const std::vector<walreceiver::CheckItem> items = walreceiver::run_check(options_);
  std::fputs(check_report_text(items).c_str(), stdout);
  // Exit 0 only when every check passed: what a script asks check.
  for (const walreceiver::CheckItem& item : items) {
    if (item.status != walreceiver::CheckStatus::kPass) return kExitFailure;
  }
  return kExitSuccess;
}

}  // namespace walstream::tools
