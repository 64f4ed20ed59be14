#include "storage/wal_archive_writer.h"

#include <cerrno>
#include <cstdio>
#include <utility>

#include "protocol/wal_file_names.h"
#include "storage/file_util.h"

namespace walstream::storage {

WalArchiveWriter::WalArchiveWriter(WalArchiveWriterOptions options) : options_(std::move(options)) {
  const bool sync = options_.durability == WalDurability::kSynced;
  completion_.directory = options_.directory;
  completion_.sync = sync;
  completion_.mark_done = options_.mark_done;
  completion_.file_mode = options_.file_mode;
  completion_.page_check = options_.page_check;
  completion_.on_fdatasync = options_.on_fdatasync;

  if (options_.zstd_level) {
    archiver_ = std::make_unique<ZstdArchiver>(options_.directory, *options_.zstd_level,
                                               options_.on_failure, options_.on_segment_compressed);
  }
  WalSyncerOptions sync_options;
  sync_options.completion = completion_;
  sync_options.on_durable = options_.on_durable;
  sync_options.on_failure = options_.on_failure;
  sync_options.inline_jobs = options_.sync_inline;
  if (archiver_ || options_.on_segment_completed) {
    sync_options.on_segment_complete = [this](const SegmentFile& file) {
      if (options_.on_segment_completed) options_.on_segment_completed(file.name);
      if (archiver_) archiver_->enqueue(file.name);
    };
  }
  syncer_ = std::make_unique<WalSyncer>(std::move(sync_options));

  WalSegmentWriterOptions writer_options;
  writer_options.directory = options_.directory;
  writer_options.segment_size = options_.segment_size;
  writer_options.file_mode = options_.file_mode;
  writer_options.direct_io = options_.direct_io;
  writer_options.preallocation = options_.preallocation;
  writer_options.page_check = options_.page_check;
  writer_options.on_segment_full = [this](SegmentFilePtr file, protocol::StreamPosition end) {
    syncer_->complete(std::move(file), end);
  };
  writer_ = std::make_unique<WalSegmentWriter>(std::move(writer_options));
}

WalArchiveWriter::~WalArchiveWriter() {
  // Each stage is stopped after the one feeding it: the writer hands
  // segments to the syncer, which hands names to the archiver.
  writer_.reset();
  syncer_.reset();
  archiver_.reset();
}

void WalArchiveWriter::write(protocol::StreamPosition start, std::span<const ByteView> pieces) {
  writer_->write(start, pieces);
}

void WalArchiveWriter::request_sync(protocol::StreamPosition upto) {
  writer_->flush();  // the sync must find the bytes in the file
  syncer_->sync(writer_->current_segment(), upto);
}

void WalArchiveWriter::close_segment() {
  SegmentFilePtr open = writer_->release_segment();
  if (open && options_.incomplete_segments == IncompleteSegments::kFinalName) {
    syncer_->drain();  // the jobs that still use the file come first
    finalize_incomplete_segment(*open, completion_);
  }
}

void WalArchiveWriter::store_history(const protocol::TimelineHistoryFile& history) {
  const std::filesystem::path final_path = options_.directory / history.file_name;
  const std::filesystem::path temp_path =
      options_.directory /
      protocol::wal_file_name(
          {protocol::WalFileKind::kHistoryTemporary, history.history.timeline, 0}, 0);
  write_file(temp_path, history.content, options_.file_mode);
  if (options_.durability == WalDurability::kSynced) {
    durable_rename(temp_path, final_path);
  } else if (std::rename(temp_path.c_str(), final_path.c_str()) != 0) {
    throw_io_error("rename file \"" + temp_path.string() + "\" to", final_path, errno);
  }
  if (options_.mark_done) mark_archived(history.file_name, completion_);
}

void WalArchiveWriter::compress_existing(const std::string& segment_name) {
  if (archiver_) archiver_->enqueue(segment_name);
}

void WalArchiveWriter::finish() {
  SegmentFilePtr open = writer_->release_segment();
  if (open && options_.durability == WalDurability::kSynced) {
    syncer_->sync(open, writer_->position());
  }
  syncer_->drain();
  if (open && options_.incomplete_segments == IncompleteSegments::kFinalName) {
    finalize_incomplete_segment(*open, completion_);
  }
  if (options_.durability == WalDurability::kSynced) fsync_directory(options_.directory);
  if (archiver_) archiver_->drain();
}

}  // namespace walstream::storage
