// `walstream check`: the connection flags of `walstream clone`, -S SLOT and
// -D DIR; prints one line per item (✓, ✗ with the fix, or ? when an earlier
// failure hid it) and exits 0 only when every item passed.
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "walreceiver/check_advice.h"
#include "walreceiver/preflight.h"

namespace walstream::tools {

class CheckCommand {
 public:
  explicit CheckCommand(CLI::App& app);
  bool selected() const { return command_->parsed(); }
  int run();

 private:
  CLI::App* command_;
  walreceiver::CheckOptions options_;
  std::string slot_;
  std::string directory_;
};

// The report's text: one line per item, a "fix:" line under each failure.
std::string check_report_text(const std::vector<walreceiver::CheckItem>& items);

}  // namespace walstream::tools
