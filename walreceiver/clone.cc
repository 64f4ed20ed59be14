#include "walreceiver/clone.h"

#include <spdlog/spdlog.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/this_coro.hpp>
#include <csignal>
#include <cstring>

#include "protocol/error.h"
#include "protocol/wal_file_names.h"
#include "storage/backup_extractor.h"
#include "storage/file_util.h"
#include "storage/wal_segment_writer.h"
#include "walreceiver/background_task.h"
#include "walreceiver/basebackup_session.h"
#include "walreceiver/pg_connection.h"
#include "walreceiver/plain_wal_sink.h"
#include "walreceiver/server_facts.h"
#include "walreceiver/standby_config.h"
#include "walreceiver/target_directory.h"
#include "walreceiver/wal_stream_session.h"

namespace walstream::walreceiver {
namespace {

namespace fs = std::filesystem;
using protocol::ServerVersion;

// What the server told us before the backup starts.
struct ServerFacts {
  protocol::SystemIdentity identity;
  ServerVersion version;
  std::uint64_t segment_size = 0;
  mode_t data_directory_mode = 0700;
};

asio::awaitable<ServerFacts> read_server_facts(PgConnection& conn) {
  ServerFacts facts;
  facts.version = conn.server_version();
  check_supported_version(facts.version);
  facts.identity = co_await identify_system(conn);
  facts.segment_size = co_await read_wal_segment_size(conn);
  facts.data_directory_mode = co_await read_data_directory_mode(conn);
  co_return facts;
}

// The clone's WAL stream must end at the backup's end position, nowhere else.
asio::awaitable<void> stream_until_stop_position(WalStreamSession& session) {
  StreamEnd end = co_await session.run();
  if (end.reason != StreamEndReason::kStopPosition) {
    throw Error(ErrorKind::kConnection,
                "the server stopped streaming WAL before the backup's end position",
                "the primary may have been shut down or promoted; run the command again");
  }
}

struct CloneState {
  std::optional<std::string> created_slot;  // a permanent slot made with -C
  // Where tablespaces are extracted (after -T); removed again on failure.
  std::vector<std::unique_ptr<TargetDirectory>> tablespace_dirs;
  TargetDirectory* waldir = nullptr;  // --waldir, owned by run_clone
};

// pg_wal and pg_wal/archive_status, the directories WAL streaming writes to
// while the backup still runs; with --waldir pg_wal is a symlink to it.
fs::path make_wal_directories(const fs::path& data_dir, TargetDirectory* waldir, mode_t mode) {
  const fs::path wal_dir = data_dir / "pg_wal";
  std::vector<fs::path> dirs;
  if (waldir != nullptr) {
    waldir->create(mode);
    if (::symlink(waldir->path().c_str(), wal_dir.c_str()) != 0) {
      storage::throw_io_error("create symbolic link", wal_dir, errno);
    }
  } else {
    dirs.push_back(wal_dir);
  }
  dirs.push_back(wal_dir / protocol::kArchiveStatusDirectory);
  for (const auto& dir : dirs) {
    if (::mkdir(dir.c_str(), mode) != 0) storage::throw_io_error("create directory", dir, errno);
    if (::chmod(dir.c_str(), mode) != 0) {
      storage::throw_io_error("change permissions of directory", dir, errno);
    }
  }
  return wal_dir;
}

asio::awaitable<CloneSummary> clone(const CloneOptions& options, AbortSignal& abort,
                                    TargetDirectory& target, CloneState& state) {
  auto backup_conn = co_await PgConnection::connect(options.connection, abort);
  ServerFacts facts = co_await read_server_facts(*backup_conn);
  spdlog::info("connected to PostgreSQL {} (system identifier {}, WAL segment size {} MB)",
               facts.version.number, facts.identity.system_id, facts.segment_size >> 20);

  // The WAL connection is opened before the backup starts so that a refusal
  // (max_wal_senders, pg_hba.conf) is found before any checkpoint or file.
  auto wal_conn = co_await PgConnection::connect(options.connection, abort);
  auto wal_identity = co_await identify_system(*wal_conn);
  if (wal_identity.system_id != facts.identity.system_id) {
    throw Error(ErrorKind::kConnection, "the two connections reached different database systems",
                "point -h/-d at a single server");
  }

  // A slot reserves the WAL from before the backup's checkpoint until the
  // standby (or this command, for a temporary one) consumes it.
  std::string slot_name;
  if (options.create_slot) {
    slot_name = *options.slot;
    co_await wal_conn->exec(protocol::create_physical_slot_command(
                                facts.version, slot_name, protocol::SlotLifetime::kPermanent),
                            "CREATE_REPLICATION_SLOT");
    state.created_slot = slot_name;
    spdlog::info("created replication slot \"{}\"", slot_name);
  } else if (options.slot) {
    slot_name = *options.slot;
    // Fail before the checkpoint, not after the copy, when the slot is missing.
    bool missing = false;
    if (facts.version.major() >= 15) {
      missing = !protocol::parse_read_replication_slot(co_await wal_conn->exec(
          protocol::read_replication_slot_command(slot_name), "READ_REPLICATION_SLOT"));
    } else {
      missing = co_await probe_slot_exists(*wal_conn, slot_name) == std::optional<bool>(false);
    }
    if (missing) {
      throw Error(ErrorKind::kUsage, "replication slot \"" + slot_name + "\" does not exist",
                  "create it first, or add -C/--create-slot");
    }
  } else {
    slot_name = "walstream_" + std::to_string(PQbackendPID(wal_conn->native()));
    co_await wal_conn->exec(protocol::create_physical_slot_command(
                                facts.version, slot_name, protocol::SlotLifetime::kTemporary),
                            "CREATE_REPLICATION_SLOT");
    spdlog::info("created temporary replication slot \"{}\"", slot_name);
  }

  auto modes = storage::DataDirModes::from_data_directory_mode(facts.data_directory_mode);
  target.create(modes.directory);
  const fs::path wal_dir = make_wal_directories(target.path(), state.waldir, modes.directory);

  storage::BackupExtractorOptions extract;
  extract.data_dir = target.path();
  extract.modes = modes;
  extract.tar_trailer = facts.version.major() >= 15 ? protocol::TarParser::Trailer::kRequired
                                                    : protocol::TarParser::Trailer::kOptional;
  extract.map_tablespace = [&options](const std::string& location) {
    return options.tablespace_mapping.map(location);
  };
  storage::BackupExtractor extractor(std::move(extract));

  storage::WalWriterOptions wal_options;
  wal_options.directory = wal_dir;
  wal_options.segment_size = facts.segment_size;
  wal_options.file_mode = modes.file;
  wal_options.mark_done = true;
  wal_options.sync = false;  // one syncfs at the end covers the whole clone
  storage::WalSegmentWriter wal_writer(wal_options);
  PlainWalSink wal_sink(wal_writer);

  protocol::BaseBackupOptions backup_options;
  backup_options.label = options.label;
  backup_options.checkpoint = options.checkpoint;
  backup_options.max_rate_kbps = options.max_rate_kbps;
  backup_options.manifest = facts.version.major() >= 13;
  backup_options.compression = options.server_compression;
  backup_options.compression_detail = options.server_compression_detail;

  auto executor = co_await asio::this_coro::executor;
  std::optional<WalStreamSession> wal_stream;
  BackgroundTask wal_task(executor);
  std::optional<std::uint64_t> total_bytes;

  BaseBackupCallbacks callbacks;
  callbacks.started = [&](const protocol::BackupPosition& start,
                          const std::vector<protocol::TablespaceInfo>& tablespaces) {
    std::uint64_t total_kb = 0;
    bool known = true;
    for (const auto& ts : tablespaces) {
      if (ts.size_kb) {
        total_kb += static_cast<std::uint64_t>(*ts.size_kb);
      } else {
        known = false;
      }
    }
    if (known) total_bytes = total_kb * 1024;
    // Like -D: each (mapped) tablespace directory must be missing or empty,
    // and is removed again if the clone fails.
    for (const auto& ts : tablespaces) {
      if (!ts.location) continue;
      auto dir = std::make_unique<TargetDirectory>(
          options.tablespace_mapping.map(*ts.location),
          "relocate the tablespace with -T " + *ts.location + "=NEWDIR, or empty that directory");
      dir->create(modes.directory);
      state.tablespace_dirs.push_back(std::move(dir));
    }
    WalStreamOptions stream_options;
    stream_options.slot = slot_name;
    stream_options.start = protocol::segment_start(start.lsn, facts.segment_size);
    stream_options.timeline = start.timeline;
    stream_options.status_interval = options.status_interval;
    wal_stream.emplace(*wal_conn, wal_sink, stream_options);
    wal_task.start(stream_until_stop_position(*wal_stream), abort);
  };
  callbacks.progress = [&](std::uint64_t bytes) {
    if (options.on_progress) options.on_progress({bytes, total_bytes, false});
  };

  CloneSummary summary;
  std::exception_ptr failure;
  try {
    BaseBackupSession backup(*backup_conn, backup_options, extractor, callbacks);
    BaseBackupResult result = co_await backup.run();
    if (options.on_progress) options.on_progress({result.bytes, total_bytes, true});
    if (!wal_stream) throw ProtocolError("BASE_BACKUP finished without a start position");
    spdlog::info("waiting for WAL streaming to reach {}", protocol::to_string(result.end.lsn));
    wal_stream->stop_at(result.end.lsn);
    summary.system_id = facts.identity.system_id;
    summary.server_version = facts.version;
    summary.start = result.start;
    summary.end = result.end;
    summary.bytes = result.bytes;
  } catch (...) {
    failure = std::current_exception();
  }
  if (failure) {
    // Let the WAL coroutine unwind before the objects it uses go away.
    abort.abort(failure);
    try {
      co_await wal_task.join();
    } catch (...) {
    }
    std::rethrow_exception(failure);
  }
  co_await wal_task.join();
  wal_writer.finish(storage::WalSegmentWriter::FinishMode::kRenameToFinal);

  if (options.write_standby_config) {
    StandbyConfigInput config;
    config.server_version = facts.version;
    config.connection_options = backup_conn->effective_options();
    if (options.slot) config.slot = options.slot;
    config.file_mode = modes.file;
    write_standby_config(target.path(), config);
  }
  co_return summary;
}

void drop_slot_quietly(const ConnectionOptions& connection, const std::string& slot) {
  asio::io_context io;
  AbortSignal abort;
  ConnectionOptions quiet = connection;
  quiet.password_prompt = {};
  quiet.force_prompt = false;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        auto conn = co_await PgConnection::connect(quiet, abort);
        co_await conn->exec(protocol::drop_slot_command(slot), "DROP_REPLICATION_SLOT");
      },
      [&](std::exception_ptr error) {
        if (error) spdlog::warn("could not drop replication slot \"{}\"", slot);
      });
  io.run();
}

}  // namespace

CloneSummary run_clone(const CloneOptions& options) {
  if (options.create_slot && !options.slot) {
    throw Error(ErrorKind::kUsage, "--create-slot needs a slot name", "add -S/--slot NAME");
  }
  if (options.slot && !protocol::is_valid_slot_name(*options.slot)) {
    throw Error(ErrorKind::kUsage, "invalid replication slot name \"" + *options.slot + "\"",
                "use 1 to 63 lower-case letters, digits and underscores");
  }
  TargetDirectory target(options.pgdata);
  std::optional<TargetDirectory> waldir;
  if (options.waldir) {
    if (!options.waldir->is_absolute()) {
      throw Error(ErrorKind::kUsage, "the WAL directory must be an absolute path",
                  "give --waldir as an absolute path");
    }
    waldir.emplace(*options.waldir, "choose a new or empty directory with --waldir");
  }

  asio::io_context io;
  AbortSignal abort;
  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int signal_number) {
    if (ec) return;
    abort.abort(std::make_exception_ptr(
        Error(ErrorKind::kCancelled, std::string("interrupted by ") + ::strsignal(signal_number) +
                                         "; the incomplete clone was removed")));
  });

  CloneState state;
  if (waldir) state.waldir = &*waldir;
  CloneSummary summary;
  std::exception_ptr failure;
  asio::co_spawn(io, clone(options, abort, target, state),
                 [&](std::exception_ptr error, CloneSummary result) {
                   failure = error;
                   summary = result;
                   signals.cancel();
                 });
  io.run();

  if (!failure && options.sync) {
    try {
      spdlog::info("syncing data to disk");
      // syncfs works per filesystem; tablespaces may live on other ones.
      storage::sync_filesystem(target.path());
      for (const auto& dir : state.tablespace_dirs) storage::sync_filesystem(dir->path());
      if (state.waldir != nullptr) storage::sync_filesystem(state.waldir->path());
    } catch (...) {
      failure = std::current_exception();
    }
  }
  if (failure) {
    target.remove_created();
    for (const auto& dir : state.tablespace_dirs) dir->remove_created();
    if (waldir) waldir->remove_created();
    if (state.created_slot) drop_slot_quietly(options.connection, *state.created_slot);
    std::rethrow_exception(failure);
  }
  return summary;
}

}  // namespace walstream::walreceiver
