// walstream: the command line. Parses flags into option structs, runs the
// subcommand, and is the only place that prints errors and picks exit codes:
// 0 success, 1 failure, 2 usage error.
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>

#include "protocol/error.h"
#include "tools/bench_command.h"
#include "tools/clone_command.h"
#include "tools/connection_flags.h"
#include "tools/receive_command.h"
#include "tools/verify_command.h"

namespace {

void print_error(const std::string& message, const std::string& hint) {
  std::string line = "walstream: error: " + message;
  if (!hint.empty()) line += "; hint: " + hint;
  std::fprintf(stderr, "%s\n", line.c_str());
}

void set_up_logging() {
  auto logger = spdlog::stderr_logger_st("walstream");
  logger->set_pattern("walstream: %v");
  logger->set_level(spdlog::level::warn);
  spdlog::set_default_logger(logger);
}

}  // namespace

int main(int argc, char** argv) {
  set_up_logging();
  CLI::App app{"walstream: PostgreSQL physical replication client (clone, receive, bench)",
               "walstream"};
  // -h is the host, as in every PostgreSQL tool; help is --help only.
  app.set_help_flag("--help", "Show help");
  app.set_version_flag("-V,--version", "walstream 0.1.0");
  app.require_subcommand(1);
  walstream::tools::CloneCommand clone(app);
  walstream::tools::ReceiveCommand receive(app);
  walstream::tools::RestoreWalCommand restore_wal(app);
  walstream::tools::VerifyCommand verify(app);
  walstream::tools::BenchCommand bench(app);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    print_error(e.what(), "see \"walstream --help\" or \"walstream clone --help\"");
    return 2;
  }
  walstream::tools::hide_connection_secrets(app, argc, argv);

  try {
    if (clone.selected()) return clone.run();
    if (receive.selected()) return receive.run();
    if (restore_wal.selected()) return restore_wal.run();
    if (verify.selected()) return verify.run();
    if (bench.selected()) return bench.run();
  } catch (const walstream::Error& e) {
    print_error(e.what(), e.hint());
    return e.kind() == walstream::ErrorKind::kUsage ? 2 : 1;
  } catch (const std::exception& e) {
    print_error(e.what(), "");
    return 1;
  }
  return 2;
}
