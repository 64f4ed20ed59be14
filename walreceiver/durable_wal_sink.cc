#include "walreceiver/durable_wal_sink.h"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <boost/asio/post.hpp>
#include <cerrno>
#include <vector>

#include "protocol/wal_page.h"

namespace walstream::walreceiver {

DurableWalSink::DurableWalSink(DurableWalSinkOptions options, boost::asio::any_io_executor io,
                               std::function<void()> on_flush_advanced,
                               std::function<void(std::exception_ptr)> on_failure)
    : options_(std::move(options)),
      io_(std::move(io)),
      on_flush_advanced_(std::move(on_flush_advanced)),
      on_failure_(std::move(on_failure)) {
  auto post_failure = [this](std::exception_ptr error) {
    boost::asio::post(io_, [this, error] { on_failure_(error); });
  };
  if (options_.zstd_level) {
    archiver_ = std::make_unique<storage::ZstdArchiver>(options_.directory, *options_.zstd_level,
                                                        post_failure);
  }
  storage::WalSyncerOptions sync_options;
  sync_options.directory = options_.directory;
  sync_options.on_durable = [this](protocol::Lsn) {
    boost::asio::post(io_, [this] { on_flush_advanced_(); });
  };
  if (archiver_) {
    sync_options.on_segment_durable = [this](const std::string& name) { archiver_->enqueue(name); };
  }
  sync_options.on_failure = post_failure;
  sync_options.validate = [this](const storage::SegmentFile& file) { return validate(file); };
  syncer_ = std::make_unique<storage::WalSyncer>(std::move(sync_options));

  storage::WalWriterOptions writer_options;
  writer_options.directory = options_.directory;
  writer_options.segment_size = options_.segment_size;
  writer_options.file_mode = options_.file_mode;
  writer_options.sync = false;  // the syncer thread does it
  writer_options.reset_existing_partial = true;
  writer_options.on_segment_full = [this](storage::SegmentFilePtr file, protocol::Lsn end) {
    syncer_->complete(std::move(file), end);
    sync_requested_ = std::max(sync_requested_, end);
  };
  writer_ = std::make_unique<storage::WalSegmentWriter>(std::move(writer_options));
}

DurableWalSink::~DurableWalSink() {
  // Order matters: the writer hands segments to the syncer, which hands names
  // to the archiver; each is stopped after the one feeding it.
  writer_.reset();
  syncer_.reset();
  archiver_.reset();
}

void DurableWalSink::write(protocol::TimelineId timeline, protocol::Lsn start,
                           std::span<const ByteView> pieces) {
  writer_->write_batch(timeline, start, pieces);
  if (!unsynced_since_ && writer_->position() > sync_requested_) {
    unsynced_since_ = std::chrono::steady_clock::now();
  }
}

protocol::Lsn DurableWalSink::reportable_flush() const {
  if (!options_.report_flush) return {};
  return std::min(syncer_->durable(), writer_->position());
}

void DurableWalSink::request_sync() {
  const protocol::Lsn written = writer_->position();
  if (written > sync_requested_) {
    if (auto segment = writer_->current_segment()) syncer_->request_sync(segment, written);
    sync_requested_ = written;
  }
  unsynced_since_.reset();
}

void DurableWalSink::batch_point(TimePoint now, bool urgent) {
  const protocol::Lsn written = writer_->position();
  if (written <= sync_requested_) {
    unsynced_since_.reset();
    return;
  }
  const std::uint64_t pending = written.value - sync_requested_.value;
  const bool window_over = unsynced_since_ && now - *unsynced_since_ >= options_.batch_window;
  if (options_.synchronous || urgent || pending >= options_.batch_bytes || window_over) {
    request_sync();
  }
}

std::optional<WalSink::TimePoint> DurableWalSink::next_batch_deadline() const {
  if (!unsynced_since_) return std::nullopt;
  return *unsynced_since_ + options_.batch_window;
}

void DurableWalSink::make_durable() {
  request_sync();
  syncer_->drain();
}

void DurableWalSink::compress_existing(const std::string& segment_name) {
  if (archiver_) archiver_->enqueue(segment_name);
}

void DurableWalSink::end_timeline() {
  make_durable();
  writer_->finish(storage::WalSegmentWriter::FinishMode::kKeepPartial);
}

void DurableWalSink::finish() {
  make_durable();
  writer_->finish(storage::WalSegmentWriter::FinishMode::kKeepPartial);
  syncer_->drain();
  if (archiver_) archiver_->drain();
}

std::string DurableWalSink::validate(const storage::SegmentFile& file) const {
  // Every page header of the segment, read back in 1 MiB pieces (bounded
  // memory whatever the segment size). Runs on the syncer thread.
  protocol::PageCheck check;
  check.magic = protocol::xlog_page_magic_for_major(options_.server_major).value_or(0);
  check.segment_size = options_.segment_size;
  check.system_id = options_.system_id;
  check.max_timeline = file.timeline;
  constexpr std::size_t kChunk = 1024 * 1024;
  std::vector<std::byte> chunk(std::min<std::uint64_t>(kChunk, options_.segment_size));
  protocol::SegmentPageChecker checker(file.segno, check);
  for (std::uint64_t offset = 0; offset < options_.segment_size; offset += chunk.size()) {
    ssize_t n = ::pread(file.fd.get(), chunk.data(), chunk.size(), static_cast<off_t>(offset));
    if (n != static_cast<ssize_t>(chunk.size())) return "could not read it back";
    std::string problem = checker.feed(chunk);
    if (!problem.empty()) return problem;
  }
  return {};
}

}  // namespace walstream::walreceiver
