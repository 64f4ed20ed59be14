#include "walreceiver/bench.h"

#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <cerrno>
#include <csignal>
#include <map>
#include <memory>
#include <vector>

#include "protocol/error.h"
#include "protocol/replication_messages.h"
#include "protocol/wal_page.h"
#include "storage/file_util.h"
#include "storage/target_directory.h"
#include "storage/wal_archive_writer.h"
#include "walreceiver/abort_on_signals.h"
#include "walreceiver/basebackup_session.h"
#include "walreceiver/bench_backup_sink.h"
#include "walreceiver/pg_connection.h"
#include "walreceiver/server_facts.h"
#include "walreceiver/wal_bench_policy.h"

namespace walstream::walreceiver {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr mode_t kDirectoryMode = 0700;
// XLogData messages written with one pwritev, as the WAL stream driver does.
constexpr std::size_t kMaxWriteBatch = 64;
// With progress shown, an idle stream still wakes this often to show it.
constexpr auto kProgressTick = std::chrono::milliseconds(250);

// Adds the time from construction to destruction to `total`.
class Stopwatch {
 public:
  explicit Stopwatch(BenchDuration& total) : total_(total), started_(Clock::now()) {}
  ~Stopwatch() { total_ += Clock::now() - started_; }
  Stopwatch(const Stopwatch&) = delete;
  Stopwatch& operator=(const Stopwatch&) = delete;

 private:
  BenchDuration& total_;
  Clock::time_point started_;
};

void make_directory(const fs::path& dir) {
  if (::mkdir(dir.c_str(), kDirectoryMode) != 0) {
    storage::throw_io_error("create directory", dir, errno);
  }
}

// Removes what a stage wrote under the --write-to directory.
void remove_written(const std::vector<fs::path>& written) {
  for (const auto& path : written) {
    std::error_code error;
    fs::remove_all(path, error);
    if (error) storage::throw_io_error("remove", path, error.value());
  }
}

asio::awaitable<BackupStageResult> run_backup_stage(PgConnection& conn, const BenchOptions& options,
                                                    const fs::path* root) {
  const protocol::ServerVersion version = conn.server_version();
  protocol::BaseBackupOptions backup_options;
  backup_options.label = "walstream bench";
  backup_options.checkpoint = options.checkpoint;
  // As a clone asks: the server's checksumming is part of what a clone costs.
  backup_options.manifest = version.major() >= 13;
  backup_options.compression = options.server_compression;
  backup_options.compression_detail = options.server_compression_detail;
  // Refuses what this server cannot do (compression before 15) up front.
  (void)protocol::base_backup_command(version, backup_options);

  BackupStageResult result;
  result.checkpoint = options.checkpoint == protocol::CheckpointMode::kFast ? "fast" : "spread";
  result.compression = options.server_compression;
  result.manifest = backup_options.manifest;

  // --write-to: the main directory in ROOT/base, tablespaces in
  // ROOT/tablespaces/OID, never at their server-side locations.
  std::map<std::string, fs::path> tablespace_dirs;
  BenchBackupSinkOptions sink_options;
  sink_options.tar_trailer = version.major() >= 15 ? protocol::TarParser::Trailer::kRequired
                                                   : protocol::TarParser::Trailer::kOptional;
  std::vector<fs::path> written;
  if (root != nullptr) {
    const fs::path data_dir = *root / "base";
    written = {data_dir, *root / "tablespaces"};
    make_directory(data_dir);
    sink_options.extract_to = data_dir;
    sink_options.map_tablespace = [&tablespace_dirs](const std::string& location) {
      auto found = tablespace_dirs.find(location);
      if (found == tablespace_dirs.end()) {
        throw ProtocolError("the backup refers to tablespace \"" + location +
                            "\", which the server did not list");
      }
      return found->second;
    };
  }
  BenchBackupSink sink(sink_options);

  const auto began = Clock::now();
  auto started = began;
  std::uint64_t messages = 0;
  std::optional<std::uint64_t> total_bytes;
  BaseBackupCallbacks callbacks;
  callbacks.started = [&](const protocol::BackupPosition&,
                          const std::vector<protocol::TablespaceInfo>& tablespaces) {
    started = Clock::now();
    sink.expect_tablespaces(tablespaces);
    std::uint64_t total_kb = 0;
    bool known = true;
    for (const auto& tablespace : tablespaces) {
      if (tablespace.size_kb) {
        total_kb += static_cast<std::uint64_t>(*tablespace.size_kb);
      } else {
        known = false;
      }
      if (root != nullptr && tablespace.oid && tablespace.location) {
        tablespace_dirs[*tablespace.location] =
            *root / "tablespaces" / std::to_string(*tablespace.oid);
      }
    }
    if (known) total_bytes = total_kb * 1024;
  };
  // The session reports progress once per CopyData message of the archives.
  callbacks.progress = [&](std::uint64_t bytes) {
    ++messages;
    if (options.on_progress) {
      options.on_progress({BenchStage::kBackup, bytes, total_bytes, Clock::now() - began, false});
    }
  };
  BaseBackupSession session(conn, backup_options, sink, callbacks);
  const BaseBackupResult backup = co_await session.run();
  const auto ended = Clock::now();
  const auto last_byte = sink.last_call_end().value_or(started);

  const BenchBackupCounts& counts = sink.counts();
  result.messages = messages;
  result.bytes = backup.bytes;
  if (version.major() < 15) {
    // Before 15 the manifest is a COPY of its own, outside the progress count.
    result.messages += counts.manifest_chunks;
    result.bytes += counts.manifest_bytes;
  }
  result.archive_bytes = counts.archive_bytes;
  result.tar_bytes = counts.tar_bytes;
  result.manifest_bytes = counts.manifest_bytes;
  result.archives = counts.archives;
  result.files = counts.files;
  result.start = started - began;
  result.transfer = last_byte - started;
  result.steps = split_backup_times(result.transfer, sink.times(), counts.compressed);
  result.end = ended - last_byte;
  if (root != nullptr) {
    result.written_bytes = counts.written_bytes;
    // One syncfs, as a clone ends.
    BenchDuration sync{};
    {
      Stopwatch watch(sync);
      storage::sync_filesystem(*root);
    }
    result.sync = sync;
    remove_written(written);
  }
  result.total = Clock::now() - began;
  if (options.on_progress) {
    options.on_progress({BenchStage::kBackup, result.bytes, total_bytes, result.total, true});
  }
  co_return result;
}

// Ends START_REPLICATION's COPY as the protocol wants it, so the server ends
// the command cleanly: our CopyDone (unless the server ended first and libpq
// waits for it), what was in flight, the server's CopyDone, the results.
asio::awaitable<void> end_copy(PgConnection& conn, bool server_ended) {
  if (!server_ended) {
    co_await conn.put_copy_end();
    while (co_await conn.read_copy()) {
    }
  }
  PgResult result = co_await conn.next_result();
  while (result && PQresultStatus(result.get()) == PGRES_COPY_IN) {
    co_await conn.put_copy_end();
    result = co_await conn.next_result();
  }
  (void)co_await conn.read_results(std::move(result), "START_REPLICATION");
}

struct ServerInfo {
  protocol::SystemIdentity identity;
  std::uint64_t segment_size = 0;
};

asio::awaitable<WalStageResult> run_wal_stage(PgConnection& conn, const BenchOptions& options,
                                              const ServerInfo& server, const fs::path* root) {
  const auto began = Clock::now();
  const protocol::ServerVersion version = conn.server_version();
  WalStageResult result;

  // Temporary: it keeps the WAL this stage reads and dies with the
  // connection, however the command ends.
  const std::string slot = "walstream_bench_" + std::to_string(PQbackendPID(conn.native()));
  (void)co_await conn.exec(
      protocol::create_physical_slot_command(version, slot, protocol::SlotLifetime::kTemporary),
      "CREATE_REPLICATION_SLOT");
  std::optional<protocol::StreamPosition> restart;
  if (options.wal_start == WalStartFrom::kRetained && version.major() >= 15) {
    const auto info = protocol::parse_read_replication_slot(
        co_await conn.exec(protocol::read_replication_slot_command(slot), "READ_REPLICATION_SLOT"));
    if (info && info->restart_lsn && info->restart_timeline) {
      restart = protocol::StreamPosition{*info->restart_timeline, *info->restart_lsn};
    }
  }
  // Where the server stands now, after the backup stage.
  const protocol::SystemIdentity now_at = co_await identify_system(conn);
  const WalBenchStart start = choose_wal_start(options.wal_start, now_at.timeline, now_at.xlogpos,
                                               restart, server.segment_size, options.wal_start_lsn);
  result.start_from = start.from;
  result.start = start.position;
  spdlog::info("streaming WAL from {} ({})", protocol::to_string(start.position),
               to_string(start.from));

  std::unique_ptr<storage::WalArchiveWriter> writer;
  std::vector<fs::path> written;
  if (root != nullptr) {
    const fs::path wal_dir = *root / "wal";
    written = {wal_dir};
    make_directory(wal_dir);
    storage::WalArchiveWriterOptions writer_options;
    writer_options.directory = wal_dir;
    writer_options.segment_size = server.segment_size;
    writer_options.durability = storage::WalDurability::kSynced;
    protocol::PageCheck check;
    check.magic = protocol::xlog_page_magic_for_major(version.major()).value_or(0);
    check.segment_size = server.segment_size;
    check.system_id = server.identity.system_id;
    writer_options.page_check = check;
    // A background failure is rethrown by finish().
    writer = std::make_unique<storage::WalArchiveWriter>(std::move(writer_options));
  }

  WalBenchLimits limits;
  limits.duration = options.duration;
  limits.max_bytes = options.wal_max_bytes;
  limits.status_interval = options.status_interval;
  limits.report_write = writer != nullptr;

  protocol::ResultSet next_timeline;
  const bool copy = co_await conn.start_replication(
      protocol::start_replication_command(slot, start.position.lsn, start.position.timeline),
      &next_timeline);
  const auto copy_started = Clock::now();
  WalBenchPolicy policy(limits, start.position, copy_started);
  BenchDuration receive{};
  BenchDuration write{};
  std::optional<WalStopReason> stop;
  bool server_ended = !copy;
  if (!copy) stop = WalStopReason::kServerEnded;

  // XLogData payloads waiting for one pwritev, and the buffers they live in.
  std::vector<CopyBuffer> held;
  std::vector<ByteView> pieces;
  protocol::StreamPosition batch_start;
  auto write_held = [&] {
    if (pieces.empty()) return;
    Stopwatch watch(write);
    writer->write(batch_start, pieces);
    pieces.clear();
    held.clear();
  };

  while (!stop) {
    bool copy_done = false;
    for (;;) {
      std::optional<CopyBuffer> buffer;
      {
        Stopwatch watch(receive);
        buffer = conn.try_read_copy(&copy_done);
      }
      if (!buffer) break;
      const protocol::ServerCopyMessage message =
          protocol::decode_server_copy_message(buffer->bytes());
      if (const auto* data = std::get_if<protocol::XLogData>(&message)) {
        if (pieces.empty()) batch_start = policy.position();
        policy.on_wal(data->data_start, data->payload.size());
        if (writer && !data->payload.empty()) {
          pieces.push_back(data->payload);
          held.push_back(std::move(*buffer));
          if (pieces.size() == kMaxWriteBatch) write_held();
        }
      } else {
        policy.on_keepalive(std::get<protocol::PrimaryKeepalive>(message).reply_requested);
      }
      if (policy.stop_reason(Clock::now())) break;
    }
    write_held();
    if (copy_done) {
      server_ended = true;
      stop = WalStopReason::kServerEnded;
      break;
    }
    const auto now = Clock::now();
    stop = policy.stop_reason(now);
    if (stop) break;
    if (options.on_progress) {
      options.on_progress(
          {BenchStage::kWal, policy.bytes(), options.wal_max_bytes, now - copy_started, false});
    }
    if (policy.status_due(now)) {
      protocol::StandbyStatusUpdate update = policy.take_status(now);
      update.send_time = protocol::to_pg_timestamp(std::chrono::system_clock::now());
      std::array<std::byte, protocol::kStandbyStatusUpdateSize> bytes{};
      protocol::encode_standby_status_update(update, bytes);
      co_await conn.put_copy_data(bytes);
    }
    auto wake_at = policy.next_deadline();
    if (options.on_progress) wake_at = std::min(wake_at, now + kProgressTick);
    Stopwatch watch(receive);
    co_await conn.wait_readable(wake_at);
  }
  const auto stopped = Clock::now();
  if (copy) co_await end_copy(conn, server_ended);
  if (writer) {
    // What receive does at its end: fdatasync of the open segment, the
    // syncer's queue (full segments) drained, the directory fsynced.
    BenchDuration sync{};
    {
      Stopwatch watch(sync);
      writer->finish();
    }
    writer.reset();
    result.write = write;
    result.sync = sync;
    remove_written(written);
  }
  // Gone with the connection anyway; dropped now so that no slot is seen
  // once this command has returned.
  try {
    (void)co_await conn.exec(protocol::drop_slot_command(slot), "DROP_REPLICATION_SLOT");
  } catch (const Error& error) {
    spdlog::info("temporary slot \"{}\" goes with the connection: {}", slot, error.what());
  }

  result.stop_reason = *stop;
  result.end = policy.position();
  result.messages = policy.messages();
  result.keepalives = policy.keepalives();
  result.bytes = policy.bytes();
  result.streaming = stopped - copy_started;
  result.receive = receive;
  result.total = Clock::now() - began;
  if (options.on_progress) {
    options.on_progress(
        {BenchStage::kWal, result.bytes, options.wal_max_bytes, result.streaming, true});
  }
  co_return result;
}

asio::awaitable<BenchReport> bench(const BenchOptions& options, AbortSignal& abort,
                                   storage::TargetDirectory* target) {
  auto conn = co_await PgConnection::connect(options.connection, abort);
  BenchReport report;
  report.server_version = conn->server_version();
  check_supported_version(report.server_version);
  ServerInfo server;
  server.identity = co_await identify_system(*conn);
  server.segment_size = co_await read_wal_segment_size(*conn);
  report.system_id = server.identity.system_id;
  report.timeline = server.identity.timeline;
  report.segment_size = server.segment_size;
  spdlog::info("connected to PostgreSQL {} (system identifier {})",
               protocol::format_server_version(report.server_version), report.system_id);

  const fs::path* root = nullptr;
  if (target != nullptr) {
    target->create(kDirectoryMode);
    root = &target->path();
    report.write_to = root->string();
  }
  if (options.run_backup) report.backup = co_await run_backup_stage(*conn, options, root);
  if (options.run_wal) report.wal = co_await run_wal_stage(*conn, options, server, root);
  co_return report;
}

}  // namespace

BenchReport run_bench(const BenchOptions& options) {
  if (!options.run_backup && !options.run_wal) {
    throw Error(ErrorKind::kUsage, "no stage to run", "give --stages backup, wal or backup,wal");
  }
  if (options.duration <= std::chrono::milliseconds::zero()) {
    throw Error(ErrorKind::kUsage, "the WAL stage's duration must be positive",
                "give --duration in seconds, e.g. --duration 10");
  }
  std::optional<storage::TargetDirectory> target;
  if (options.write_to) {
    target.emplace(*options.write_to, "choose a new or empty directory with --write-to");
  }

  // One thread runs it (a hint of 1): handlers it posts to itself then skip
  // waking the reactor, a system call per message batch otherwise.
  asio::io_context io(1);
  AbortSignal abort;
  asio::signal_set signals(io, SIGINT, SIGTERM);
  abort_on_signals(signals, abort, "nothing was left behind");

  BenchReport report;
  std::exception_ptr failure;
  asio::co_spawn(io, bench(options, abort, target ? &*target : nullptr),
                 [&](std::exception_ptr error, BenchReport result) {
                   failure = error;
                   report = std::move(result);
                   signals.cancel();
                 });
  io.run();
  // Whatever happened: what the stages wrote goes away (the directory too,
  // if this command created it).
  if (target) target->remove_created();
  if (failure) std::rethrow_exception(failure);
  return report;
}

}  // namespace walstream::walreceiver
