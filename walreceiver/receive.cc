#include "walreceiver/receive.h"

#include <spdlog/spdlog.h>

#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <csignal>
#include <functional>
#include <set>

#include "protocol/error.h"
#include "protocol/replication_commands.h"
#include "protocol/wal_file_names.h"
#include "storage/archive_directory.h"
#include "storage/archive_scan.h"
#include "storage/s3_archive_scan.h"
#include "storage/s3_archive_uploader.h"
#include "storage/wal_archive_writer.h"
#include "walreceiver/metrics_server.h"
#include "walreceiver/pg_connection.h"
#include "walreceiver/receive_metrics.h"
#include "walreceiver/remote_ack.h"
#include "walreceiver/server_facts.h"
#include "walreceiver/slot_checks.h"
#include "walreceiver/spool_pressure.h"
#include "walreceiver/wal_stream_driver.h"

namespace walstream::walreceiver {
namespace {

using protocol::Lsn;
using protocol::StreamPosition;

WalStreamConfig stream_config(const ReceiveOptions& options) {
  WalStreamConfig config;
  config.durability = Durability::kBatched;
  config.report_flush = options.synchronous || options.slot.has_value();
  config.remote_ack = options.remote_ack;
  config.synchronous = options.synchronous;
  config.batch_bytes = options.fsync_batch_bytes;
  config.batch_window = options.fsync_batch_window;
  config.status_interval = options.status_interval;
  config.endpos = options.endpos;
  config.reconnect = !options.no_loop;
  config.max_reconnect_delay = options.max_reconnect_delay;
  return config;
}

// The archive side of `walstream receive`: what the first connection learns
// (the server's facts, the archive's contents, where to start) and the
// storage it then opens. Every later connection is only checked against it.
class Receiver {
 public:
  Receiver(const ReceiveOptions& options, asio::io_context& io, AbortSignal& abort,
           ReceiveStats& stats)
      : options_(options),
        abort_(abort),
        executor_(io.get_executor()),
        stats_(stats),
        driver_(
            stream_config(options), driver_options(options),
            [this](std::unique_ptr<PgConnection>& conn) { return connect(conn); }, abort,
            io.get_executor()) {
    driver_.attach_stats(stats);
  }

  asio::awaitable<int> run() {
    try {
      const StreamEndReason reason = co_await driver_.run();
      if (uploader_ && reason == StreamEndReason::kEndpos) co_await drain_uploads();
    } catch (const Error& error) {
      throw explain(error);
    }
    co_return 0;
  }
  void request_stop() {
    stop_requested_ = true;
    driver_.post(stream_event::StopRequested{});
  }

 private:
  asio::awaitable<stream_event::Connected> connect(std::unique_ptr<PgConnection>& conn);
  asio::awaitable<void> prepare(PgConnection& conn);
  WalStreamDriverOptions driver_options(const ReceiveOptions& options);
  // Scans the archive and opens the storage (first connection only).
  void open_archive(protocol::ServerVersion version);
  // What the spool and, with an S3 archive, the bucket hold, as one.
  storage::ArchiveContents scan_contents();
  // With an S3 archive: the uploader, and every complete file a crash left
  // in the spool queued again (a file already in the bucket is confirmed).
  void start_uploads(const storage::ArchiveContents& spool);
  // On the io thread: a spool file is complete (a storage thread posted it).
  void file_completed(const std::string& name);
  // On the io thread, after the files waiting for upload changed: pause or
  // resume reading from the server.
  void spool_changed();
  // On the io thread: the uploader's reports of an unreachable bucket.
  void bucket_unavailable(const std::string& cause, std::chrono::milliseconds retry_in);
  void bucket_available();
  // Until every spool file is confirmed in the bucket (endpos: the run
  // ends with its WAL off this machine). Throws the uploader's failure.
  asio::awaitable<void> drain_uploads();
  Error explain(const Error& error) const;
  // The storage's reports for the statistics, posted to the io thread.
  void report_storage_events(storage::WalArchiveWriterOptions& storage_options);

  const ReceiveOptions& options_;
  AbortSignal& abort_;
  asio::any_io_executor executor_;
  ReceiveStats& stats_;
  WalStreamDriver driver_;

  // Completions posted by the storage's threads and not yet handled: the
  // drain at the end waits for them too. Declared before the storage, whose
  // threads count here until it is gone.
  std::atomic<std::size_t> completions_posted_{0};
  std::exception_ptr upload_failure_;
  // --ack=remote: what the bucket confirmed, in stream order.
  RemoteAckTracker remote_ack_;
  std::unique_ptr<storage::S3ArchiveUploader> uploader_;
  std::optional<SpoolPressure> spool_pressure_;
  std::optional<std::chrono::steady_clock::time_point> spool_full_since_;
  // A bucket slower than the WAL fills the spool again and again: said once
  // a minute (with the matching "caught up"), at debug level otherwise.
  std::optional<std::chrono::steady_clock::time_point> spool_full_said_;
  bool said_full_ = false;
  std::optional<std::chrono::steady_clock::time_point> unavailable_since_;
  std::optional<std::chrono::steady_clock::time_point> unavailable_logged_;
  bool stop_requested_ = false;

  protocol::SystemIdentity identity_;
  std::uint64_t segment_size_ = 0;
  std::unique_ptr<storage::WalArchiveWriter> storage_;
  std::optional<StreamPosition> archive_position_;
  std::set<protocol::TimelineId> archive_histories_;
  std::optional<StreamStart> start_;
};

asio::awaitable<stream_event::Connected> Receiver::connect(std::unique_ptr<PgConnection>& conn) {
  conn = co_await PgConnection::connect(options_.connection, abort_);
  check_supported_version(conn->server_version());
  const protocol::SystemIdentity identity = co_await identify_system(*conn);
  if (storage_ && identity.system_id != identity_.system_id) {
    throw Error(ErrorKind::kUsage,
                "the server's system identifier changed from " +
                    std::to_string(identity_.system_id) + " to " +
                    std::to_string(identity.system_id),
                "point walstream at a server of the archived system");
  }
  identity_ = identity;
  if (!start_) co_await prepare(*conn);
  co_return stream_event::Connected{identity.timeline, start_};
}

// Once: the archive's contents, the storage, where the stream starts.
asio::awaitable<void> Receiver::prepare(PgConnection& conn) {
  if (!storage_) {
    segment_size_ = co_await read_wal_segment_size(conn);
    open_archive(conn.server_version());
  }
  std::optional<StreamPosition> slot_restart;
  if (options_.slot) {
    slot_restart = co_await require_physical_slot(
        conn, *options_.slot,
        "create it first with walstream receive -S " + *options_.slot + " --create-slot");
  }
  StreamStart start;
  start.segment_size = segment_size_;
  start.histories = archive_histories_;
  if (archive_position_) {
    start.position = *archive_position_;
    spdlog::info("continuing the archive at {}", protocol::to_string(start.position));
  } else if (slot_restart) {
    start.position = StreamPosition{slot_restart->timeline,
                                    protocol::segment_start(slot_restart->lsn, segment_size_)};
    spdlog::info("starting at the slot's restart position {}",
                 protocol::to_string(slot_restart->lsn));
  } else {
    start.position = StreamPosition{identity_.timeline,
                                    protocol::segment_start(identity_.xlogpos, segment_size_)};
    spdlog::info("starting at the server's current position {}",
                 protocol::to_string(identity_.xlogpos));
  }
  start_ = std::move(start);
}

WalStreamDriverOptions Receiver::driver_options(const ReceiveOptions& options) {
  WalStreamDriverOptions driver_options{options.slot, {}};
  if (options.s3_archive) {
    driver_options.on_history_stored = [this](const std::string& name) {
      ++completions_posted_;
      file_completed(name);
    };
  }
  return driver_options;
}

storage::ArchiveContents Receiver::scan_contents() {
  storage::ArchiveContents spool = storage::scan_archive(options_.directory, segment_size_);
  if (!options_.s3_archive) return spool;
  const S3ArchiveTarget& target = *options_.s3_archive;
  storage::S3Client client(target.client, target.credentials);
  const storage::S3ArchiveScan bucket =
      storage::scan_s3_archive(client, target.location, segment_size_);
  for (const auto& key : bucket.foreign_keys) {
    spdlog::debug("ignoring \"{}\": not an archive file", key);
  }
  spdlog::info("{} holds {} segment(s), the spool {}", protocol::to_string(target.location),
               bucket.contents.segments.size(), spool.segments.size());
  return storage::merge_archive_contents(spool, bucket.contents);
}

void Receiver::open_archive(protocol::ServerVersion version) {
  const std::string archive_name = options_.s3_archive
                                       ? protocol::to_string(options_.s3_archive->location)
                                       : options_.directory.string();
  const storage::ArchiveContents contents = scan_contents();
  if (contents.system_id && *contents.system_id != identity_.system_id) {
    throw Error(ErrorKind::kUsage,
                "the archive holds WAL of system " + std::to_string(*contents.system_id) +
                    ", the server is system " + std::to_string(identity_.system_id),
                "use a separate archive for each database system");
  }
  const auto holes = storage::find_holes(contents, segment_size_);
  if (!holes.empty()) {
    std::string list = holes.front();
    if (holes.size() > 1) list += " and " + std::to_string(holes.size() - 1) + " more";
    throw Error(ErrorKind::kIo,
                "the archive \"" + archive_name + "\" has a hole: segment " + list + " is missing",
                "restore the missing segment(s), or start a new archive");
  }
  if (options_.zstd_level) {
    if (int removed = storage::remove_interrupted_compressions(options_.directory)) {
      spdlog::info("removed {} file(s) left by an interrupted compression", removed);
    }
  }

  storage::WalArchiveWriterOptions storage_options;
  storage_options.directory = options_.directory;
  storage_options.segment_size = segment_size_;
  storage_options.durability = storage::WalDurability::kSynced;
  // A synchronous standby syncs on the io thread, right after the write,
  // and reports the flush right after the sync (docs/PERFORMANCE.md).
  storage_options.sync_inline = options_.synchronous;
  storage_options.direct_io = options_.direct_io;
  // An archiver syncs rarely, so the disk need not write each segment's
  // zeros before its WAL (twice the bytes); a synchronous standby syncs per
  // commit batch and keeps zero-filled segments, as PostgreSQL's own
  // wal_init_zero does.
  storage_options.preallocation = options_.synchronous ? storage::SegmentPreallocation::kZeroFill
                                                       : storage::SegmentPreallocation::kAllocate;
  protocol::PageCheck check;
  check.magic = protocol::xlog_page_magic_for_major(version.major()).value_or(0);
  check.segment_size = segment_size_;
  check.system_id = identity_.system_id;
  storage_options.page_check = check;
  storage_options.zstd_level = options_.zstd_level;
  storage_options.on_durable = driver_.durable_callback();
  storage_options.on_failure = driver_.failure_callback();
  report_storage_events(storage_options);
  // The spool alone: what the bucket holds is not here to upload.
  const storage::ArchiveContents spool =
      options_.s3_archive ? storage::scan_archive(options_.directory, segment_size_) : contents;
  if (options_.s3_archive) start_uploads(spool);
  storage_ = std::make_unique<storage::WalArchiveWriter>(std::move(storage_options));
  driver_.attach_storage(*storage_);
  // A crash between a segment's rename and its compression leaves it plain.
  for (const auto& segment : spool.segments) {
    if (segment.state == storage::SegmentState::kComplete) {
      if (options_.zstd_level) {
        storage_->compress_existing(segment.file_name);  // on_segment_compressed follows
      } else if (uploader_) {
        ++completions_posted_;
        file_completed(segment.file_name);
      }
    }
  }
  archive_histories_.insert(contents.history_files.begin(), contents.history_files.end());
  if (auto archive_start = storage::streaming_start(contents, segment_size_)) {
    archive_position_ = StreamPosition{archive_start->timeline, archive_start->lsn};
  }
}

void Receiver::start_uploads(const storage::ArchiveContents& spool) {
  const S3ArchiveTarget& target = *options_.s3_archive;
  storage::S3ArchiveUploaderOptions uploader_options;
  uploader_options.client = target.client;
  uploader_options.credentials = target.credentials;
  uploader_options.location = target.location;
  uploader_options.spool = options_.directory;
  uploader_options.parallelism = target.parallelism;
  // Without -n an unreachable bucket is waited out (the spool bounds what
  // piles up meanwhile); with -n it ends the run, as a lost connection does.
  uploader_options.retry_while_unavailable = !options_.no_loop;
  uploader_options.on_unavailable = [this, executor = executor_](
                                        const Error& error, std::chrono::milliseconds retry_in) {
    asio::post(executor, [this, cause = std::string(error.what()), retry_in] {
      bucket_unavailable(cause, retry_in);
    });
  };
  uploader_options.on_available = [this, executor = executor_] {
    asio::post(executor, [this] { bucket_available(); });
  };
  spool_pressure_.emplace(std::max<std::uint64_t>(1, target.max_spool_bytes / segment_size_));
  // The uploader's threads report to the io thread; a report posted after
  // the run is never executed (the Receiver is gone only after the run).
  auto on_confirmed = [this, executor = executor_](const std::string& name) {
    asio::post(executor, [this, name] {
      stats_.on_file_uploaded();
      spdlog::debug("\"{}\" is in the bucket", name);
      spool_changed();
      if (options_.remote_ack && remote_ack_.confirmed(name)) {
        driver_.post(stream_event::RemoteConfirmed{*remote_ack_.reportable()});
      }
    });
  };
  auto on_failure = [this, executor = executor_,
                     fail = driver_.failure_callback()](std::exception_ptr error) {
    asio::post(executor, [this, error] {
      if (!upload_failure_) upload_failure_ = error;
    });
    fail(error);
  };
  uploader_ = std::make_unique<storage::S3ArchiveUploader>(
      std::move(uploader_options), std::move(on_confirmed), std::move(on_failure));
  // Left by an earlier run: history files (kept in the spool after their
  // upload), compressed segments. Plain complete ones: see open_archive.
  for (const auto timeline : spool.history_files) {
    ++completions_posted_;
    file_completed(protocol::timeline_history_file_name(timeline));
  }
  for (const auto& segment : spool.segments) {
    if (segment.state == storage::SegmentState::kCompressed) {
      ++completions_posted_;
      file_completed(segment.file_name);
    }
  }
}

void Receiver::file_completed(const std::string& name) {
  --completions_posted_;
  if (!uploader_) return;
  if (options_.remote_ack) {
    // Where the WAL of a segment ends; a history file holds none.
    std::optional<StreamPosition> end;
    const auto parsed = protocol::parse_wal_file_name(name, segment_size_);
    if (parsed && parsed->kind != protocol::WalFileKind::kHistory) {
      end = StreamPosition{parsed->timeline, Lsn{(parsed->segno + 1) * segment_size_}};
    }
    remote_ack_.completed(name, end);
  }
  uploader_->enqueue(name);
  spool_changed();
}

void Receiver::spool_changed() {
  if (!uploader_ || !spool_pressure_) return;
  const std::size_t waiting = completions_posted_ + uploader_->pending();
  stats_.on_spool_waiting(waiting);
  const auto now = std::chrono::steady_clock::now();
  switch (spool_pressure_->update(waiting)) {
    case SpoolPressure::Change::kNone:
      return;
    case SpoolPressure::Change::kFull:
      spool_full_since_ = now;
      stats_.on_spool_full(true);
      said_full_ = !spool_full_said_ || now - *spool_full_said_ >= std::chrono::minutes(1);
      if (said_full_) spool_full_said_ = now;
      spdlog::log(
          said_full_ ? spdlog::level::warn : spdlog::level::debug,
          "the spool holds {} file(s) not yet in {} (--max-spool-size {} MiB): reading from the "
          "server pauses until the uploads catch up; {}",
          waiting, protocol::to_string(options_.s3_archive->location),
          options_.s3_archive->max_spool_bytes >> 20,
          options_.slot ? "the slot keeps the WAL on the server meanwhile"
                        : "without a slot (-S) the server may remove WAL meanwhile");
      driver_.post(stream_event::SpoolFull{});
      return;
    case SpoolPressure::Change::kHasRoom: {
      const auto paused =
          std::chrono::duration_cast<std::chrono::seconds>(now - spool_full_since_.value_or(now));
      spool_full_since_.reset();
      stats_.on_spool_full(false);
      spdlog::log(said_full_ ? spdlog::level::info : spdlog::level::debug,
                  "the uploads caught up ({} file(s) waiting): reading from the server again "
                  "after {} s paused",
                  waiting, paused.count());
      driver_.post(stream_event::SpoolHasRoom{});
      return;
    }
  }
}

void Receiver::bucket_unavailable(const std::string& cause, std::chrono::milliseconds retry_in) {
  stats_.on_upload_retry();
  const auto now = std::chrono::steady_clock::now();
  if (!unavailable_since_) unavailable_since_ = now;
  // Every upload thread reports each failed round: one line a minute says it.
  if (unavailable_logged_ && now - *unavailable_logged_ < std::chrono::minutes(1)) {
    spdlog::debug("upload failed again: {}", cause);
    return;
  }
  unavailable_logged_ = now;
  spdlog::warn(
      "cannot upload to {}: {}; trying again in {} s (the spool keeps {} file(s) "
      "meanwhile)",
      protocol::to_string(options_.s3_archive->location), cause,
      std::max<long long>(1, retry_in.count() / 1000), completions_posted_ + uploader_->pending());
}

void Receiver::bucket_available() {
  if (!unavailable_since_) return;
  const auto down = std::chrono::duration_cast<std::chrono::seconds>(
      std::chrono::steady_clock::now() - *unavailable_since_);
  unavailable_since_.reset();
  unavailable_logged_.reset();
  spdlog::info("{} takes uploads again after {} s",
               protocol::to_string(options_.s3_archive->location), down.count());
}

asio::awaitable<void> Receiver::drain_uploads() {
  asio::steady_timer timer(executor_);
  bool logged = false;
  while (!upload_failure_ && !stop_requested_ &&
         (completions_posted_ > 0 || uploader_->pending() > 0)) {
    if (!logged) {
      spdlog::info("waiting for {} file(s) to reach the bucket", uploader_->pending());
      logged = true;
    }
    timer.expires_after(std::chrono::milliseconds(20));
    co_await timer.async_wait(asio::use_awaitable);
  }
  if (upload_failure_) std::rethrow_exception(upload_failure_);
  if (stop_requested_ && uploader_->pending() > 0) {
    spdlog::info(
        "stopped with {} file(s) not yet in the bucket: they stay in the spool and are "
        "uploaded at the next start",
        uploader_->pending());
  }
  uploader_->stop();
}

void Receiver::report_storage_events(storage::WalArchiveWriterOptions& storage_options) {
  // The statistics outlive the io_context; a report posted after the run is
  // never executed.
  ReceiveStats* stats = &stats_;
  const bool plain_uploads = options_.s3_archive && !options_.zstd_level;
  const bool compressed_uploads = options_.s3_archive && options_.zstd_level;
  // Dispatched: a synchronous standby's syncs run on the io thread, and a
  // post per commit batch only added a turn of the io_context.
  storage_options.on_fdatasync = [executor = executor_, stats](std::chrono::nanoseconds took) {
    asio::dispatch(executor, [stats, took] { stats->on_fdatasync(took); });
  };
  storage_options.on_segment_completed = [this, executor = executor_, stats,
                                          plain_uploads](const std::string& name) {
    if (plain_uploads) ++completions_posted_;
    asio::post(executor, [this, stats, name, plain_uploads] {
      stats->on_segment_completed();
      if (plain_uploads) file_completed(name);
    });
  };
  storage_options.on_segment_compressed = [this, executor = executor_, stats,
                                           compressed_uploads](const std::string& name) {
    if (compressed_uploads) ++completions_posted_;
    asio::post(executor, [this, stats, name, compressed_uploads] {
      stats->on_segment_compressed();
      if (compressed_uploads) file_completed(name + ".zst");
    });
  };
}

// A missing segment on the server means the archive cannot continue without
// a gap: say which WAL is gone and what to do.
Error Receiver::explain(const Error& error) const {
  if (error.kind() != ErrorKind::kServer ||
      std::string_view(error.what()).find("has already been removed") == std::string_view::npos) {
    return error;
  }
  const auto position = driver_.machine().position();
  return Error(ErrorKind::kServer,
               "the server no longer has the WAL from " +
                   (position ? protocol::to_string(*position) : std::string("the start")) +
                   " that the archive needs next (" + error.what() + ")",
               "that WAL is lost for this archive: keep WAL with a replication slot (-S), and "
               "start a new archive after a new base backup");
}

asio::awaitable<int> slot_action(const ReceiveOptions& options, AbortSignal& abort) {
  auto conn = co_await PgConnection::connect(options.connection, abort);
  check_supported_version(conn->server_version());
  const std::string& slot = *options.slot;
  if (options.create_slot) {
    try {
      co_await conn->exec(protocol::create_physical_slot_command(
                              conn->server_version(), slot, protocol::SlotLifetime::kPermanent),
                          "CREATE_REPLICATION_SLOT");
      spdlog::info("created replication slot \"{}\"", slot);
    } catch (const Error& error) {
      if (error.sqlstate() != "42710") throw;  // duplicate_object: it exists, which is fine
      spdlog::info("replication slot \"{}\" already exists", slot);
    }
  } else {
    co_await conn->exec(protocol::drop_slot_command(slot), "DROP_REPLICATION_SLOT");
    spdlog::info("dropped replication slot \"{}\"", slot);
  }
  co_return 0;
}

// Calls on_status now and about once a second until `running` is false.
asio::awaitable<void> report_status(asio::steady_timer& timer, const ReceiveStats& stats,
                                    const ReceiveOptions& options, const bool& running) {
  while (running) {
    options.on_status(stats, false);
    timer.expires_after(std::chrono::seconds(1));
    boost::system::error_code ec;
    co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
}

std::unique_ptr<MetricsServer> serve_metrics(const ReceiveOptions& options, asio::io_context& io,
                                             const ReceiveStats& stats) {
  ReceiveMetricsInfo info;
  info.directory = options.directory.string();
  info.slot = options.slot.value_or("");
  auto server = std::make_unique<MetricsServer>(
      io.get_executor(), *options.metrics_listen, [&stats, info = std::move(info)] {
        return render_receive_metrics(stats, info, std::chrono::system_clock::now());
      });
  spdlog::info("serving metrics on {}", server->local_address());
  server->start();
  return server;
}

}  // namespace

int run_receive(const ReceiveOptions& options) {
  if ((options.create_slot || options.drop_slot) && !options.slot) {
    throw Error(ErrorKind::kUsage, "--create-slot and --drop-slot need a slot name",
                "add -S/--slot NAME");
  }
  if (options.create_slot && options.drop_slot) {
    throw Error(ErrorKind::kUsage, "--create-slot and --drop-slot cannot be combined");
  }
  if (options.slot && !protocol::is_valid_slot_name(*options.slot)) {
    throw Error(ErrorKind::kUsage, "invalid replication slot name \"" + *options.slot + "\"",
                "use 1 to 63 lower-case letters, digits and underscores");
  }
  const bool slot_only = options.create_slot || options.drop_slot;
  if (!slot_only) {
    if (options.directory.empty()) {
      throw Error(ErrorKind::kUsage, "no archive directory given", "add -D/--directory DIR");
    }
    storage::ensure_archive_directory(options.directory);
  }

  // Before the io_context: what the storage's threads post refers to it.
  ReceiveStats stats;
  // Declared first, destroyed last: the storage's threads post to it until
  // the Receiver (which owns the storage) is gone.
  // One thread runs it (a hint of 1): handlers it posts to itself then skip
  // waking the reactor, a system call per message batch otherwise.
  asio::io_context io(1);
  AbortSignal abort;
  std::unique_ptr<Receiver> receiver;
  if (!slot_only) receiver = std::make_unique<Receiver>(options, io, abort, stats);
  // Listening before the first connection: a port in use fails the command
  // before anything is streamed.
  std::unique_ptr<MetricsServer> metrics;
  if (!slot_only && options.metrics_listen) metrics = serve_metrics(options, io, stats);
  asio::steady_timer status_timer(io);
  bool status_running = !slot_only && options.on_status != nullptr;
  if (status_running) {
    asio::co_spawn(io, report_status(status_timer, stats, options, status_running), asio::detached);
  }
  asio::signal_set signals(io, SIGINT, SIGTERM);
  std::function<void()> arm;
  arm = [&] {
    signals.async_wait([&](const boost::system::error_code& ec, int) {
      if (ec) return;
      if (receiver) {
        receiver->request_stop();
      } else {
        abort.abort(std::make_exception_ptr(Error(ErrorKind::kCancelled, "interrupted")));
      }
      arm();
    });
  };
  arm();

  int status = 1;
  std::exception_ptr failure;
  asio::co_spawn(io, slot_only ? slot_action(options, abort) : receiver->run(),
                 [&](std::exception_ptr error, int result) {
                   failure = error;
                   status = result;
                   signals.cancel();
                   status_running = false;
                   status_timer.cancel();
                   if (metrics) metrics->stop();
                 });
  io.run();
  receiver.reset();  // joins the storage threads while the io_context exists
  if (failure) std::rethrow_exception(failure);
  if (!slot_only && options.on_status) options.on_status(stats, true);
  return status;
}

}  // namespace walstream::walreceiver
