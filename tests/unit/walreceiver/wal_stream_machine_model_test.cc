// A randomized model-based test of WalStreamMachine. The machine drives a
// simulated PostgreSQL server (timelines that grow and get promoted, forking
// inside a record or at a segment boundary) and a simulated archive (segment
// files with written and durable contents, syncs that finish late and in
// order), while the test picks at random what happens next: bursts of WAL,
// keepalives, timers, lost connections at every step, promotions, stop
// requests, endpos, the stop position of a clone. After every step it checks
// what the machine promises:
//   1. every flush it reports is durable: the archive, read as recovery reads
//      it along the stream's timeline, holds the server's bytes up to it;
//   2. flush <= write in every status;
//   3. no action after Finish/Fail; Finish for a reason that holds; Fail only
//      for an error the test injected;
//   4. at endpos the durable archive has no gap up to endpos; at a clone's stop
//      position the written WAL reaches it; every ended run's archive holds
//      everything up to the machine's final position;
//   5. it never asks the server for something PostgreSQL answers with a
//      non-retryable error (a start beyond a timeline's switch point, ...);
//   6. the status that ends a COPY or a run claims everything written.
// Also the rules of the connection (no command while one is pending, no
// status after our CopyDone, ...) and of the writer (continue the open segment
// or open one at its start, history file first).
// The seeds are fixed: a failure prints its seed, the run's options and the
// whole event/action trace.
#include "walreceiver/wal_stream_machine.h"

#include "tests/support/stream_script.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace walstream::walreceiver {
namespace {

using namespace std::chrono_literals;
using protocol::Lsn;
using protocol::SegmentNo;
using protocol::StreamPosition;
using protocol::TimelineId;

// Tiny segments and messages put segment boundaries, switch points and endpos
// everywhere; the machine does not care that real segments are >= 1 MB.
constexpr std::uint64_t kSeg = 256;
constexpr std::uint64_t kMaxMessage = 100;
constexpr std::uint64_t kSeeds = 2000;

// --- failures -----------------------------------------------------------------

struct Violation : std::runtime_error {
  using std::runtime_error::runtime_error;
};

[[noreturn]] void violation(const std::string& what) { throw Violation(what); }

std::string lsn_text(std::uint64_t lsn) { return protocol::to_string(Lsn{lsn}); }
std::string pos_text(TimelineId timeline, std::uint64_t lsn) {
  return protocol::to_string(StreamPosition{timeline, Lsn{lsn}});
}

// --- randomness ---------------------------------------------------------------

// mt19937_64's sequence is fixed by the standard (the standard distributions'
// are not), so a seed replays the same run with any standard library.
class Random {
 public:
  explicit Random(std::uint64_t seed) : engine_(seed) {}
  std::uint64_t below(std::uint64_t n) { return engine_() % n; }
  std::uint64_t between(std::uint64_t lo, std::uint64_t hi) { return lo + below(hi - lo + 1); }
  bool chance(double p) { return static_cast<double>(engine_() >> 11) * 0x1.0p-53 < p; }

 private:
  std::mt19937_64 engine_;
};

// --- WAL content --------------------------------------------------------------

std::uint8_t lsn_mix(std::uint64_t lsn) {
  return static_cast<std::uint8_t>((lsn * 0x9E3779B97F4A7C15ull) >> 56);
}
// Byte `lsn` as timeline `writer` wrote it: timelines write different bytes at
// the same LSN, so a byte of one timeline never passes for another's.
std::byte wal_byte(TimelineId writer, std::uint64_t lsn) {
  return static_cast<std::byte>(static_cast<std::uint8_t>(lsn_mix(lsn) + 85u * writer));
}
// The inverse, for messages: which timeline wrote `byte` (85 * 253 = 1 mod 256).
unsigned writer_of(std::byte byte, std::uint64_t lsn) {
  return static_cast<std::uint8_t>((static_cast<unsigned>(byte) - lsn_mix(lsn)) * 253u);
}

// --- the server ---------------------------------------------------------------

// Timeline 1 grows until a promotion ends it at a switch point S, at most what
// it had (less when it ended inside a record: what was sent beyond S belongs to
// no later history); the next timeline begins at S and grows in turn. Byte
// `lsn` of timeline t was written by the newest timeline of t's history that
// began at or before `lsn`.
class SimServer {
 public:
  explicit SimServer(std::uint64_t end) { timelines_.push_back({0, end, std::nullopt}); }

  TimelineId current() const { return static_cast<TimelineId>(timelines_.size()); }
  std::uint64_t begin(TimelineId t) const { return at(t).begin; }
  // How far the timeline's WAL reached (a historic one's: before it ended).
  std::uint64_t end(TimelineId t) const { return at(t).end; }
  std::optional<std::uint64_t> switch_point(TimelineId t) const { return at(t).switch_point; }

  std::byte byte_at(TimelineId t, std::uint64_t lsn) const {
    TimelineId writer = t;
    while (writer > 1 && lsn < begin(writer)) --writer;
    return wal_byte(writer, lsn);
  }

  void generate(std::uint64_t bytes) { timelines_.back().end += bytes; }
  void promote(std::uint64_t switch_point, std::uint64_t first_bytes) {
    timelines_.back().switch_point = switch_point;
    timelines_.push_back({switch_point, switch_point + first_bytes, std::nullopt});
  }

 private:
  struct Timeline {
    std::uint64_t begin;
    std::uint64_t end;
    std::optional<std::uint64_t> switch_point;
  };
  const Timeline& at(TimelineId t) const { return timelines_.at(t - 1); }

  std::vector<Timeline> timelines_;
};

// --- the storage --------------------------------------------------------------

enum class Contents { kWritten, kDurable };

// Segment files keyed by (timeline, segno), each with what was written and what
// is durable. Writes follow the rules the real writer enforces: continue the
// open segment exactly, or open one at its start (a file that exists is
// reopened and overwritten in place). A segment written to its end is
// completed by the storage on its own. Syncs and completions finish later, in
// the order they were queued, each making durable what was written before it.
class SimStorage {
 public:
  struct File {
    std::vector<std::byte> written;
    std::vector<std::byte> durable;
  };
  using Key = std::pair<TimelineId, SegmentNo>;

  void store_history(TimelineId t) { histories_.insert(t); }
  bool has_history(TimelineId t) const { return histories_.contains(t); }

  const File* file(TimelineId t, SegmentNo segno) const {
    const auto it = files_.find({t, segno});
    return it == files_.end() ? nullptr : &it->second;
  }
  // Bumped whenever bytes already there change (not when a file grows): what
  // was verified before stays verified until then.
  std::uint64_t version(Contents contents) const {
    return contents == Contents::kWritten ? written_version_ : durable_version_;
  }

  void write(StreamPosition start, ByteView bytes) {
    const TimelineId t = start.timeline;
    std::uint64_t lsn = start.lsn.value;
    if (t > 1 && !has_history(t)) {
      violation("WriteWal on timeline " + std::to_string(t) + " before its history file is stored");
    }
    if (open_) {
      const std::uint64_t expected = open_->segno * kSeg + open_->offset;
      if (open_->timeline != t || lsn != expected) {
        violation("WriteWal at " + to_string(start) + " does not continue the open segment (at " +
                  pos_text(open_->timeline, expected) + ")");
      }
    } else if (lsn % kSeg != 0) {
      violation("WriteWal at " + to_string(start) + " with no open segment is not a segment start");
    }
    std::size_t done = 0;
    while (done < bytes.size()) {
      if (!open_) open_ = OpenSegment{t, lsn / kSeg, 0};
      File& file = files_[{t, open_->segno}];
      const std::size_t n = std::min<std::size_t>(bytes.size() - done, kSeg - open_->offset);
      overwrite(file.written, open_->offset, bytes.subspan(done, n), written_version_);
      dirty_.insert({t, open_->segno});
      open_->offset += n;
      lsn += n;
      done += n;
      if (open_->offset == kSeg) {
        jobs_.push_back(Job{StreamPosition{t, Lsn{lsn}}, {{{t, open_->segno}, file.written}}});
        open_.reset();
      }
    }
  }

  void request_sync(StreamPosition upto) {
    Job job{upto, {}};
    for (const Key& key : dirty_) job.snapshots.emplace_back(key, files_.at(key).written);
    dirty_.clear();
    jobs_.push_back(std::move(job));
  }

  void close_segment() { open_.reset(); }

  bool has_pending() const { return !jobs_.empty(); }
  // The oldest sync or segment completion finishes; returns what it reports.
  StreamPosition complete_next() {
    Job job = std::move(jobs_.front());
    jobs_.pop_front();
    for (const auto& [key, bytes] : job.snapshots) make_durable(files_.at(key), bytes);
    return job.upto;
  }

  // Finish or Fail: everything written becomes durable.
  void finish() {
    for (auto& [key, file] : files_) make_durable(file, file.written);
    jobs_.clear();
    dirty_.clear();
  }

 private:
  struct OpenSegment {
    TimelineId timeline;
    SegmentNo segno;
    std::uint64_t offset;
  };
  struct Job {
    StreamPosition upto;
    std::vector<std::pair<Key, std::vector<std::byte>>> snapshots;
  };

  static void overwrite(std::vector<std::byte>& target, std::uint64_t offset, ByteView bytes,
                        std::uint64_t& version) {
    const std::uint64_t overlap =
        std::min<std::uint64_t>(bytes.size(), target.size() > offset ? target.size() - offset : 0);
    if (!std::equal(bytes.begin(), bytes.begin() + overlap, target.begin() + offset)) ++version;
    if (target.size() < offset + bytes.size()) target.resize(offset + bytes.size());
    std::copy(bytes.begin(), bytes.end(), target.begin() + offset);
  }

  void make_durable(File& file, const std::vector<std::byte>& bytes) {
    if (bytes.size() < file.durable.size()) violation("storage model: durable contents shrank");
    overwrite(file.durable, 0, bytes, durable_version_);
  }

  std::map<Key, File> files_;
  std::set<TimelineId> histories_;
  std::optional<OpenSegment> open_;
  std::set<Key> dirty_;
  std::deque<Job> jobs_;
  std::uint64_t written_version_ = 0;
  std::uint64_t durable_version_ = 0;
};

// --- reading the archive ------------------------------------------------------

// The archive as PostgreSQL recovery reads it along timeline t's history:
// segment n comes from the file (u, n) of the newest timeline u in t's history
// whose fork point lies in segment n or an earlier one, segno(begin(u)) <= n
// with begin(1) = 0 (the first file XLogFileReadAnyTLI tries). Unlike recovery
// it never falls back to an older timeline's file when that one is missing or
// short: that is a gap. A timeline after the first also needs its history
// file. Every byte must be the server's byte of timeline t.
class ArchiveReader {
 public:
  ArchiveReader(const SimServer& server, const SimStorage& storage, std::uint64_t start)
      : server_(server), storage_(storage), start_(start) {}

  TimelineId file_timeline(TimelineId t, SegmentNo segno) const {
    while (t > 1 && server_.begin(t) / kSeg > segno) --t;
    return t;
  }

  // What is wrong with [start, end) of timeline t's history in `contents`;
  // nullopt when every byte is there and is the server's.
  std::optional<std::string> problem(Contents contents, TimelineId t, std::uint64_t end) {
    if (end <= start_) return std::nullopt;
    if (t > 1 && !storage_.has_history(t)) {
      return "the history file of timeline " + std::to_string(t) + " is not stored";
    }
    Verified& verified = verified_[{contents, t}];
    if (verified.version != storage_.version(contents)) {
      verified = Verified{storage_.version(contents), start_};
    }
    for (std::uint64_t lsn = verified.upto; lsn < end;) {
      const SegmentNo segno = lsn / kSeg;
      const TimelineId file_tli = file_timeline(t, segno);
      const SimStorage::File* file = storage_.file(file_tli, segno);
      const std::vector<std::byte>* bytes = nullptr;
      if (file) bytes = contents == Contents::kWritten ? &file->written : &file->durable;
      const std::uint64_t segment_end = std::min(end, (segno + 1) * kSeg);
      for (; lsn < segment_end; ++lsn) {
        const std::uint64_t offset = lsn - segno * kSeg;
        auto where = [&] {
          return "segment " + std::to_string(segno) + " of timeline " + std::to_string(file_tli) +
                 " (read along timeline " + std::to_string(t) + ")";
        };
        if (!bytes || offset >= bytes->size()) {
          return (contents == Contents::kWritten ? "not written: " : "not durable: ") +
                 lsn_text(lsn) + ", " + where() + " holds " +
                 std::to_string(bytes ? bytes->size() : 0) + " bytes";
        }
        if ((*bytes)[offset] != server_.byte_at(t, lsn)) {
          return "wrong byte at " + lsn_text(lsn) + " in " + where() + ": timeline " +
                 std::to_string(writer_of((*bytes)[offset], lsn)) + "'s, expected timeline " +
                 std::to_string(writer_of(server_.byte_at(t, lsn), lsn)) + "'s";
        }
      }
    }
    verified.upto = std::max(verified.upto, end);
    return std::nullopt;
  }

 private:
  struct Verified {
    std::uint64_t version = ~std::uint64_t{0};
    std::uint64_t upto = 0;
  };
  const SimServer& server_;
  const SimStorage& storage_;
  std::uint64_t start_;
  std::map<std::pair<Contents, TimelineId>, Verified> verified_;
};

// --- one run ------------------------------------------------------------------

struct RunOptions {
  bool clone = false;
  std::uint64_t start = 0;
  WalStreamConfig config;
  unsigned promotions = 0;
  unsigned loss_weight = 0;   // of the move weights below (bursts weigh 600)
  bool stop_request = false;  // a StopRequested at a random moment
  bool crash_at_end = false;  // end without Finish, check what is durable

  std::string describe() const {
    std::string text = clone ? "clone" : "receive";
    text += " from " + lsn_text(start) + ", segment " + std::to_string(kSeg);
    if (!clone) {
      text += config.report_flush ? ", flush reported" : ", no flush reported";
      if (config.synchronous) text += ", synchronous";
      text += ", batch " + std::to_string(config.batch_bytes) + " bytes/" +
              std::to_string(config.batch_window.count()) + "ms";
      if (config.endpos) text += ", endpos " + protocol::to_string(*config.endpos);
      text += config.reconnect ? ", reconnect" : ", no reconnect";
    }
    text += ", status every " + std::to_string(config.status_interval.count()) + "ms";
    text += ", " + std::to_string(promotions) + " promotion(s), loss weight " +
            std::to_string(loss_weight);
    if (stop_request) text += ", stop request";
    if (crash_at_end) text += ", crash at the end";
    return text;
  }
};

RunOptions random_options(Random& random) {
  RunOptions options;
  options.clone = random.chance(0.25);
  options.start = kSeg * random.between(1, 4);
  WalStreamConfig& config = options.config;

  config.status_interval = std::chrono::milliseconds(
      random.chance(0.2) ? 0 : static_cast<std::int64_t>(random.between(100, 3000)));
  if (options.clone) {
    config.start = StreamStart{StreamPosition{1, Lsn{options.start}}, kSeg, {}};
    config.durability = Durability::kDeferred;
    config.report_flush = false;
    config.reconnect = false;
  } else {
    config.durability = Durability::kBatched;
    config.report_flush = random.chance(0.75);
    config.synchronous = random.chance(0.3);
    config.batch_bytes = random.between(1, 600);
    config.batch_window = std::chrono::milliseconds(random.between(10, 500));
    if (random.chance(0.35)) {
      std::uint64_t endpos = options.start + random.between(0, 12 * kSeg);
      if (random.chance(0.3)) endpos -= endpos % kSeg;
      config.endpos = Lsn{endpos};
    }
    config.reconnect = random.chance(0.85);
    config.first_reconnect_delay = std::chrono::milliseconds(random.between(10, 200));
    config.max_reconnect_delay = 2000ms;
  }
  const std::uint64_t promotions = random.below(10);
  options.promotions = promotions < 2 ? 0 : promotions < 6 ? 1 : 2;
  // A lost connection ends a run without reconnects: rarely, there.
  options.loss_weight = static_cast<unsigned>(random.between(0, config.reconnect ? 60 : 3));
  options.stop_request = random.chance(0.3);
  options.crash_at_end = random.chance(0.15);
  return options;
}

// How often the runs reached what they are meant to exercise; the test
// insists on each, so a model that stops reaching one fails.
struct Coverage {
  std::map<std::string, std::uint64_t> counts;
  void count(const std::string& what) { ++counts[what]; }
};

class ModelRun {
 public:
  explicit ModelRun(std::uint64_t seed, Coverage& coverage)
      : random_(seed),
        options_(random_options(random_)),
        machine_(options_.config),
        server_(options_.start + random_.between(0, 2 * kSeg)),
        archive_(server_, storage_, options_.start),
        promotions_left_(options_.promotions),
        steps_(static_cast<int>(random_.between(200, 400))),
        wal_limit_(options_.start + 48 * kSeg),
        coverage_(coverage) {}

  // Throws Violation.
  void run() {
    trace_.push_back("options: " + options_.describe());
    machine_.start();
    execute_actions();
    for (int n = 0; n < steps_ && !done_; ++n) step(true);
    if (done_) return check_claims();
    if (options_.crash_at_end) {
      // Everything that is not durable is lost; every claim must survive.
      trace_.push_back("## crash");
      coverage_.count("runs ended by a crash");
      return check_claims();
    }
    if (!stop_requested_) {
      stop_requested_ = true;
      deliver(stream_event::StopRequested{});
    }
    for (int n = 0; n < 2000 && !done_; ++n) step(false);
    if (!done_) {
      violation(std::string("no Finish after StopRequested; the machine is ") +
                to_string(machine_.state()));
    }
    check_claims();
  }

  std::string trace() const {
    std::string text;
    for (const std::string& line : trace_) text += line + "\n";
    return text;
  }

 private:
  // The replication connection, as the server sees it.
  enum class Exchange {
    kNone,  // no connection
    kConnecting,
    kIdle,
    kFetchingHistory,
    kStarting,
    kCopy,
    kReadingStreamEnd,
  };
  struct Connection {
    Exchange exchange = Exchange::kNone;
    TimelineId history_timeline = 0;
    StreamPosition start_from;
    TimelineId copy_timeline = 0;
    std::uint64_t sent = 0;
    bool server_done = false;  // the server sent CopyDone
    bool client_done = false;  // the machine sent CopyDone
    bool shutdown = false;     // the server ends streaming without a next timeline
  };

  enum class Move {
    kGenerate,
    kBurst,
    kServerEndsCopy,
    kAnswer,
    kLoseConnection,
    kCompleteSync,
    kTimePasses,
    kSpuriousTimer,
    kPromote,
    kShutdown,
    kStopRequested,
    kStopAt,
  };

  // --- moves ------------------------------------------------------------------

  // `chaos`: losses, promotions, stops may happen; off while the run is being
  // brought to its end.
  void step(bool chaos) {
    const bool copying = conn_.exchange == Exchange::kCopy && !conn_.server_done;
    const bool answer_due = conn_.exchange != Exchange::kNone &&
                            conn_.exchange != Exchange::kIdle && conn_.exchange != Exchange::kCopy;
    std::vector<std::pair<Move, unsigned>> moves;
    auto offer = [&moves](Move move, unsigned weight, bool possible) {
      if (possible && weight > 0) moves.emplace_back(move, weight);
    };
    offer(Move::kGenerate, 200, server_.end(server_.current()) < wal_limit_);
    offer(Move::kBurst, conn_.client_done ? 100 : 600, copying);
    offer(Move::kServerEndsCopy, 300, copying && conn_.client_done);
    offer(Move::kAnswer, 500, answer_due);
    offer(Move::kLoseConnection, options_.loss_weight, chaos && conn_.exchange != Exchange::kNone);
    offer(Move::kCompleteSync, 300, storage_.has_pending());
    offer(Move::kTimePasses, 200, true);
    offer(Move::kSpuriousTimer, 20, !reconnect_at_);
    offer(Move::kPromote, 15, chaos && promotions_left_ > 0);
    offer(Move::kShutdown, 4,
          chaos && copying && conn_.copy_timeline == server_.current() && !conn_.client_done);
    offer(Move::kStopRequested, 3, chaos && options_.stop_request && !stop_requested_);
    offer(Move::kStopAt, 8, chaos && options_.clone && !stop_at_);

    unsigned total = 0;
    for (const auto& [move, weight] : moves) total += weight;
    std::uint64_t pick = random_.below(total);
    Move chosen = moves.front().first;
    for (const auto& [move, weight] : moves) {
      if (pick < weight) {
        chosen = move;
        break;
      }
      pick -= weight;
    }
    perform(chosen);
  }

  void perform(Move move) {
    switch (move) {
      case Move::kGenerate: {
        const std::uint64_t bytes = random_.between(1, 150);
        server_.generate(bytes);
        note("server: timeline " + std::to_string(server_.current()) + " grows to " +
             lsn_text(server_.end(server_.current())));
        return;
      }
      case Move::kBurst:
        return burst();
      case Move::kServerEndsCopy:
        // The server answers our CopyDone with its own.
        conn_.server_done = true;
        return deliver(stream_event::ServerEndedCopy{});
      case Move::kAnswer:
        return answer();
      case Move::kLoseConnection:
        return lose_connection();
      case Move::kCompleteSync:
        return deliver(stream_event::SyncCompleted{storage_.complete_next()});
      case Move::kTimePasses:
        return time_passes();
      case Move::kSpuriousTimer:
        return deliver(stream_event::TimerFired{now_});
      case Move::kPromote:
        return promote();
      case Move::kShutdown:
        note("server: shutting down");
        conn_.shutdown = true;
        conn_.server_done = true;
        deliver(stream_event::ServerEndedCopy{});
        if (!done_) deliver(stream_event::Drained{now_});
        return;
      case Move::kStopRequested:
        stop_requested_ = true;
        return deliver(stream_event::StopRequested{});
      case Move::kStopAt: {
        // The backup ended on the server's timeline, at WAL it has flushed.
        const TimelineId t = server_.current();
        const std::uint64_t lo = std::max(options_.start, server_.begin(t));
        stop_at_ = StreamPosition{t, Lsn{random_.between(lo, std::max(lo, server_.end(t)))}};
        return deliver(stream_event::StopAt{*stop_at_});
      }
    }
  }

  // What the server can send on the COPY's timeline: all it has on the current
  // one, up to the switch point on a historic one.
  std::uint64_t copy_limit() const {
    const auto switch_point = server_.switch_point(conn_.copy_timeline);
    return switch_point ? *switch_point : server_.end(conn_.copy_timeline);
  }

  // A few messages, then the socket is drained. A historic timeline's COPY
  // ends once its switch point is sent (or was sent beyond).
  void burst() {
    const std::uint64_t messages = random_.between(1, 4);
    for (std::uint64_t m = 0; m < messages; ++m) {
      if (random_.chance(0.15)) {
        deliver(stream_event::Keepalive{random_.chance(0.5)});
      } else {
        const std::uint64_t limit = copy_limit();
        if (conn_.sent >= limit) break;
        const std::uint64_t size = std::min(random_.between(1, kMaxMessage), limit - conn_.sent);
        payload_.resize(size);
        for (std::uint64_t i = 0; i < size; ++i) {
          payload_[i] = server_.byte_at(conn_.copy_timeline, conn_.sent + i);
        }
        const std::uint64_t at = conn_.sent;
        conn_.sent += size;
        deliver(stream_event::WalData{Lsn{at}, ByteView(payload_)});
      }
      if (done_ || conn_.exchange != Exchange::kCopy) return;
    }
    const auto switch_point = server_.switch_point(conn_.copy_timeline);
    bool ended = false;
    if (switch_point && conn_.sent >= *switch_point) {
      ended = true;
      conn_.server_done = true;
      deliver(stream_event::ServerEndedCopy{});
      if (done_) return;
    }
    if (!ended || random_.chance(0.5)) deliver(stream_event::Drained{now_});
  }

  // The server answers the pending command, as PostgreSQL's walsender does.
  void answer() {
    switch (conn_.exchange) {
      case Exchange::kConnecting: {
        conn_.exchange = Exchange::kIdle;
        stream_event::Connected connected{server_.current(), std::nullopt};
        if (!machine_.position()) {
          connected.start = StreamStart{StreamPosition{1, Lsn{options_.start}}, kSeg, {}};
        }
        return deliver(connected);
      }
      case Exchange::kFetchingHistory: {
        const TimelineId t = conn_.history_timeline;
        if (t > server_.current()) {
          violation("TIMELINE_HISTORY " + std::to_string(t) + " on a server on timeline " +
                    std::to_string(server_.current()) + " (a non-retryable server error)");
        }
        storage_.store_history(t);
        conn_.exchange = Exchange::kIdle;
        return deliver(stream_event::HistoryStored{t});
      }
      case Exchange::kStarting:
        return answer_start();
      case Exchange::kReadingStreamEnd: {
        conn_.exchange = Exchange::kIdle;
        const TimelineId t = conn_.copy_timeline;
        const auto switch_point = server_.switch_point(t);
        if (switch_point && !conn_.shutdown) {
          coverage_.count("timeline ends after a COPY");
          if (conn_.sent > *switch_point) coverage_.count("timeline ends inside a record");
          if (*switch_point % kSeg == 0) coverage_.count("timeline ends at a segment boundary");
          return deliver(stream_event::TimelineEnded{t + 1, Lsn{*switch_point}});
        }
        return deliver(stream_event::StreamingEnded{});
      }
      default:
        return;
    }
  }

  // START_REPLICATION: COPY from exactly the requested LSN; on a historic
  // timeline, no COPY at its exact end and an error beyond it (invariant 5).
  void answer_start() {
    const StreamPosition from = conn_.start_from;
    const TimelineId t = from.timeline;
    const std::string command = "START_REPLICATION " + to_string(from);
    if (t > server_.current()) {
      violation(command + ": timeline not in the history of the server (on timeline " +
                std::to_string(server_.current()) + "), a non-retryable server error");
    }
    const auto switch_point = server_.switch_point(t);
    if (!switch_point && from.lsn.value > server_.end(t)) {
      violation(command + ": ahead of the server's flush position " + lsn_text(server_.end(t)) +
                ", a non-retryable server error");
    }
    if (switch_point && from.lsn.value > *switch_point) {
      violation(command + ": not in the server's history, timeline " + std::to_string(t) +
                " ended at " + lsn_text(*switch_point) + " (a non-retryable server error)");
    }
    if (switch_point && from.lsn.value == *switch_point) {
      coverage_.count("timeline ends without a COPY");
      conn_.exchange = Exchange::kIdle;
      return deliver(stream_event::TimelineEnded{t + 1, Lsn{*switch_point}});
    }
    conn_ = Connection{};
    conn_.exchange = Exchange::kCopy;
    conn_.copy_timeline = t;
    conn_.sent = from.lsn.value;
    deliver(stream_event::CopyStarted{now_});
  }

  void lose_connection() {
    const std::uint64_t kind = random_.below(100);
    Error error = kind < 90   ? Error(ErrorKind::kConnection, "connection lost")
                  : kind < 99 ? Error(ErrorKind::kServer,
                                      "terminating connection due to "
                                      "administrator command")
                                    .with_sqlstate("57P01")
                              : Error(ErrorKind::kServer,
                                      "requested WAL segment has already "
                                      "been removed")
                                    .with_sqlstate("58P01");
    // Without reconnects, or for an error not worth retrying, failing is right.
    if (!options_.config.reconnect || !is_retryable(error)) expected_fails_.insert(error.what());
    coverage_.count("connection lost during " + exchange_name() +
                    (server_.current() > 1 ? " after a promotion" : ""));
    conn_ = Connection{};
    deliver(stream_event::ConnectionLost{error});
  }

  void time_passes() {
    now_ += std::chrono::milliseconds(random_.between(1, 400));
    if (reconnect_at_) {
      if (now_ < *reconnect_at_) return;
      reconnect_at_.reset();
      return deliver(stream_event::TimerFired{now_});
    }
    const auto deadline = machine_.next_deadline();
    if (deadline && *deadline <= now_) deliver(stream_event::TimerFired{now_});
  }

  // The current timeline ends at S and the next begins there. S is at most
  // what the timeline had, and at least the start of its last segment: the
  // machine restarts a lost stream at the start of the segment it was in, and
  // a start beyond S is refused by PostgreSQL as it is for pg_receivewal. A
  // clone's stop position was flushed before, so S does not precede it.
  void promote() {
    const TimelineId t = server_.current();
    const std::uint64_t end = server_.end(t);
    std::uint64_t lo = std::max(end - end % kSeg, server_.begin(t));
    if (stop_at_ && stop_at_->timeline == t) lo = std::max(lo, stop_at_->lsn.value);
    std::uint64_t switch_point = end;
    switch (random_.below(3)) {
      case 0:
        break;
      case 1:
        if (end % kSeg != 0 && end - end % kSeg >= lo) switch_point = end - end % kSeg;
        break;
      default:
        switch_point = random_.between(lo, end);
    }
    server_.promote(switch_point, random_.between(0, 60));
    --promotions_left_;
    note("server: promoted, timeline " + std::to_string(t) + " (up to " + lsn_text(end) +
         ") ends at " + lsn_text(switch_point) + ", timeline " + std::to_string(t + 1) + " begins");
  }

  // --- events and actions -------------------------------------------------------

  void note(std::string text) { trace_.push_back("   ## " + std::move(text)); }

  void deliver(const StreamEvent& event) {
    trace_.push_back(">> " + describe(event));
    machine_.on(event);
    execute_actions();
  }

  void execute_actions() {
    bool after_status = false;
    bool status_claims_all = false;
    while (machine_.has_action()) {
      const StreamAction action = machine_.next_action();
      trace_.push_back("      << " + describe(action));
      if (done_) violation("an action after Finish/Fail");
      // (6) The status that ends a COPY or a run claims everything written.
      const bool ending = std::holds_alternative<stream_action::SendCopyDone>(action) ||
                          std::holds_alternative<stream_action::Finish>(action);
      if (after_status && ending && options_.config.report_flush && !status_claims_all) {
        violation("the final status does not claim everything written");
      }
      execute(action);
      const auto* status = std::get_if<stream_action::SendStatus>(&action);
      after_status = status != nullptr;
      status_claims_all = status && status->flush == status->write;
    }
  }

  std::string exchange_name() const {
    switch (conn_.exchange) {
      case Exchange::kNone:
        return "no connection";
      case Exchange::kConnecting:
        return "connecting";
      case Exchange::kIdle:
        return "idle";
      case Exchange::kFetchingHistory:
        return "history fetch";
      case Exchange::kStarting:
        return "start";
      case Exchange::kCopy:
        return "COPY";
      case Exchange::kReadingStreamEnd:
        return "stream end";
    }
    return "?";
  }

  void require_exchange(bool ok, const char* action) {
    if (!ok) violation(std::string(action) + " while the connection is at " + exchange_name());
  }

  void execute(const StreamAction& action) {
    if (std::holds_alternative<stream_action::Connect>(action)) {
      require_exchange(conn_.exchange == Exchange::kNone && !reconnect_at_, "Connect");
      conn_.exchange = Exchange::kConnecting;
    } else if (const auto* fetch = std::get_if<stream_action::FetchTimelineHistory>(&action)) {
      require_exchange(conn_.exchange == Exchange::kIdle, "FetchTimelineHistory");
      conn_.exchange = Exchange::kFetchingHistory;
      conn_.history_timeline = fetch->timeline;
    } else if (const auto* start = std::get_if<stream_action::StartStreaming>(&action)) {
      require_exchange(conn_.exchange == Exchange::kIdle, "StartStreaming");
      conn_.exchange = Exchange::kStarting;
      conn_.start_from = start->from;
    } else if (const auto* write = std::get_if<stream_action::WriteWal>(&action)) {
      const auto& endpos = options_.config.endpos;
      if (endpos && write->start.lsn.value + write->bytes.size() > endpos->value) {
        violation("WriteWal beyond endpos " + protocol::to_string(*endpos));
      }
      storage_.write(write->start, write->bytes);
    } else if (const auto* sync = std::get_if<stream_action::RequestSync>(&action)) {
      if (options_.config.durability != Durability::kBatched) {
        violation("RequestSync with deferred durability");
      }
      if (auto problem =
              archive_.problem(Contents::kWritten, sync->upto.timeline, sync->upto.lsn.value)) {
        violation("RequestSync up to what is not written: " + *problem);
      }
      storage_.request_sync(sync->upto);
    } else if (std::holds_alternative<stream_action::CloseSegment>(action)) {
      storage_.close_segment();
    } else if (const auto* status = std::get_if<stream_action::SendStatus>(&action)) {
      require_exchange(conn_.exchange == Exchange::kCopy && !conn_.client_done, "SendStatus");
      check_status(*status);
    } else if (std::holds_alternative<stream_action::SendCopyDone>(action)) {
      require_exchange(conn_.exchange == Exchange::kCopy && !conn_.client_done, "SendCopyDone");
      conn_.client_done = true;
    } else if (std::holds_alternative<stream_action::ReadStreamEnd>(action)) {
      require_exchange(conn_.exchange == Exchange::kCopy && conn_.server_done && conn_.client_done,
                       "ReadStreamEnd");
      conn_.exchange = Exchange::kReadingStreamEnd;
    } else if (const auto* reconnect = std::get_if<stream_action::ReconnectAfter>(&action)) {
      if (!options_.config.reconnect) violation("ReconnectAfter with reconnects off");
      coverage_.count("reconnects");
      conn_ = Connection{};
      reconnect_at_ = now_ + reconnect->delay;
    } else if (const auto* finish = std::get_if<stream_action::Finish>(&action)) {
      done_ = true;
      storage_.finish();
      check_finish(finish->reason);
    } else if (const auto* fail = std::get_if<stream_action::Fail>(&action)) {
      done_ = true;
      storage_.finish();
      if (!expected_fails_.contains(fail->error.what()) &&
          !(!options_.config.reconnect &&
            std::string(fail->error.what()).starts_with("the server ended the WAL stream"))) {
        violation("Fail without an injected reason: " + std::string(fail->error.what()));
      }
      coverage_.count("expected Fail");
      check_archive_reaches_position();
    }
  }

  // --- invariants ---------------------------------------------------------------

  // (1) and (2): flush <= write; the flush is durable along the COPY's
  // timeline, the write is written.
  void check_status(const stream_action::SendStatus& status) {
    const TimelineId t = conn_.copy_timeline;
    if (status.flush > status.write) violation("SendStatus flush beyond write");
    const bool may_claim =
        options_.config.report_flush && options_.config.durability == Durability::kBatched;
    if (!may_claim && status.flush.valid()) {
      violation("SendStatus claims a flush position without report_flush");
    }
    if (auto problem = archive_.problem(Contents::kWritten, t, status.write.value)) {
      violation("SendStatus write " + protocol::to_string(status.write) + " on timeline " +
                std::to_string(t) + " is not written: " + *problem);
    }
    if (!status.flush.valid()) return;
    if (auto problem = archive_.problem(Contents::kDurable, t, status.flush.value)) {
      violation("SendStatus flush " + protocol::to_string(status.flush) + " on timeline " +
                std::to_string(t) + " is not durable: " + *problem);
    }
    coverage_.count(t > 1 ? "flushes checked after a switch" : "flushes checked");
    std::uint64_t& claim = claims_[t];
    claim = std::max(claim, status.flush.value);
  }

  // (3) and (4) at Finish.
  void check_finish(StreamEndReason reason) {
    const auto position = machine_.position();
    coverage_.count(describe(StreamAction{stream_action::Finish{reason}}) +
                    (position && position->timeline > 1 ? " after a switch" : ""));
    switch (reason) {
      case StreamEndReason::kEndpos: {
        const auto& endpos = options_.config.endpos;
        if (!endpos || !position || position->lsn != *endpos) {
          violation("Finish endpos, not at endpos");
        }
        if (auto problem =
                archive_.problem(Contents::kDurable, readable_timeline(*position), endpos->value)) {
          violation("Finish endpos with a gap before it: " + *problem);
        }
        break;
      }
      case StreamEndReason::kStopPosition: {
        const bool reached =
            stop_at_ && position &&
            (position->timeline > stop_at_->timeline ||
             (position->timeline == stop_at_->timeline && position->lsn >= stop_at_->lsn));
        if (!reached) violation("Finish stop position, not reached");
        if (auto problem =
                archive_.problem(Contents::kWritten, stop_at_->timeline, stop_at_->lsn.value)) {
          violation("Finish stop position short of it: " + *problem);
        }
        break;
      }
      case StreamEndReason::kStopRequested:
        if (!stop_requested_) violation("Finish stop requested, without a stop request");
        break;
    }
    check_archive_reaches_position();
  }

  // A stream that ended right after a switch, before the next timeline's
  // history was stored, wrote nothing on it: its position (the start of the
  // switch segment) is read along the timeline it left, identical up to there.
  TimelineId readable_timeline(StreamPosition position) const {
    TimelineId t = position.timeline;
    while (t > 1 && !storage_.has_history(t)) {
      if (position.lsn.value > server_.begin(t)) {
        violation("the stream is at " + to_string(position) + " without the history file");
      }
      --t;
    }
    return t;
  }

  // After Finish or Fail everything written is durable: no gap up to where the
  // machine says the stream is.
  void check_archive_reaches_position() {
    const auto position = machine_.position();
    if (!position) return;
    if (auto problem = archive_.problem(Contents::kDurable, readable_timeline(*position),
                                        position->lsn.value)) {
      violation("the archive does not reach the final position " + to_string(*position) + ": " +
                *problem);
    }
  }

  // Every flush ever reported is still durable (after a crash: what survived).
  void check_claims() {
    for (const auto& [t, flush] : claims_) {
      if (auto problem = archive_.problem(Contents::kDurable, t, flush)) {
        violation("the flush " + lsn_text(flush) + " reported on timeline " + std::to_string(t) +
                  " is no longer durable: " + *problem);
      }
    }
  }

  Random random_;
  RunOptions options_;
  WalStreamMachine machine_;
  SimServer server_;
  SimStorage storage_;
  ArchiveReader archive_;
  unsigned promotions_left_;
  int steps_;
  std::uint64_t wal_limit_;
  Coverage& coverage_;

  Connection conn_;
  StreamTime now_{};
  std::optional<StreamTime> reconnect_at_;
  std::vector<std::byte> payload_;
  bool done_ = false;
  bool stop_requested_ = false;
  std::optional<StreamPosition> stop_at_;
  std::set<std::string> expected_fails_;
  std::map<TimelineId, std::uint64_t> claims_;
  std::vector<std::string> trace_;
};

TEST(WalStreamMachineModelTest, RandomRunsReportOnlyDurableWalAndLeaveNoGap) {
  Coverage coverage;
  int failures = 0;
  for (std::uint64_t seed = 1; seed <= kSeeds && failures < 3; ++seed) {
    ModelRun run(seed, coverage);
    try {
      run.run();
    } catch (const Violation& v) {
      ++failures;
      ADD_FAILURE() << "seed " << seed << ": " << v.what() << "\n" << run.trace();
    }
  }
  if (failures > 0) return;
  for (const auto& [what, count] : coverage.counts) {
    std::printf("%8llu  %s\n", static_cast<unsigned long long>(count), what.c_str());
  }
  // Each about a third of what the seeds reach today.
  const std::pair<const char*, std::uint64_t> kAtLeast[] = {
      {"timeline ends inside a record", 100},
      {"timeline ends at a segment boundary", 100},
      {"timeline ends without a COPY", 25},
      {"connection lost during history fetch after a promotion", 20},
      {"connection lost during start after a promotion", 50},
      {"connection lost during stream end after a promotion", 20},
      {"connection lost during COPY after a promotion", 500},
      {"flushes checked after a switch", 3000},
      {"Finish endpos after a switch", 50},
      {"Finish stop position after a switch", 25},
      {"Finish stop requested after a switch", 100},
      {"runs ended by a crash", 30},
  };
  for (const auto& [what, least] : kAtLeast) {
    EXPECT_GE(coverage.counts[what], least) << what;
  }
}

// --- regression scripts -------------------------------------------------------

using Script = test_support::StreamScript;
using test_support::Actions;

const std::array<std::byte, 2 * kSeg> kZeros{};
stream_event::WalData wal(std::uint64_t start, std::size_t size) {
  return stream_event::WalData{Lsn{start}, ByteView(kZeros).first(size)};
}
stream_event::SyncCompleted synced(TimelineId timeline, std::uint64_t lsn) {
  return stream_event::SyncCompleted{StreamPosition{timeline, Lsn{lsn}}};
}
StreamTime at(std::chrono::milliseconds ms) { return StreamTime{} + ms; }

WalStreamConfig synchronous_receive() {
  WalStreamConfig config;

  config.durability = Durability::kBatched;
  config.report_flush = true;
  config.synchronous = true;
  config.status_interval = 10'000ms;
  config.reconnect = true;
  return config;
}

// Timeline 1 is written over [0/100, 0/1C0) and synced; timeline 2 forks at
// 0/1A0 and rewrites segment 1 under its own name up to 0/1A0, not yet synced.
// Recovery along timeline 2 reads segment 1 from timeline 2's file (its fork
// point lies in that segment), so timeline 1's durable copy of [0/100, 0/1A0)
// does not make timeline 2's WAL there durable: no status may claim more than
// 0/100 until timeline 2's own sync completes, whatever prompts the status.
TEST(WalStreamMachineModelRegressionTest,
     SwitchSegmentBytesDurableOnlyInTheOldTimelinesFileAreNotReportedAsFlushed) {
  struct Case {
    const char* name;
    bool old_sync_before_copy;  // timeline 1's sync completes before timeline 2 streams
    std::vector<StreamEvent> prompt;
  };
  const Case kCases[] = {
      {"the late sync of timeline 1", false, {synced(1, 0x1C0)}},
      {"the status interval", true, {stream_event::TimerFired{at(20s)}}},
      {"a keepalive asking for a reply",
       true,
       {stream_event::Keepalive{true}, stream_event::Drained{at(3ms)}}},
  };
  for (const Case& c : kCases) {
    SCOPED_TRACE(c.name);
    Script script(synchronous_receive());
    script.start();
    script.feed(stream_event::Connected{1, StreamStart{StreamPosition{1, Lsn{0x100}}, kSeg, {}}});
    script.feed(stream_event::CopyStarted{at(0ms)});
    script.feed(wal(0x100, 0xC0));
    EXPECT_EQ(script.feed(stream_event::Drained{at(1ms)}),
              Actions{"RequestSync 0/1C0 on timeline 1"});
    script.feed(stream_event::ServerEndedCopy{});
    EXPECT_EQ(script.feed(stream_event::TimelineEnded{2, Lsn{0x1A0}}),
              (Actions{"CloseSegment", "FetchTimelineHistory 2"}));
    EXPECT_EQ(script.feed(stream_event::HistoryStored{2}),
              Actions{"StartStreaming 0/100 on timeline 2"});
    if (c.old_sync_before_copy) script.feed(synced(1, 0x1C0));
    EXPECT_EQ(script.feed(stream_event::CopyStarted{at(2ms)}),
              Actions{"SendStatus write 0/100 flush 0/100"});
    EXPECT_EQ(script.feed(wal(0x100, 0xA0)), Actions{"WriteWal 0/100 on timeline 2 +160"});
    for (const StreamEvent& event : c.prompt) {
      const std::size_t before = script.flushes().size();
      const Actions actions = script.feed(event);
      for (std::size_t i = before; i < script.flushes().size(); ++i) {
        EXPECT_LE(script.flushes()[i].value, 0x100u)
            << "flush " << protocol::to_string(script.flushes()[i])
            << " claimed: " << describe(event) << " -> " << ::testing::PrintToString(actions);
      }
    }
    EXPECT_EQ(protocol::to_string(script.machine().reportable_flush()), "0/100");
    // Once timeline 2's copy of the segment is durable, all of it counts.
    script.feed(stream_event::Drained{at(4ms)});
    script.feed(synced(2, 0x1A0));
    EXPECT_EQ(protocol::to_string(script.machine().reportable_flush()), "0/1A0");
  }
}

// Timeline 1 was received 0x40 bytes beyond a switch point that is a segment
// start (0/200); the connection breaks before the end of the timeline is
// read. The stream resumes at the start of its segment on timeline 1, exactly
// the switch point, which the server answers without a COPY; timeline 2 is
// then streamed from 0/200, and timeline 1's bytes beyond 0/200 are never
// reported as flushed on it.
TEST(WalStreamMachineModelRegressionTest,
     AResumeExactlyAtTheSwitchPointFollowsWithoutReportingTheOldTimelinesTail) {
  Script script(synchronous_receive());
  script.start();
  script.feed(stream_event::Connected{1, StreamStart{StreamPosition{1, Lsn{0x100}}, kSeg, {}}});
  script.feed(stream_event::CopyStarted{at(0ms)});
  script.feed(wal(0x100, 0x100));  // segment 1 full: completed by the storage
  script.feed(wal(0x200, 0x40));
  EXPECT_EQ(script.feed(stream_event::Drained{at(1ms)}),
            Actions{"RequestSync 0/240 on timeline 1"});
  EXPECT_EQ(script.feed(synced(1, 0x200)), Actions{"SendStatus write 0/240 flush 0/200"});
  EXPECT_EQ(script.feed(synced(1, 0x240)), Actions{"SendStatus write 0/240 flush 0/240"});
  EXPECT_EQ(script.feed(stream_event::ConnectionLost{Error(ErrorKind::kConnection, "lost")}),
            (Actions{"CloseSegment", "ReconnectAfter 1000ms"}));
  EXPECT_EQ(script.feed(stream_event::TimerFired{at(2s)}), Actions{"Connect"});
  EXPECT_EQ(script.feed(stream_event::Connected{2, std::nullopt}),
            Actions{"StartStreaming 0/200 on timeline 1"});
  EXPECT_EQ(script.feed(stream_event::TimelineEnded{2, Lsn{0x200}}),
            Actions{"FetchTimelineHistory 2"});
  EXPECT_EQ(script.feed(stream_event::HistoryStored{2}),
            Actions{"StartStreaming 0/200 on timeline 2"});
  EXPECT_EQ(script.feed(stream_event::CopyStarted{at(3s)}),
            Actions{"SendStatus write 0/200 flush 0/200"});
  EXPECT_EQ(script.feed(wal(0x200, 0x60)), Actions{"WriteWal 0/200 on timeline 2 +96"});
  EXPECT_EQ(script.feed(stream_event::Drained{at(3s)}), Actions{"RequestSync 0/260 on timeline 2"});
  EXPECT_EQ(script.machine().reportable_flush(), Lsn{0x200}) << "not timeline 1's 0/240";
  EXPECT_EQ(script.feed(synced(2, 0x260)), Actions{"SendStatus write 0/260 flush 0/260"});
}

}  // namespace
}  // namespace walstream::walreceiver
