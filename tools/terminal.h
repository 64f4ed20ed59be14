// What the command line shows a person: the password prompt and the progress
// line, pg_basebackup style (redrawn in place on a terminal, plain lines
// otherwise).
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include "walreceiver/clone.h"

namespace walstream::tools {

// Reads a password from the controlling terminal with echo off; nullopt when
// there is no terminal (e.g. under cron or CI).
std::optional<std::string> prompt_password();

class ProgressPrinter {
 public:
  ProgressPrinter();
  void update(const walreceiver::CloneProgress& progress);

 private:
  bool tty_;
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
  std::chrono::steady_clock::time_point last_print_{};
  std::size_t last_width_ = 0;  // of the line being redrawn
};

}  // namespace walstream::tools
