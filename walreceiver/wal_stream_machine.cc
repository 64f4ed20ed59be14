#include "walreceiver/wal_stream_machine.h"

#include <algorithm>
#include <tuple>
#include <utility>

namespace walstream::walreceiver {

namespace {

using protocol::Lsn;
using protocol::StreamPosition;
using protocol::TimelineId;

Error internal_error(std::string message) {
  return Error(ErrorKind::kInternal, std::move(message));
}

}  // namespace

bool is_retryable(const Error& error) {
  if (error.kind() == ErrorKind::kConnection) return true;
  if (error.kind() != ErrorKind::kServer) return false;
  const std::string& state = error.sqlstate();
  return state.starts_with("08") || state.starts_with("53") || state.starts_with("57");
}

const char* to_string(WalStreamMachine::State state) {
  using State = WalStreamMachine::State;
  switch (state) {
    case State::kConnecting:
      return "connecting";
    case State::kFetchingHistory:
      return "fetching timeline history";
    case State::kStarting:
      return "starting replication";
    case State::kStreaming:
      return "streaming";
    case State::kDraining:
      return "making WAL durable before ending";
    case State::kEndingCopy:
      return "ending the stream";
    case State::kReadingStreamEnd:
      return "reading the end of the stream";
    case State::kWaitingToReconnect:
      return "waiting to reconnect";
    case State::kDone:
      return "done";
  }
  return "?";
}

namespace {

std::string describe_reason(StreamEndReason reason) {
  switch (reason) {
    case StreamEndReason::kEndpos:
      return "endpos";
    case StreamEndReason::kStopPosition:
      return "stop position";
    case StreamEndReason::kStopRequested:
      return "stop requested";
  }
  return "?";
}

struct EventDescriber {
  std::string operator()(const stream_event::Connected& e) const {
    std::string text = "Connected server timeline " + std::to_string(e.server_timeline);
    if (e.start) text += ", start " + protocol::to_string(e.start->position);
    return text;
  }
  std::string operator()(const stream_event::HistoryStored& e) const {
    return "HistoryStored " + std::to_string(e.timeline);
  }
  std::string operator()(const stream_event::CopyStarted&) const { return "CopyStarted"; }
  std::string operator()(const stream_event::WalData& e) const {
    return "WalData " + protocol::to_string(e.start) + " +" + std::to_string(e.payload.size());
  }
  std::string operator()(const stream_event::Keepalive& e) const {
    return e.reply_requested ? "Keepalive reply requested" : "Keepalive";
  }
  std::string operator()(const stream_event::Drained&) const { return "Drained"; }
  std::string operator()(const stream_event::RemoteConfirmed& e) const {
    return "RemoteConfirmed " + protocol::to_string(e.upto);
  }
  std::string operator()(const stream_event::SpoolFull&) const { return "SpoolFull"; }
  std::string operator()(const stream_event::SpoolHasRoom&) const { return "SpoolHasRoom"; }
  std::string operator()(const stream_event::SyncCompleted& e) const {
    return "SyncCompleted " + protocol::to_string(e.durable);
  }
  std::string operator()(const stream_event::TimerFired&) const { return "TimerFired"; }
  std::string operator()(const stream_event::ServerEndedCopy&) const { return "ServerEndedCopy"; }
  std::string operator()(const stream_event::TimelineEnded& e) const {
    return "TimelineEnded next " + std::to_string(e.next_timeline) + " at " +
           protocol::to_string(e.next_start);
  }
  std::string operator()(const stream_event::StreamingEnded&) const { return "StreamingEnded"; }
  std::string operator()(const stream_event::StopRequested&) const { return "StopRequested"; }
  std::string operator()(const stream_event::StopAt& e) const {
    return "StopAt " + protocol::to_string(e.stop);
  }
  std::string operator()(const stream_event::ConnectionLost& e) const {
    return std::string("ConnectionLost: ") + e.error.what();
  }
};

struct ActionDescriber {
  std::string operator()(const stream_action::Connect&) const { return "Connect"; }
  std::string operator()(const stream_action::FetchTimelineHistory& a) const {
    return "FetchTimelineHistory " + std::to_string(a.timeline);
  }
  std::string operator()(const stream_action::StartStreaming& a) const {
    return "StartStreaming " + protocol::to_string(a.from);
  }
  std::string operator()(const stream_action::WriteWal& a) const {
    return "WriteWal " + protocol::to_string(a.start) + " +" + std::to_string(a.bytes.size());
  }
  std::string operator()(const stream_action::RequestSync& a) const {
    return "RequestSync " + protocol::to_string(a.upto);
  }
  std::string operator()(const stream_action::CloseSegment&) const { return "CloseSegment"; }
  std::string operator()(const stream_action::SendStatus& a) const {
    return "SendStatus write " + protocol::to_string(a.write) + " flush " +
           protocol::to_string(a.flush);
  }
  std::string operator()(const stream_action::SendCopyDone&) const { return "SendCopyDone"; }
  std::string operator()(const stream_action::ReadStreamEnd&) const { return "ReadStreamEnd"; }
  std::string operator()(const stream_action::ReconnectAfter& a) const {
    return "ReconnectAfter " + std::to_string(a.delay.count()) + "ms";
  }
  std::string operator()(const stream_action::Finish& a) const {
    return "Finish " + describe_reason(a.reason);
  }
  std::string operator()(const stream_action::Fail& a) const {
    return std::string("Fail: ") + a.error.what();
  }
};

}  // namespace

std::string describe(const StreamEvent& event) { return std::visit(EventDescriber{}, event); }
std::string describe(const StreamAction& action) { return std::visit(ActionDescriber{}, action); }

WalStreamMachine::WalStreamMachine(WalStreamConfig config)
    : config_(std::move(config)), reconnect_delay_(config_.first_reconnect_delay) {
  if (config_.start) adopt(*config_.start);
}

void WalStreamMachine::adopt(const StreamStart& start) {
  position_ = start.position;
  segment_size_ = start.segment_size;
  histories_ = start.histories;
  // Everything before the start is already in place (or not wanted).
  durable_ = start.position;
  awaited_ = durable_;
}

void WalStreamMachine::start() {
  if (started_) return;
  started_ = true;
  state_ = State::kConnecting;
  actions_.emplace_back(stream_action::Connect{});
}

StreamAction WalStreamMachine::next_action() {
  StreamAction action = std::move(actions_.front());
  actions_.pop_front();
  return action;
}

void WalStreamMachine::on(const StreamEvent& event) {
  std::visit([this](const auto& e) { on_event(e); }, event);
}

// --- positions and durability -----------------------------------------------

bool WalStreamMachine::all_durable() const {
  if (!syncing()) return true;
  if (unsynced_bytes_ > 0) return false;
  // Every byte written is covered by a sync asked for (or a segment the
  // storage completes on its own); has the last one been reported?
  if (durable_.timeline != awaited_.timeline) return durable_.timeline > awaited_.timeline;
  return durable_.lsn >= awaited_.lsn;
}

Lsn WalStreamMachine::reportable_flush() const {
  if (!config_.report_flush || !syncing() || !position_) return Lsn{};
  // With remote acknowledgement, what is safe is what is both durable here
  // and confirmed remotely (the older of the two in stream order).
  StreamPosition safe = durable_;
  if (config_.remote_ack) {
    if (!remote_) return Lsn{};
    if (std::tie(remote_->timeline, remote_->lsn) < std::tie(safe.timeline, safe.lsn)) {
      safe = *remote_;
    }
  }
  if (safe.timeline > position_->timeline) return Lsn{};
  // Seen from the current timeline, WAL durable on an earlier one counts only
  // up to the start of the segment where that timeline was left: recovery
  // reads the switch segment from the next timeline's own file.
  Lsn flush = safe.lsn;
  for (auto it = timeline_ends_.lower_bound(safe.timeline);
       it != timeline_ends_.end() && it->first < position_->timeline; ++it) {
    flush = std::min(flush, protocol::segment_start(it->second, segment_size_));
  }
  // Never more than this stream has written on its timeline.
  return std::min(flush, position_->lsn);
}

bool WalStreamMachine::reached_endpos() const {
  return config_.endpos && position_ && position_->lsn >= *config_.endpos;
}

bool WalStreamMachine::reached_stop_position() const {
  if (!stop_at_ || !position_) return false;
  if (position_->timeline != stop_at_->timeline) return position_->timeline > stop_at_->timeline;
  return position_->lsn >= stop_at_->lsn;
}

std::optional<StreamTime> WalStreamMachine::next_deadline() const {
  if (state_ != State::kStreaming && state_ != State::kDraining) return std::nullopt;
  std::optional<StreamTime> deadline;
  auto consider = [&deadline](StreamTime t) {
    if (!deadline || t < *deadline) deadline = t;
  };
  if (syncing() && unsynced_since_ && state_ == State::kStreaming) {
    consider(*unsynced_since_ + config_.batch_window);
  }
  if (config_.status_interval.count() > 0 && last_status_) {
    consider(*last_status_ + config_.status_interval);
  }
  return deadline;
}

void WalStreamMachine::request_sync() {
  actions_.emplace_back(stream_action::RequestSync{*position_});
  awaited_ = *position_;
  unsynced_bytes_ = 0;
  unsynced_since_.reset();
}

void WalStreamMachine::maybe_sync(StreamTime now, bool urgent) {
  if (!syncing() || unsynced_bytes_ == 0) return;
  const bool window_over = unsynced_since_ && now - *unsynced_since_ >= config_.batch_window;
  if (urgent || config_.synchronous || unsynced_bytes_ >= config_.batch_bytes || window_over) {
    request_sync();
  } else if (!unsynced_since_) {
    unsynced_since_ = now;
  }
}

void WalStreamMachine::send_status(std::optional<StreamTime> now) {
  const Lsn flush = reportable_flush();
  actions_.emplace_back(stream_action::SendStatus{position_->lsn, flush});
  last_reported_flush_ = flush;
  if (now) last_status_ = now;
}

// --- starting a stream ------------------------------------------------------

void WalStreamMachine::begin_stream() {
  // Checked before every START_REPLICATION, as receivelog does: a stream may
  // be over before it starts (endpos at the start, a stop between streams).
  if (stop_requested_) return finish(Ending::kStopRequested);
  if (reached_endpos()) return finish(Ending::kEndpos);
  if (reached_stop_position()) return finish(Ending::kStopPosition);
  const TimelineId timeline = position_->timeline;
  // Every timeline after the first has a history file; the target gets it
  // before any of that timeline's WAL (pg_receivewal does so at every start).
  if (timeline > 1 && !histories_.contains(timeline)) {
    state_ = State::kFetchingHistory;
    actions_.emplace_back(stream_action::FetchTimelineHistory{timeline});
    return;
  }
  state_ = State::kStarting;
  actions_.emplace_back(stream_action::StartStreaming{*position_});
}

void WalStreamMachine::on_event(const stream_event::Connected& event) {
  if (state_ != State::kConnecting) return unexpected("Connected");
  if (!position_) {
    if (!event.start || event.start->segment_size == 0) {
      return fail(internal_error("the stream has no start position"));
    }
    adopt(*event.start);
  }
  if (position_->timeline > event.server_timeline) {
    return lose_connection(
        Error(ErrorKind::kConnection,
              "the server is on timeline " + std::to_string(event.server_timeline) +
                  ", the stream continues on timeline " + std::to_string(position_->timeline),
              "point walstream at a server that has followed the same timeline switches"));
  }
  begin_stream();
}

void WalStreamMachine::on_event(const stream_event::HistoryStored& event) {
  if (state_ != State::kFetchingHistory || event.timeline != position_->timeline) {
    return unexpected("HistoryStored");
  }
  histories_.insert(event.timeline);
  begin_stream();
}

void WalStreamMachine::on_event(const stream_event::CopyStarted& event) {
  if (state_ != State::kStarting) return unexpected("CopyStarted");
  state_ = State::kStreaming;
  reconnect_delay_ = config_.first_reconnect_delay;  // connected and streaming again
  reply_due_ = false;
  // Tell the server at once where we are (the slot's position, for one).
  send_status(event.now);
}

// --- streaming --------------------------------------------------------------

void WalStreamMachine::on_event(const stream_event::WalData& event) {
  if (state_ == State::kDraining || state_ == State::kEndingCopy) return;  // ending: not needed
  if (state_ != State::kStreaming) return unexpected("WalData");
  if (reached_endpos()) return;  // the rest of this drain is beyond endpos
  if (event.start != position_->lsn) {
    return fail(ProtocolError("the server sent WAL at " + protocol::to_string(event.start) +
                              " on timeline " + std::to_string(position_->timeline) +
                              ", expected " + protocol::to_string(position_->lsn)));
  }
  ByteView payload = event.payload;
  if (config_.endpos) {
    // Exactly up to endpos: bytes beyond it are not written.
    const std::uint64_t room =
        config_.endpos->value > event.start.value ? config_.endpos->value - event.start.value : 0;
    payload =
        payload.first(static_cast<std::size_t>(std::min<std::uint64_t>(room, payload.size())));
  }
  if (payload.empty()) return;
  actions_.emplace_back(stream_action::WriteWal{*position_, payload});

  const std::uint64_t start = event.start.value;
  const std::uint64_t end = start + payload.size();
  const std::uint64_t last_boundary = end - end % segment_size_;
  // A segment that becomes full is completed (and made durable) by the
  // storage on its own: only the bytes after the last boundary await a sync.
  if (last_boundary > start) {
    awaited_ = StreamPosition{position_->timeline, Lsn{last_boundary}};
    unsynced_bytes_ = end - last_boundary;
    if (unsynced_bytes_ == 0) unsynced_since_.reset();
  } else {
    unsynced_bytes_ += payload.size();
  }
  segment_open_ = end % segment_size_ != 0;
  position_->lsn = Lsn{end};
}

void WalStreamMachine::on_event(const stream_event::Keepalive& event) {
  if (state_ == State::kEndingCopy) return;  // after our CopyDone nothing is answered
  if (state_ != State::kStreaming && state_ != State::kDraining) return unexpected("Keepalive");
  reply_due_ = reply_due_ || event.reply_requested;
}

void WalStreamMachine::on_event(const stream_event::Drained& event) {
  if (state_ == State::kDraining) {
    if (reply_due_) send_status(event.now);
    reply_due_ = false;
    return;
  }
  if (state_ != State::kStreaming) return;  // nothing to decide
  // A server waiting for our reply (at shutdown, for one) wants the flush
  // position to move: sync first when flush is reported.
  maybe_sync(event.now, reply_due_ && config_.report_flush);
  if (reached_endpos()) {
    reply_due_ = false;
    return begin_ending(Ending::kEndpos);
  }
  if (reached_stop_position()) {
    reply_due_ = false;
    return begin_ending(Ending::kStopPosition);
  }
  const bool interval_over = config_.status_interval.count() > 0 && last_status_ &&
                             event.now >= *last_status_ + config_.status_interval;
  if (reply_due_ || interval_over) send_status(event.now);
  reply_due_ = false;
}

void WalStreamMachine::on_event(const stream_event::RemoteConfirmed& event) {
  if (!remote_ ||
      std::tie(remote_->timeline, remote_->lsn) < std::tie(event.upto.timeline, event.upto.lsn)) {
    remote_ = event.upto;
  }
  // Confirmations come at any time; a status goes out only inside a COPY.
  if (state_ == State::kStreaming && config_.report_flush &&
      reportable_flush() != last_reported_flush_) {
    send_status(std::nullopt);
  }
}

// A full spool outlives connections: it is the archive's state, not the
// stream's. Nothing is sent: the status interval keeps the server answered.
void WalStreamMachine::on_event(const stream_event::SpoolFull&) { spool_full_ = true; }

void WalStreamMachine::on_event(const stream_event::SpoolHasRoom&) { spool_full_ = false; }

void WalStreamMachine::on_event(const stream_event::SyncCompleted& event) {
  if (!syncing()) return;
  // Completions arrive in request order; on one timeline a later request may
  // cover less (the stream resumed at a segment start), which does not undo
  // what is durable.
  if (event.durable.timeline == durable_.timeline) {
    durable_.lsn = std::max(durable_.lsn, event.durable.lsn);
  } else if (event.durable.timeline > durable_.timeline) {
    durable_ = event.durable;
  }
  if (state_ == State::kDraining) {
    if (all_durable()) complete_ending();
    return;
  }
  // The status goes out right after the sync that moved the flush position.
  if (state_ == State::kStreaming && config_.report_flush &&
      reportable_flush() != last_reported_flush_) {
    send_status(std::nullopt);
  }
}

void WalStreamMachine::on_event(const stream_event::TimerFired& event) {
  switch (state_) {
    case State::kWaitingToReconnect:
      state_ = State::kConnecting;
      actions_.emplace_back(stream_action::Connect{});
      return;
    case State::kStreaming:
      maybe_sync(event.now, false);
      [[fallthrough]];
    case State::kDraining:
      if (config_.status_interval.count() > 0 && last_status_ &&
          event.now >= *last_status_ + config_.status_interval) {
        send_status(event.now);
      }
      return;
    default:
      return;  // a wake-up with nothing timed
  }
}

// --- ending -----------------------------------------------------------------

void WalStreamMachine::begin_ending(Ending ending) {
  ending_ = ending;
  if (all_durable()) return complete_ending();
  if (unsynced_bytes_ > 0) request_sync();
  state_ = State::kDraining;
}

void WalStreamMachine::complete_ending() {
  // The final status carries the flush position of everything written.
  send_status(std::nullopt);
  if (ending_ == Ending::kStopRequested) return finish(Ending::kStopRequested);
  actions_.emplace_back(stream_action::SendCopyDone{});
  state_ = State::kEndingCopy;
}

void WalStreamMachine::on_event(const stream_event::ServerEndedCopy&) {
  switch (state_) {
    case State::kStreaming:
    case State::kDraining:
      actions_.emplace_back(stream_action::SendCopyDone{});
      [[fallthrough]];
    case State::kEndingCopy:
      actions_.emplace_back(stream_action::ReadStreamEnd{});
      state_ = State::kReadingStreamEnd;
      return;
    default:
      return unexpected("ServerEndedCopy");
  }
}

void WalStreamMachine::on_event(const stream_event::TimelineEnded& event) {
  if (state_ != State::kReadingStreamEnd && state_ != State::kStarting) {
    return unexpected("TimelineEnded");
  }
  if (ending_ != Ending::kNone) return finish(ending_);
  if (reached_endpos()) return end_at_endpos();
  follow_timeline(event);
}

void WalStreamMachine::follow_timeline(const stream_event::TimelineEnded& event) {
  const StreamPosition ended = *position_;
  if (event.next_timeline <= ended.timeline) {
    return fail(ProtocolError("the server reported timeline " +
                              std::to_string(event.next_timeline) + " to follow timeline " +
                              std::to_string(ended.timeline)));
  }
  // The next timeline forks from what we received, at its end at the latest
  // (earlier when the old timeline ended in the middle of a record).
  if (event.next_start > ended.lsn) {
    return fail(ProtocolError("the server ended timeline " + std::to_string(ended.timeline) +
                              " at " + protocol::to_string(ended.lsn) + " but reported timeline " +
                              std::to_string(event.next_timeline) + " to begin later, at " +
                              protocol::to_string(event.next_start)));
  }
  // What this timeline wrote becomes durable; the next one rewrites the switch
  // segment under its own name from the segment start.
  let_go_of_segment();
  timeline_ends_[ended.timeline] = event.next_start;
  position_ =
      StreamPosition{event.next_timeline, protocol::segment_start(event.next_start, segment_size_)};
  begin_stream();
}

void WalStreamMachine::on_event(const stream_event::StreamingEnded&) {
  if (state_ != State::kReadingStreamEnd && state_ != State::kStarting) {
    return unexpected("StreamingEnded");
  }
  if (ending_ != Ending::kNone) return finish(ending_);
  if (reached_endpos()) return end_at_endpos();
  lose_connection(Error(ErrorKind::kConnection,
                        "the server ended the WAL stream at " + protocol::to_string(*position_),
                        "the server may have been shut down or restarted"));
}

void WalStreamMachine::on_event(const stream_event::StopRequested&) {
  stop_requested_ = true;
  switch (state_) {
    case State::kStreaming:
      return begin_ending(Ending::kStopRequested);
    case State::kDraining:
      // Still waiting for the sync; then stop instead of ending the COPY.
      ending_ = Ending::kStopRequested;
      return;
    case State::kDone:
      return;
    default:
      // No COPY to report to, or it already ended: what was written becomes
      // durable when the storage finishes.
      return finish(Ending::kStopRequested);
  }
}

void WalStreamMachine::on_event(const stream_event::StopAt& event) {
  stop_at_ = event.stop;
  if (state_ == State::kStreaming && reached_stop_position()) {
    begin_ending(Ending::kStopPosition);
  }
}

void WalStreamMachine::on_event(const stream_event::ConnectionLost& event) {
  switch (state_) {
    case State::kDone:
    case State::kWaitingToReconnect:
      return;
    case State::kDraining:
    case State::kEndingCopy:
      // We were ending anyway: everything wanted is written.
      return finish(ending_);
    case State::kReadingStreamEnd:
      if (ending_ != Ending::kNone) return finish(ending_);
      return lose_connection(event.error);
    default:
      return lose_connection(event.error);
  }
}

void WalStreamMachine::let_go_of_segment() {
  if (syncing() && unsynced_bytes_ > 0) request_sync();
  if (segment_open_) actions_.emplace_back(stream_action::CloseSegment{});
  segment_open_ = false;
  unsynced_bytes_ = 0;
  unsynced_since_.reset();
}

void WalStreamMachine::end_at_endpos() {
  // The COPY is already over: no final status, the storage makes the rest
  // durable when it finishes.
  let_go_of_segment();
  finish(Ending::kEndpos);
}

void WalStreamMachine::lose_connection(const Error& error) {
  if (stop_requested_) return finish(Ending::kStopRequested);
  if (reached_endpos()) return end_at_endpos();
  if (!config_.reconnect || !is_retryable(error)) return fail(error);
  if (position_) {
    let_go_of_segment();
    // Resume at the start of the segment, as pg_receivewal does: the server
    // may not serve this exact position again (a partial record at a switch
    // point, another server), and the segment is rewritten in place.
    position_->lsn = protocol::segment_start(position_->lsn, segment_size_);
  }
  last_status_.reset();
  state_ = State::kWaitingToReconnect;
  actions_.emplace_back(stream_action::ReconnectAfter{reconnect_delay_, error.what()});
  reconnect_delay_ = std::min(reconnect_delay_ * 2, config_.max_reconnect_delay);
}

void WalStreamMachine::finish(Ending ending) {
  StreamEndReason reason = StreamEndReason::kStopRequested;
  if (ending == Ending::kEndpos) reason = StreamEndReason::kEndpos;
  if (ending == Ending::kStopPosition) reason = StreamEndReason::kStopPosition;
  state_ = State::kDone;
  actions_.emplace_back(stream_action::Finish{reason});
}

void WalStreamMachine::fail(const Error& error) {
  state_ = State::kDone;
  actions_.emplace_back(stream_action::Fail{error});
}

void WalStreamMachine::unexpected(const char* event_name) {
  if (state_ == State::kDone) return;  // late news after the end
  fail(internal_error(std::string(event_name) + " while " + to_string(state_)));
}

}  // namespace walstream::walreceiver
