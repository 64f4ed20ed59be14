#include "walreceiver/bench_backup_sink.h"

#include <system_error>

#include "protocol/error.h"
#include "storage/file_util.h"

namespace walstream::walreceiver {

namespace fs = std::filesystem;

namespace {

// Adds the time from construction to destruction to `total`.
class Stopwatch {
 public:
  explicit Stopwatch(BenchDuration& total)
      : total_(total), started_(std::chrono::steady_clock::now()) {}
  ~Stopwatch() { total_ += std::chrono::steady_clock::now() - started_; }
  Stopwatch(const Stopwatch&) = delete;
  Stopwatch& operator=(const Stopwatch&) = delete;

 private:
  BenchDuration& total_;
  std::chrono::steady_clock::time_point started_;
};

}  // namespace

// Times one call into the handler and remembers when the last one returned.
class BenchBackupSink::HandlerCall {
 public:
  explicit HandlerCall(BenchBackupSink& sink) : sink_(sink), started_(Clock::now()) {}
  ~HandlerCall() {
    const auto now = Clock::now();
    sink_.times_.handler += now - started_;
    sink_.last_call_end_ = now;
  }
  HandlerCall(const HandlerCall&) = delete;
  HandlerCall& operator=(const HandlerCall&) = delete;

 private:
  BenchBackupSink& sink_;
  Clock::time_point started_;
};

// Counts members and, when extracting, hands them to the DataDirExtractor
// under the write stopwatch.
class BenchBackupSink::MemberSink : public protocol::TarMemberSink {
 public:
  MemberSink(BenchBackupSink& sink, storage::DataDirExtractor* extractor)
      : sink_(sink), extractor_(extractor) {}

  void member_begin(const protocol::TarMember& member) override {
    if (member.type == protocol::TarMemberType::kFile) ++sink_.counts_.files;
    if (extractor_ == nullptr) return;
    Stopwatch watch(sink_.times_.write);
    extractor_->member_begin(member);
  }
  void member_data(ByteView data) override {
    if (extractor_ == nullptr) return;
    Stopwatch watch(sink_.times_.write);
    extractor_->member_data(data);
    sink_.counts_.written_bytes += data.size();
  }
  void member_end() override {
    if (extractor_ == nullptr) return;
    Stopwatch watch(sink_.times_.write);
    extractor_->member_end();
  }
  void archive_end() override {
    if (extractor_ == nullptr) return;
    Stopwatch watch(sink_.times_.write);
    extractor_->archive_end();
  }

 private:
  BenchBackupSink& sink_;
  storage::DataDirExtractor* extractor_;
};

BenchBackupSink::BenchBackupSink(BenchBackupSinkOptions options) : options_(std::move(options)) {
  if (options_.extract_to && !options_.map_tablespace) {
    throw Error(ErrorKind::kInternal, "extracting a backup needs a tablespace mapping");
  }
}

BenchBackupSink::~BenchBackupSink() = default;

void BenchBackupSink::expect_tablespaces(const std::vector<protocol::TablespaceInfo>& tablespaces) {
  catalog_.emplace(tablespaces);
}

void BenchBackupSink::archive_begin(std::string_view archive_name,
                                    std::string_view tablespace_path) {
  HandlerCall call(*this);
  if (parser_) {
    throw ProtocolError("archive \"" + std::string(archive_name) + "\" began inside another");
  }
  if (!catalog_) throw Error(ErrorKind::kInternal, "archive began before the tablespace list");
  const std::optional<std::uint32_t> oid = catalog_->begin_archive(archive_name, tablespace_path);
  ++counts_.archives;
  decompressor_ = storage::make_archive_decompressor(archive_name);
  if (decompressor_) counts_.compressed = true;
  extractor_.reset();
  if (options_.extract_to) {
    // Making the directories is writing; timed inside the tar and archive
    // steps too, since each step's time includes the ones below it.
    Stopwatch archive_watch(times_.archive);
    Stopwatch tar_watch(times_.tar);
    Stopwatch watch(times_.write);
    fs::path target = *options_.extract_to;
    if (!tablespace_path.empty()) {
      target = options_.map_tablespace(std::string(tablespace_path));
      std::error_code error;
      fs::create_directories(target, error);
      if (error) storage::throw_io_error("create directory", target, error.value());
    }
    storage::TablespaceLinks links;
    if (!oid) {
      links.locations = catalog_->tablespace_locations();
      auto map = options_.map_tablespace;
      links.map = [map](const std::string& location) { return map(location).string(); };
    }
    extractor_ = std::make_unique<storage::DataDirExtractor>(std::move(target), options_.modes,
                                                             std::move(links));
  }
  members_ = std::make_unique<MemberSink>(*this, extractor_.get());
  parser_ = std::make_unique<protocol::TarParser>(*members_, options_.tar_trailer);
}

void BenchBackupSink::feed_tar(ByteView plain) {
  Stopwatch watch(times_.tar);
  counts_.tar_bytes += plain.size();
  parser_->feed(plain);
}

void BenchBackupSink::archive_data(ByteView data) {
  HandlerCall call(*this);
  if (!parser_) throw ProtocolError("archive data received outside an archive");
  Stopwatch watch(times_.archive);
  counts_.archive_bytes += data.size();
  if (decompressor_) {
    decompressor_->feed(data, [this](ByteView plain) { feed_tar(plain); });
  } else {
    feed_tar(data);
  }
}

void BenchBackupSink::archive_end() {
  HandlerCall call(*this);
  if (!parser_) throw ProtocolError("archive end received outside an archive");
  Stopwatch watch(times_.archive);
  if (decompressor_) {
    decompressor_->finish([this](ByteView plain) { feed_tar(plain); });
    decompressor_.reset();
  }
  {
    Stopwatch tar_watch(times_.tar);
    parser_->finish();
  }
  parser_.reset();
  members_.reset();
  extractor_.reset();
}

void BenchBackupSink::manifest_begin() { HandlerCall call(*this); }

void BenchBackupSink::manifest_data(ByteView data) {
  HandlerCall call(*this);
  counts_.manifest_bytes += data.size();
  ++counts_.manifest_chunks;
}

void BenchBackupSink::manifest_end() { HandlerCall call(*this); }

void BenchBackupSink::progress(std::uint64_t) { HandlerCall call(*this); }

}  // namespace walstream::walreceiver
