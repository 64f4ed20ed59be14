// walstream: the command line. Parses flags into option structs, runs the
// subcommand, and is the only place that prints errors and picks exit codes
// (tools/exit_codes.h: 0 success, 1 failure, 2 usage, 3 connection, 4 server,
// 5 local I/O, 130 interrupted).
#include <malloc.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>

#include "protocol/error.h"
#include "tools/bench_command.h"
#include "tools/check_command.h"
#include "tools/clone_command.h"
#include "tools/connection_flags.h"
#include "tools/exit_codes.h"
#include "tools/logging.h"
#include "tools/receive_command.h"
#include "tools/verify_command.h"

using walstream::tools::exit_code_for;
using walstream::tools::kExitFailure;
using walstream::tools::kExitUsage;
using walstream::tools::print_error;

namespace {

// libpq allocates every CopyData message (up to 128 kB of WAL) with malloc
// and we free a batch of them at once. With glibc's adaptive thresholds the
// freed top of the heap went back to the kernel after a batch and the next
// batch faulted in fresh zeroed pages: up to one page fault per 4 kB of WAL.
// Fixed thresholds keep the freed memory for the next batch (the held
// messages are bounded, so is what stays).
void keep_freed_memory() {
  ::mallopt(M_MMAP_THRESHOLD, 4 * 1024 * 1024);
  ::mallopt(M_TRIM_THRESHOLD, 64 * 1024 * 1024);
}

}  // namespace

int main(int argc, char** argv) {
  keep_freed_memory();
  walstream::tools::set_up_logging();
  CLI::App app{"walstream: PostgreSQL physical replication client (clone, receive, check, bench)",
               "walstream"};
  // -h is the host, as in every PostgreSQL tool; help is --help only.
  app.set_help_flag("--help", "Show help");
  app.set_version_flag("-V,--version", "walstream 0.1.0");
  app.require_subcommand(1);
  // Given before or after the subcommand.
  app.fallthrough();
  std::string log_format;
  std::string log_level;
  app.add_option("--log-format", log_format, "Log lines as text (default) or json");
  app.add_option("--log-level", log_level, "error, warning (default), info or debug");
  walstream::tools::CloneCommand clone(app);
  walstream::tools::ReceiveCommand receive(app);
  walstream::tools::RestoreWalCommand restore_wal(app);
  walstream::tools::VerifyCommand verify(app);
  walstream::tools::BenchCommand bench(app);
  walstream::tools::CheckCommand check(app);
  app.footer(walstream::tools::exit_codes_help());

  // CLI11 would only say "A subcommand is required" for a misspelt one.
  std::string names;
  bool known = false;
  for (CLI::App* sub : app.get_subcommands({})) {
    sub->footer(walstream::tools::exit_codes_help(sub->get_name()));
    names += (names.empty() ? "" : ", ") + sub->get_name();
    if (argc >= 2 && sub->check_name(argv[1])) known = true;
  }
  if (argc < 2) {
    print_error("no subcommand given", "choose one of " + names + " (see \"walstream --help\")");
    return kExitUsage;
  }
  if (argv[1][0] != '-' && !known) {
    print_error(std::string("unknown subcommand \"") + argv[1] + "\"",
                "the subcommands are " + names + " (see \"walstream --help\")");
    return kExitUsage;
  }

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    // The subcommand whose arguments were wrong, when it was reached.
    std::string help = "walstream --help";
    for (const CLI::App* sub : app.get_subcommands())
      help = "walstream " + sub->get_name() + " --help";
    print_error(e.what(), "see \"" + help + "\"");
    return kExitUsage;
  }
  walstream::tools::hide_connection_secrets(app, argc, argv);

  try {
    walstream::tools::apply_log_settings(log_format, log_level);
    if (clone.selected()) return clone.run();
    if (receive.selected()) return receive.run();
    if (restore_wal.selected()) return restore_wal.run();
    if (verify.selected()) return verify.run();
    if (bench.selected()) return bench.run();
    if (check.selected()) return check.run();
  } catch (const walstream::Error& e) {
    print_error(e.what(), e.hint());
    // restore-wal answers PostgreSQL, which stops recovery on codes above 125.
    return restore_wal.selected() ? walstream::tools::restore_wal_exit_code_for(e.kind())
                                  : exit_code_for(e.kind());
  } catch (const std::exception& e) {
    print_error(e.what(), "");
    return kExitFailure;
  }
  return kExitUsage;
}
