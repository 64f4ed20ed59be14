#include "walreceiver/receive.h"

#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <csignal>
#include <cstring>

#include "protocol/error.h"
#include "protocol/replication_commands.h"
#include "protocol/wal_file_names.h"
#include "storage/archive_scan.h"
#include "storage/file_util.h"
#include "walreceiver/durable_wal_sink.h"
#include "walreceiver/pg_connection.h"
#include "walreceiver/server_facts.h"
#include "walreceiver/wal_stream_session.h"

namespace walstream::walreceiver {
namespace {

namespace fs = std::filesystem;
using protocol::Lsn;
using protocol::TimelineId;

// Connection-level trouble is retried; anything about the data or the disk
// is not (an fsync failure in particular must never be retried).
bool is_retryable(const Error& error) {
  if (error.kind() == ErrorKind::kConnection) return true;
  if (error.kind() != ErrorKind::kServer) return false;
  const std::string& state = error.sqlstate();
  // 08: connection exception, 57: operator intervention (admin shutdown,
  // pg_terminate_backend), 53: insufficient resources (too many connections).
  return state.rfind("08", 0) == 0 || state.rfind("57", 0) == 0 || state.rfind("53", 0) == 0;
}

void ensure_directory(const fs::path& dir) {
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    storage::throw_io_error("create directory", dir, errno);
  }
  if (::access(dir.c_str(), W_OK | X_OK) != 0) {
    throw Error(ErrorKind::kIo,
                "could not write to directory \"" + dir.string() + "\": " + std::strerror(errno),
                "make the archive directory writable for the user running walstream");
  }
}

void write_history_file(const fs::path& dir, const protocol::TimelineHistoryFile& file) {
  const fs::path final_path = dir / file.file_name;
  const fs::path temp_path = dir / (file.file_name + ".tmp");
  storage::write_file(temp_path, file.content, 0600);
  storage::durable_rename(temp_path, final_path);
}

// NAME.zst.tmp files are compressions a crash interrupted; their segments
// are compressed again.
void remove_stale_temporary_files(const fs::path& dir) {
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (name.size() > 8 && name.ends_with(".zst.tmp")) {
      std::error_code ec;
      fs::remove(entry.path(), ec);
      if (ec) storage::throw_io_error("remove file", entry.path(), ec.value());
      spdlog::info("removed \"{}\" left by an interrupted compression", name);
    }
  }
}

class Receiver {
 public:
  Receiver(const ReceiveOptions& options, asio::io_context& io, AbortSignal& abort)
      : options_(options), io_(io), abort_(abort), backoff_timer_(io) {}

  asio::awaitable<int> run();
  void request_stop() {
    stop_requested_ = true;
    backoff_timer_.cancel();
    if (session_) {
      session_->request_stop();  // makes received WAL durable, sends a final status
    } else {
      // Connecting or running a command: nothing received is at stake, so
      // interrupt the wait (an unreachable host would otherwise hold us).
      abort_.abort(std::make_exception_ptr(Error(ErrorKind::kCancelled, "interrupted")));
    }
  }

 private:
  asio::awaitable<int> slot_action(PgConnection& conn);
  asio::awaitable<void> prepare(PgConnection& conn);
  asio::awaitable<protocol::Lsn> start_position(PgConnection& conn, TimelineId* timeline);
  asio::awaitable<StreamEnd> stream(PgConnection& conn, Lsn start, TimelineId timeline);
  asio::awaitable<void> back_off();

  const ReceiveOptions& options_;
  asio::io_context& io_;
  AbortSignal& abort_;
  asio::steady_timer backoff_timer_;
  std::chrono::milliseconds delay_{1000};
  bool stop_requested_ = false;
  WalStreamSession* session_ = nullptr;

  protocol::SystemIdentity identity_;
  protocol::ServerVersion version_;
  std::uint64_t segment_size_ = 0;
  std::unique_ptr<DurableWalSink> sink_;
  std::optional<storage::StreamStart> archive_start_;
  TimelineId timeline_ = 0;  // of the stream in progress
};

asio::awaitable<int> Receiver::slot_action(PgConnection& conn) {
  const std::string& slot = *options_.slot;
  if (options_.create_slot) {
    try {
      co_await conn.exec(protocol::create_physical_slot_command(conn.server_version(), slot,
                                                                protocol::SlotLifetime::kPermanent),
                         "CREATE_REPLICATION_SLOT");
      spdlog::info("created replication slot \"{}\"", slot);
    } catch (const Error& error) {
      if (error.sqlstate() != "42710") throw;  // duplicate_object: it exists, which is fine
      spdlog::info("replication slot \"{}\" already exists", slot);
    }
  } else {
    co_await conn.exec(protocol::drop_slot_command(slot), "DROP_REPLICATION_SLOT");
    spdlog::info("dropped replication slot \"{}\"", slot);
  }
  co_return 0;
}

// Once per connection: who the server is, and (first time) what the archive
// holds and whether the two belong together.
asio::awaitable<void> Receiver::prepare(PgConnection& conn) {
  version_ = conn.server_version();
  check_supported_version(version_);
  auto identity = co_await identify_system(conn);
  if (sink_ && identity.system_id != identity_.system_id) {
    throw Error(ErrorKind::kConnection,
                "the server's system identifier changed from " +
                    std::to_string(identity_.system_id) + " to " +
                    std::to_string(identity.system_id),
                "point walstream at a server of the archived system");
  }
  identity_ = identity;
  if (sink_) co_return;

  segment_size_ = co_await read_wal_segment_size(conn);

  auto contents = storage::scan_archive(options_.directory, segment_size_);
  if (contents.system_id && *contents.system_id != identity_.system_id) {
    throw Error(ErrorKind::kUsage,
                "the archive holds WAL of system " + std::to_string(*contents.system_id) +
                    ", the server is system " + std::to_string(identity_.system_id),
                "use a separate archive directory for each database system");
  }
  auto holes = storage::find_holes(contents, segment_size_);
  if (!holes.empty()) {
    std::string list = holes.front();
    if (holes.size() > 1) list += " and " + std::to_string(holes.size() - 1) + " more";
    throw Error(ErrorKind::kIo,
                "the archive \"" + options_.directory.string() + "\" has a hole: segment " + list +
                    " is missing",
                "restore the missing segment(s), or start a new archive directory");
  }
  archive_start_ = storage::streaming_start(contents, segment_size_);

  DurableWalSinkOptions sink_options;
  sink_options.directory = options_.directory;
  sink_options.segment_size = segment_size_;
  sink_options.system_id = identity_.system_id;
  sink_options.server_major = version_.major();
  sink_options.synchronous = options_.synchronous;
  sink_options.report_flush = options_.synchronous || options_.slot.has_value();
  sink_options.batch_bytes = options_.fsync_batch_bytes;
  sink_options.batch_window = options_.fsync_batch_window;
  sink_options.zstd_level = options_.zstd_level;
  if (options_.zstd_level) remove_stale_temporary_files(options_.directory);
  sink_ = std::make_unique<DurableWalSink>(
      sink_options, io_.get_executor(),
      [this] {
        if (session_) session_->flush_advanced();
      },
      [this](std::exception_ptr error) { abort_.abort(error); });
  // A crash between a segment's rename and its compression leaves it plain.
  for (const auto& segment : contents.segments) {
    if (segment.state == storage::SegmentState::kComplete) {
      sink_->compress_existing(segment.file_name);
    }
  }
}

asio::awaitable<protocol::Lsn> Receiver::start_position(PgConnection& conn, TimelineId* timeline) {
  if (archive_start_) {
    *timeline = archive_start_->timeline;
    spdlog::info("continuing the archive at {} on timeline {}",
                 protocol::to_string(archive_start_->lsn), archive_start_->timeline);
    co_return archive_start_->lsn;
  }
  auto missing_slot = [&] {
    return Error(ErrorKind::kUsage, "replication slot \"" + *options_.slot + "\" does not exist",
                 "create it first with walstream receive -S " + *options_.slot + " --create-slot");
  };
  // Before 15 the slot has no readable position, but a missing one is still
  // reported as such rather than as a failed START_REPLICATION.
  if (options_.slot && version_.major() < 15 &&
      co_await probe_slot_exists(conn, *options_.slot) == std::optional<bool>(false)) {
    throw missing_slot();
  }
  if (options_.slot && version_.major() >= 15) {
    auto slot = protocol::parse_read_replication_slot(co_await conn.exec(
        protocol::read_replication_slot_command(*options_.slot), "READ_REPLICATION_SLOT"));
    if (!slot) throw missing_slot();
    if (slot->restart_lsn && slot->restart_timeline) {
      *timeline = *slot->restart_timeline;
      spdlog::info("starting at the slot's restart position {}",
                   protocol::to_string(*slot->restart_lsn));
      co_return protocol::segment_start(*slot->restart_lsn, segment_size_);
    }
  }
  *timeline = identity_.timeline;
  spdlog::info("starting at the server's current position {}",
               protocol::to_string(identity_.xlogpos));
  co_return protocol::segment_start(identity_.xlogpos, segment_size_);
}

asio::awaitable<StreamEnd> Receiver::stream(PgConnection& conn, Lsn start, TimelineId timeline) {
  WalStreamOptions stream_options;
  stream_options.slot = options_.slot;
  stream_options.start = start;
  stream_options.timeline = timeline;
  stream_options.status_interval = options_.status_interval;
  stream_options.endpos = options_.endpos;
  WalStreamSession session(conn, *sink_, stream_options);
  session_ = &session;
  if (stop_requested_) session.request_stop();
  std::exception_ptr failure;
  StreamEnd end;
  try {
    end = co_await session.run();
  } catch (const Error& error) {
    // A missing segment on the server means the archive cannot continue
    // without a gap: say which WAL is gone.
    if (error.kind() == ErrorKind::kServer &&
        std::string(error.what()).find("has already been removed") != std::string::npos) {
      failure = std::make_exception_ptr(
          Error(ErrorKind::kServer,
                "the server no longer has the WAL from " + protocol::to_string(start) +
                    " that the archive needs next (" + error.what() + ")",
                "that WAL is lost for this archive: keep WAL with a replication slot (-S), and "
                "start a new archive after a new base backup"));
    } else {
      failure = std::current_exception();
    }
  } catch (...) {
    failure = std::current_exception();
  }
  session_ = nullptr;
  if (failure) std::rethrow_exception(failure);
  co_return end;
}

asio::awaitable<void> Receiver::back_off() {
  spdlog::warn("disconnected; reconnecting in {} ms", delay_.count());
  backoff_timer_.expires_after(delay_);
  boost::system::error_code ec;
  co_await backoff_timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  delay_ = std::min(delay_ * 2, options_.max_reconnect_delay);
}

asio::awaitable<int> Receiver::run() {
  for (;;) {
    std::exception_ptr failure;
    try {
      auto conn = co_await PgConnection::connect(options_.connection, abort_);
      if (options_.create_slot || options_.drop_slot) co_return co_await slot_action(*conn);
      co_await prepare(*conn);

      Lsn start;
      if (sink_->written().valid()) {
        start = sink_->written();  // resume exactly where the stream broke off
      } else {
        start = co_await start_position(*conn, &timeline_);
      }
      for (;;) {
        if (options_.endpos && start >= *options_.endpos) {
          sink_->finish();
          co_return 0;
        }
        StreamEnd end = co_await stream(*conn, start, timeline_);
        delay_ = std::chrono::milliseconds(1000);  // streamed: next outage starts afresh
        if (end.reason == StreamEndReason::kEndpos ||
            end.reason == StreamEndReason::kStopRequested) {
          sink_->finish();
          co_return 0;
        }
        if (end.reason != StreamEndReason::kTimelineEnded) {
          throw Error(ErrorKind::kConnection,
                      "the server ended streaming at " + protocol::to_string(sink_->written()));
        }
        // Follow the new timeline: its history first, then its WAL from the
        // start of the segment holding the switch point, as pg_receivewal does.
        sink_->end_timeline();
        const TimelineId next = end.next->next_timeline;
        const fs::path history = options_.directory / protocol::timeline_history_file_name(next);
        if (!fs::exists(history)) {
          write_history_file(
              options_.directory,
              protocol::parse_timeline_history(
                  co_await conn->exec(protocol::timeline_history_command(next), "TIMELINE_HISTORY"),
                  next));
        }
        timeline_ = next;
        start = protocol::segment_start(end.next->next_timeline_start, segment_size_);
      }
    } catch (const Error& error) {
      if (stop_requested_ && error.kind() == ErrorKind::kCancelled) {
        if (sink_) sink_->finish();
        co_return 0;
      }
      if (!is_retryable(error) || options_.no_loop || stop_requested_) throw;
      failure = std::current_exception();
      spdlog::warn("{}", error.what());
    }
    if (stop_requested_) {
      if (sink_) sink_->finish();
      co_return 0;
    }
    co_await back_off();
    if (stop_requested_) {
      if (sink_) sink_->finish();
      co_return 0;
    }
  }
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
  if (!options.create_slot && !options.drop_slot) {
    if (options.directory.empty()) {
      throw Error(ErrorKind::kUsage, "no archive directory given", "add -D/--directory DIR");
    }
    ensure_directory(options.directory);
  }

  asio::io_context io;
  AbortSignal abort;
  Receiver receiver(options, io, abort);
  asio::signal_set signals(io, SIGINT, SIGTERM);
  std::function<void()> arm;
  arm = [&] {
    signals.async_wait([&](const boost::system::error_code& ec, int) {
      if (ec) return;
      receiver.request_stop();
      arm();
    });
  };
  arm();

  int status = 1;
  std::exception_ptr failure;
  asio::co_spawn(io, receiver.run(), [&](std::exception_ptr error, int result) {
    failure = error;
    status = result;
    signals.cancel();
  });
  io.run();
  if (failure) std::rethrow_exception(failure);
  return status;
}

}  // namespace walstream::walreceiver
