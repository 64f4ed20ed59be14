#include "storage/standby_config.h"

#include "protocol/conninfo.h"
#include "storage/file_util.h"

namespace walstream::storage {

void write_standby_config(const std::filesystem::path& data_dir, const StandbyConfigInput& input) {
  const int major = input.server_version.major();
  protocol::StandbySettings settings;
  settings.primary_conninfo =
      protocol::format_conninfo(protocol::standby_conninfo_options(input.conninfo, major));
  settings.primary_slot_name = input.slot;
  const std::string text = protocol::standby_config_text(major, settings);

  // The primary may run with hot_standby = off in postgresql.conf; a clone is
  // meant to answer queries, and postgresql.auto.conf is read last.
  const std::string hot_standby = "hot_standby = 'on'\n";
  const auto auto_conf = data_dir / "postgresql.auto.conf";
  if (major >= 12) {
    append_file(auto_conf, text + hot_standby, input.file_mode);
    write_file(data_dir / "standby.signal", "", input.file_mode);
  } else {
    write_file(data_dir / "recovery.conf", text, input.file_mode);
    append_file(auto_conf, hot_standby, input.file_mode);
  }
}

}  // namespace walstream::storage
