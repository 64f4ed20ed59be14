// The decisions of a WAL stream, without I/O: what to write, when to sync and
// report, when to stop, what to do at a timeline end, where to resume after a
// lost connection. `walstream receive` and the WAL half of `walstream clone`
// both run it; their drivers (WalStreamDriver) only execute its actions and
// turn what happens (bytes from the server, a finished fdatasync, a timer, a
// signal) into its events. No clock, no socket, no file: tests feed events and
// read actions, one at a time.
//
//            Connect                 FetchTimelineHistory        StartStreaming
//   kConnecting ──Connected──▶ [kFetchingHistory ──HistoryStored──▶] kStarting
//        ▲                                                 ▲          │CopyStarted
//        │TimerFired                   TimelineEnded ───────┘          ▼
//   kWaitingToReconnect ◀──ConnectionLost (retryable)─── ... ◀──── kStreaming ──┐
//                                                                  │  │         │endpos, stop
//                    ServerEndedCopy: SendCopyDone, ReadStreamEnd   │  │         ▼ request
//   kReadingStreamEnd ◀────────────────────────────────────────────┘  │     kDraining (wait
//     │ TimelineEnded: follow it (or finish when ending)               │      until durable)
//     │ StreamingEnded: reconnect (or finish when ending)              │         │ SendStatus
//     ▼                                                               ▼         ▼ SendCopyDone
//   kDone ◀── Finish / Fail ────────────────────────────────── kEndingCopy ◀────┘
//
// Positions are (timeline, LSN) pairs: at a timeline end the stream rewinds to
// the start of the switch segment on the next timeline, so a bare LSN would go
// backwards. What is durable is what the storage reported (SyncCompleted),
// and the flush reported to the server is that position as seen from the
// current timeline, never more than was written on it.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <variant>

#include "protocol/bytes.h"
#include "protocol/error.h"
#include "protocol/lsn.h"
#include "protocol/stream_position.h"

namespace walstream::walreceiver {

using StreamClock = std::chrono::steady_clock;
using StreamTime = StreamClock::time_point;

// Where the stream begins when the machine has no position yet (the first
// connection of `walstream receive`, after its archive was scanned).
struct StreamStart {
  protocol::StreamPosition position;  // a segment start
  std::uint64_t segment_size = 0;     // the server's wal_segment_size
  // Timelines whose history file the target already holds.
  std::set<protocol::TimelineId> histories;
};

namespace stream_event {
// A (re)connection succeeded and IDENTIFY_SYSTEM answered. `start` must be
// set the first time when the machine was built without a start.
struct Connected {
  protocol::TimelineId server_timeline = 0;
  std::optional<StreamStart> start;
};
// TIMELINE_HISTORY answered and the file is durably stored.
struct HistoryStored {
  protocol::TimelineId timeline = 0;
};
// START_REPLICATION entered COPY.
struct CopyStarted {
  StreamTime now;
};
// One XLogData message; `payload` stays valid until the driver has executed
// the WriteWal that refers to it.
struct WalData {
  protocol::Lsn start;
  ByteView payload;
};
struct Keepalive {
  bool reply_requested = false;
};
// Everything the connection had buffered has been handed over: the moment to
// decide about syncing and reporting.
struct Drained {
  StreamTime now;
};
// Everything written up to `durable` is on disk (reported by the storage in
// the order the syncs were requested).
struct SyncCompleted {
  protocol::StreamPosition durable;
};
// With remote acknowledgement: the archive's remote copy holds everything up
// to `upto` (the reportable position of a RemoteAckTracker).
struct RemoteConfirmed {
  protocol::StreamPosition upto;
};
// Back-pressure from the archive behind the storage (receive into a bucket):
// the spool holds as many files waiting for upload as it may. While it is
// full, WAL is not read from the server (the server keeps it: the slot) and
// status updates still go out, so the connection stays alive.
struct SpoolFull {};
// The uploads caught up: reading may go on.
struct SpoolHasRoom {};
// The deadline of next_deadline() or of a ReconnectAfter passed.
struct TimerFired {
  StreamTime now;
};
// The server sent CopyDone.
struct ServerEndedCopy {};
// After the COPY (or instead of it): the timeline ended, the next one starts
// at `next_start`.
struct TimelineEnded {
  protocol::TimelineId next_timeline = 0;
  protocol::Lsn next_start;
};
// After the COPY (or instead of it): the command completed without a next
// timeline (the server shut down or ended streaming).
struct StreamingEnded {};
// SIGINT/SIGTERM: make the received WAL durable, report it, stop.
struct StopRequested {};
// Stop once everything up to `stop` is written (the end of a base backup).
struct StopAt {
  protocol::StreamPosition stop;
};
// A command or the COPY failed; `error` says why.
struct ConnectionLost {
  Error error;
};
}  // namespace stream_event

using StreamEvent =
    std::variant<stream_event::Connected, stream_event::HistoryStored, stream_event::CopyStarted,
                 stream_event::WalData, stream_event::Keepalive, stream_event::Drained,
                 stream_event::SyncCompleted, stream_event::RemoteConfirmed,
                 stream_event::SpoolFull, stream_event::SpoolHasRoom, stream_event::TimerFired,
                 stream_event::ServerEndedCopy, stream_event::TimelineEnded,
                 stream_event::StreamingEnded, stream_event::StopRequested, stream_event::StopAt,
                 stream_event::ConnectionLost>;

enum class StreamEndReason {
  kEndpos,         // the configured endpos was reached and is durable
  kStopPosition,   // StopAt was reached
  kStopRequested,  // StopRequested
};

namespace stream_action {
// Open a replication connection, IDENTIFY_SYSTEM; answer Connected or
// ConnectionLost.
struct Connect {};
// TIMELINE_HISTORY `timeline`, check it and store it durably; answer
// HistoryStored or ConnectionLost.
struct FetchTimelineHistory {
  protocol::TimelineId timeline = 0;
};
// START_REPLICATION at `from`; answer CopyStarted, TimelineEnded (the server
// may skip the COPY), StreamingEnded or ConnectionLost.
struct StartStreaming {
  protocol::StreamPosition from;
};
// Write `bytes` at `start`. Consecutive writes may be coalesced until the
// next action of another kind.
struct WriteWal {
  protocol::StreamPosition start;
  ByteView bytes;
};
// Make everything written up to `upto` durable; answer SyncCompleted.
struct RequestSync {
  protocol::StreamPosition upto;
};
// Let go of the open segment: it keeps its .partial name (the stream will
// write the next bytes elsewhere, or into it again from its start).
struct CloseSegment {};
// A standby status update. `flush` is InvalidLsn when none may be claimed.
struct SendStatus {
  protocol::Lsn write;
  protocol::Lsn flush;
};
struct SendCopyDone {};
// Read the results that follow the COPY; answer TimelineEnded,
// StreamingEnded or ConnectionLost.
struct ReadStreamEnd {};
// Drop the connection, wait `delay`, then answer TimerFired. `cause` is
// the error that ended the connection, for the user to see what to fix (a
// wrong certificate or password fails every attempt the same way).
struct ReconnectAfter {
  std::chrono::milliseconds delay{0};
  std::string cause;
};
// The stream is over: make what was written durable and release it.
struct Finish {
  StreamEndReason reason = StreamEndReason::kStopRequested;
};
// The stream cannot go on: make what was written durable, then fail with
// `error`.
struct Fail {
  Error error;
};
}  // namespace stream_action

using StreamAction =
    std::variant<stream_action::Connect, stream_action::FetchTimelineHistory,
                 stream_action::StartStreaming, stream_action::WriteWal, stream_action::RequestSync,
                 stream_action::CloseSegment, stream_action::SendStatus,
                 stream_action::SendCopyDone, stream_action::ReadStreamEnd,
                 stream_action::ReconnectAfter, stream_action::Finish, stream_action::Fail>;

enum class Durability {
  // The storage syncs on RequestSync and reports SyncCompleted (receive).
  kBatched,
  // Nothing is synced while streaming; the caller makes everything durable
  // at the end, so no flush position is ever claimed (clone).
  kDeferred,
};

struct WalStreamConfig {
  // Known up front (clone: the backup's start), or set by the first Connected.
  std::optional<StreamStart> start;
  Durability durability = Durability::kBatched;
  // Report the durable position as flush (with a slot or --synchronous).
  bool report_flush = false;
  // --ack=remote: the flush reported is also never past what RemoteConfirmed
  // said is in the remote archive (nothing before the first one).
  bool remote_ack = false;
  // Sync at every drain with unsynced WAL (--synchronous).
  bool synchronous = false;
  std::uint64_t batch_bytes = 8 * 1024 * 1024;
  std::chrono::milliseconds batch_window{200};
  // 0: no periodic status.
  std::chrono::milliseconds status_interval{10'000};
  // Write exactly up to this LSN, make it durable, stop (-E/--endpos).
  std::optional<protocol::Lsn> endpos;
  // Retry lost connections (not with -n, never in a clone).
  bool reconnect = false;
  std::chrono::milliseconds first_reconnect_delay{1000};
  std::chrono::milliseconds max_reconnect_delay{30'000};
};

class WalStreamMachine {
 public:
  enum class State {
    kConnecting,
    kFetchingHistory,
    kStarting,
    kStreaming,
    kDraining,  // ending: waiting until what was written is durable
    kEndingCopy,
    kReadingStreamEnd,
    kWaitingToReconnect,
    kDone,
  };

  explicit WalStreamMachine(WalStreamConfig config);

  // Queues the first action (Connect).
  void start();
  // Feeds one event; the resulting actions are queued in order.
  void on(const StreamEvent& event);

  bool has_action() const { return !actions_.empty(); }
  StreamAction next_action();

  State state() const { return state_; }
  // When TimerFired is due while streaming (status interval, sync window);
  // nullopt when nothing is timed.
  std::optional<StreamTime> next_deadline() const;
  // Where the stream continues; nullopt before the start is known.
  std::optional<protocol::StreamPosition> position() const { return position_; }
  // The flush position a status would carry now.
  protocol::Lsn reportable_flush() const;
  // Streaming with a full spool: the driver takes no message from the
  // connection, and waits for next_deadline() or an event instead.
  bool reading_paused() const { return spool_full_ && state_ == State::kStreaming; }

 private:
  enum class Ending { kNone, kEndpos, kStopPosition, kStopRequested };

  void on_event(const stream_event::Connected& event);
  void on_event(const stream_event::HistoryStored& event);
  void on_event(const stream_event::CopyStarted& event);
  void on_event(const stream_event::WalData& event);
  void on_event(const stream_event::Keepalive& event);
  void on_event(const stream_event::Drained& event);
  void on_event(const stream_event::SyncCompleted& event);
  void on_event(const stream_event::RemoteConfirmed& event);
  void on_event(const stream_event::SpoolFull& event);
  void on_event(const stream_event::SpoolHasRoom& event);
  void on_event(const stream_event::TimerFired& event);
  void on_event(const stream_event::ServerEndedCopy& event);
  void on_event(const stream_event::TimelineEnded& event);
  void on_event(const stream_event::StreamingEnded& event);
  void on_event(const stream_event::StopRequested& event);
  void on_event(const stream_event::StopAt& event);
  void on_event(const stream_event::ConnectionLost& event);

  // Before START_REPLICATION: stop, fetch a missing history, or start.
  void begin_stream();
  void follow_timeline(const stream_event::TimelineEnded& event);
  void begin_ending(Ending ending);
  void complete_ending();
  // Syncs what was written on the open segment and closes it (its sync
  // still runs after the close).
  void let_go_of_segment();
  // Endpos was written but the COPY ended before the drain that notices it.
  void end_at_endpos();
  void lose_connection(const Error& error);
  void finish(Ending ending);
  void fail(const Error& error);
  // An event the driver cannot produce in this state.
  void unexpected(const char* event_name);

  void request_sync();
  void send_status(std::optional<StreamTime> now);
  void maybe_sync(StreamTime now, bool urgent);
  bool syncing() const { return config_.durability == Durability::kBatched; }
  void adopt(const StreamStart& start);
  // Everything written is reported durable.
  bool all_durable() const;
  bool reached_stop_position() const;
  bool reached_endpos() const;

  WalStreamConfig config_;
  std::uint64_t segment_size_ = 0;
  State state_ = State::kConnecting;
  bool started_ = false;
  std::deque<StreamAction> actions_;

  std::optional<protocol::StreamPosition> position_;
  std::set<protocol::TimelineId> histories_;
  // Where each timeline this stream left ended (the next one's start).
  std::map<protocol::TimelineId, protocol::Lsn> timeline_ends_;
  bool segment_open_ = false;

  protocol::StreamPosition durable_;                // the storage's last report
  std::optional<protocol::StreamPosition> remote_;  // RemoteConfirmed's newest
  bool spool_full_ = false;                         // SpoolFull until SpoolHasRoom
  protocol::StreamPosition awaited_;                // the last position a sync will reach
  std::uint64_t unsynced_bytes_ = 0;
  std::optional<StreamTime> unsynced_since_;

  std::optional<StreamTime> last_status_;
  protocol::Lsn last_reported_flush_;
  bool reply_due_ = false;

  Ending ending_ = Ending::kNone;
  bool stop_requested_ = false;
  std::optional<protocol::StreamPosition> stop_at_;
  std::chrono::milliseconds reconnect_delay_;
};

// Lost connections worth retrying: connection-level failures and server
// errors of SQLSTATE classes 08 (connection), 53 (insufficient resources) and
// 57 (operator intervention). Never a local I/O failure or bad data.
bool is_retryable(const Error& error);

const char* to_string(WalStreamMachine::State state);
// One line each, for logs and test expectations: "StartStreaming 0/3000000 on
// timeline 2", "WalData 0/3000000 +8192".
std::string describe(const StreamEvent& event);
std::string describe(const StreamAction& action);

}  // namespace walstream::walreceiver
