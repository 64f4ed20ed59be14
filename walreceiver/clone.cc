#include "walreceiver/clone.h"

#include <spdlog/spdlog.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/this_coro.hpp>
#include <csignal>

#include "protocol/error.h"
#include "protocol/wal_file_names.h"
#include "storage/backup_extractor.h"
#include "storage/clone_layout.h"
#include "storage/file_util.h"
#include "storage/file_write_pool.h"
#include "storage/standby_config.h"
#include "storage/target_directory.h"
#include "storage/wal_archive_writer.h"
#include "walreceiver/abort_on_signals.h"
#include "walreceiver/background_task.h"
#include "walreceiver/basebackup_session.h"
#include "walreceiver/pg_connection.h"
#include "walreceiver/server_facts.h"
#include "walreceiver/slot_checks.h"
#include "walreceiver/standby_conninfo_facts.h"
#include "walreceiver/wal_stream_driver.h"

namespace walstream::walreceiver {
namespace {

namespace fs = std::filesystem;
using protocol::ServerVersion;
using storage::TargetDirectory;

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

// The clone's WAL stream ends at the backup's end position, nowhere else.
asio::awaitable<void> stream_until_stop_position(WalStreamDriver& driver) {
  try {
    co_await driver.run();
  } catch (const Error& error) {
    if (error.kind() != ErrorKind::kConnection) throw;
    throw Error(
        ErrorKind::kConnection,
        std::string("WAL streaming ended before the backup's end position: ") + error.what(),
        "the server may have been shut down; run the command again");
  }
}

struct CloneState {
  std::optional<std::string> created_slot;  // a permanent slot made with -C
  // Where tablespaces are extracted (after -T); removed again on failure.
  std::vector<std::unique_ptr<TargetDirectory>> tablespace_dirs;
  TargetDirectory* waldir = nullptr;  // --waldir, owned by run_clone
};

asio::awaitable<CloneSummary> clone(const CloneOptions& options, AbortSignal& abort,
                                    TargetDirectory& target, CloneState& state) {
  auto backup_conn = co_await PgConnection::connect(options.connection, abort);
  ServerFacts facts = co_await read_server_facts(*backup_conn);
  spdlog::info("connected to PostgreSQL {} (system identifier {}, WAL segment size {} MB)",
               protocol::format_server_version(facts.version), facts.identity.system_id,
               facts.segment_size >> 20);

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
    co_await require_physical_slot(*wal_conn, slot_name,
                                   "create it first, or add -C/--create-slot");
  } else {
    slot_name = "walstream_" + std::to_string(PQbackendPID(wal_conn->native()));
    co_await wal_conn->exec(protocol::create_physical_slot_command(
                                facts.version, slot_name, protocol::SlotLifetime::kTemporary),
                            "CREATE_REPLICATION_SLOT");
    spdlog::info("created temporary replication slot \"{}\"", slot_name);
  }

  auto modes = storage::DataDirModes::from_data_directory_mode(facts.data_directory_mode);
  target.create(modes.directory);
  const fs::path wal_dir =
      storage::create_wal_directories(target.path(), state.waldir, modes.directory);

  // File contents are written with direct I/O on the pool's threads (see
  // file_write_pool.h and docs/PERFORMANCE.md for why); --no-direct-io
  // writes them inline through the page cache.
  std::optional<storage::FileWritePool> write_pool;
  if (options.direct_io) write_pool.emplace(storage::FileWritePoolOptions{});

  storage::BackupExtractorOptions extract;
  if (write_pool) extract.write_pool = &*write_pool;
  extract.data_dir = target.path();
  extract.modes = modes;
  extract.tar_trailer = facts.version.major() >= 15 ? protocol::TarParser::Trailer::kRequired
                                                    : protocol::TarParser::Trailer::kOptional;
  extract.map_tablespace = [&options](const std::string& location) {
    return options.tablespace_mapping.map(location);
  };
  storage::BackupExtractor extractor(std::move(extract));

  protocol::BaseBackupOptions backup_options;
  backup_options.label = options.label;
  backup_options.checkpoint = options.checkpoint;
  backup_options.max_rate_kbps = options.max_rate_kbps;
  backup_options.manifest = facts.version.major() >= 13;
  backup_options.compression = options.server_compression;
  backup_options.compression_detail = options.server_compression_detail;

  auto executor = co_await asio::this_coro::executor;
  std::optional<WalStreamDriver> wal_stream;
  std::unique_ptr<storage::WalArchiveWriter> wal_storage;
  BackgroundTask wal_task(executor);
  std::optional<std::uint64_t> total_bytes;

  BaseBackupCallbacks callbacks;
  callbacks.started = [&](const protocol::BackupPosition& start,
                          const std::vector<protocol::TablespaceInfo>& tablespaces) {
    // First: a bad list must fail before any tablespace directory is made.
    extractor.expect_tablespaces(tablespaces);
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
    // WAL from the segment holding the backup's start, into the new pg_wal;
    // nothing is synced until the clone's final syncfs, so no flush position
    // is ever claimed, and a lost connection fails the clone.
    WalStreamConfig config;
    StreamStart stream_start;
    stream_start.position = protocol::StreamPosition{
        start.timeline, protocol::segment_start(start.lsn, facts.segment_size)};
    stream_start.segment_size = facts.segment_size;
    config.start = stream_start;
    config.durability = Durability::kDeferred;
    config.status_interval = options.status_interval;
    config.reconnect = false;
    WalStreamDriverOptions driver_options;
    driver_options.slot = slot_name;
    wal_stream.emplace(
        config, driver_options,
        [&wal_conn, &wal_identity](
            std::unique_ptr<PgConnection>& conn) -> asio::awaitable<stream_event::Connected> {
          if (!wal_conn) throw Error(ErrorKind::kConnection, "the WAL connection is gone");
          conn = std::move(wal_conn);
          co_return stream_event::Connected{wal_identity.timeline, std::nullopt};
        },
        abort, executor);

    storage::WalArchiveWriterOptions storage_options;
    storage_options.directory = wal_dir;
    storage_options.segment_size = facts.segment_size;
    storage_options.file_mode = modes.file;
    storage_options.durability = storage::WalDurability::kDeferred;
    storage_options.direct_io = options.direct_io;
    storage_options.mark_done = true;
    storage_options.incomplete_segments = storage::IncompleteSegments::kFinalName;
    protocol::PageCheck check;
    check.magic = protocol::xlog_page_magic_for_major(facts.version.major()).value_or(0);
    check.segment_size = facts.segment_size;
    check.system_id = facts.identity.system_id;
    storage_options.page_check = check;
    storage_options.on_failure = wal_stream->failure_callback();
    wal_storage = std::make_unique<storage::WalArchiveWriter>(std::move(storage_options));
    wal_stream->attach_storage(*wal_storage);
    wal_task.start(stream_until_stop_position(*wal_stream), abort);
  };
  // Uncompressed bytes, as the server's estimate counts them.
  callbacks.progress = [&](std::uint64_t) {
    if (options.on_progress) options.on_progress({extractor.plain_bytes(), total_bytes, false});
  };

  CloneSummary summary;
  std::exception_ptr failure;
  try {
    BaseBackupSession backup(*backup_conn, backup_options, extractor, callbacks);
    BaseBackupResult result = co_await backup.run();
    if (options.on_progress) options.on_progress({extractor.plain_bytes(), total_bytes, true});
    if (!wal_stream) throw ProtocolError("BASE_BACKUP finished without a start position");
    spdlog::info("waiting for WAL streaming to reach {}", protocol::to_string(result.end.lsn));
    wal_stream->post(
        stream_event::StopAt{protocol::StreamPosition{result.end.timeline, result.end.lsn}});
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
  if (write_pool) {
    write_pool->finish();
    spdlog::info("{} files written with direct I/O, {} through the page cache",
                 write_pool->direct_files(), write_pool->buffered_files());
  }

  if (options.write_standby_config) {
    storage::StandbyConfigInput config;
    config.server_version = facts.version;
    config.conninfo = gather_standby_conninfo_facts(*backup_conn, options.connection);
    if (options.slot) config.slot = options.slot;
    config.file_mode = modes.file;
    storage::write_standby_config(target.path(), config);
  }
  co_return summary;
}

void drop_slot_quietly(const ConnectionOptions& connection, const std::string& slot) {
  // One thread runs it (a hint of 1): handlers it posts to itself then skip
  // waking the reactor, a system call per message batch otherwise.
  asio::io_context io(1);
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

  // One thread runs it (a hint of 1): handlers it posts to itself then skip
  // waking the reactor, a system call per message batch otherwise.
  asio::io_context io(1);
  AbortSignal abort;
  asio::signal_set signals(io, SIGINT, SIGTERM);
  abort_on_signals(signals, abort, "the incomplete clone was removed");

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

  if (!failure) {
    try {
      if (options.sync) {
        spdlog::info("syncing data to disk");
        // syncfs works per filesystem; tablespaces may live on other ones.
        storage::sync_filesystem(target.path());
        for (const auto& dir : state.tablespace_dirs) storage::sync_filesystem(dir->path());
        if (state.waldir != nullptr) storage::sync_filesystem(state.waldir->path());
      }
      // Last of all, as pg_basebackup does: backup_manifest marks a complete
      // backup, so it gets its name only once everything else is durable.
      storage::commit_backup_manifest(target.path(), options.sync);
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
