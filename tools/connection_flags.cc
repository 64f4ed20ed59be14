#include "tools/connection_flags.h"

#include <cstring>
#include <string>
#include <string_view>

#include "protocol/conninfo_secrets.h"
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

void hide_connection_secrets(const CLI::App& app, int argc, char** argv) {
  for (const CLI::App* command : app.get_subcommands()) {
    const CLI::Option* dbname = command->get_option_no_throw("--dbname");
    if (dbname == nullptr) continue;
    for (const std::string& conninfo : dbname->results()) {
      const std::string masked = protocol::mask_secrets(conninfo);
      if (masked == conninfo) continue;
      // The value is a whole argument (-d VALUE) or ends one (--dbname=VALUE,
      // -dVALUE); the mask has its length, so it fits in place.
      for (int i = 1; i < argc; ++i) {
        const std::string_view argument(argv[i]);
        if (!argument.ends_with(conninfo)) continue;
        std::memcpy(argv[i] + (argument.size() - conninfo.size()), masked.data(), masked.size());
      }
    }
  }
}

}  // namespace walstream::tools
