#include "tools/connection_flags.h"

#include "tools/terminal.h"

namespace walstream::tools {

void add_connection_flags(CLI::App& command, walreceiver::ConnectionOptions& options) {
  command.add_option("-d,--dbname", options.conninfo, "Connection string");
  command.add_option("-h,--host", options.host, "Database server host or socket directory");
  command.add_option("-p,--port", options.port, "Database server port");
  command.add_option("-U,--username", options.user, "Connect as this role");
  command.add_flag("-w,--no-password", options.never_prompt, "Never prompt for a password");
  command.add_flag("-W,--password", options.force_prompt, "Prompt for a password first");
  options.password_prompt = prompt_password;
}

}  // namespace walstream::tools
