// The WAL stream state machine driven event by event: every scenario of
// receive and clone (batching, synchronous, endpos, stop requests, stop
// position, keepalives, timeline switches, reconnects at every step of a
// switch) as scripts of events and the actions they must produce. No server,
// no files, no clock.
#include "walreceiver/wal_stream_machine.h"

#include "tests/support/stream_script.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <iterator>
#include <string>
#include <vector>

namespace walstream::walreceiver {
namespace {

using namespace std::chrono_literals;
using protocol::Lsn;
using protocol::StreamPosition;
using State = WalStreamMachine::State;

constexpr std::uint64_t kSeg = 1024 * 1024;  // 1 MB segments keep the numbers readable

// Bytes the WalData events point at; their content does not matter here.
const std::array<std::byte, 3 * kSeg> kBytes{};

ByteView bytes(std::size_t n) { return ByteView(kBytes).first(n); }

StreamTime at(std::chrono::milliseconds ms) { return StreamTime{} + ms; }

std::string pos(std::uint32_t timeline, std::uint64_t lsn) {
  return protocol::to_string(StreamPosition{timeline, Lsn{lsn}});
}
std::string lsn(std::uint64_t value) { return protocol::to_string(Lsn{value}); }

WalStreamConfig receive_config() {
  WalStreamConfig config;
  config.durability = Durability::kBatched;
  config.report_flush = true;
  config.batch_bytes = 64 * 1024;
  config.batch_window = 200ms;
  config.status_interval = 10'000ms;
  config.reconnect = true;
  return config;
}

WalStreamConfig clone_config(std::uint64_t start) {
  WalStreamConfig config;
  config.durability = Durability::kDeferred;
  config.report_flush = false;
  config.reconnect = false;
  config.start = StreamStart{StreamPosition{1, Lsn{start}}, kSeg, {}};
  return config;
}

stream_event::Connected connected(std::uint32_t server_timeline, std::uint32_t timeline = 0,
                                  std::uint64_t start = 0,
                                  std::set<protocol::TimelineId> histories = {}) {
  stream_event::Connected event{server_timeline, std::nullopt};
  if (timeline != 0) {
    event.start = StreamStart{StreamPosition{timeline, Lsn{start}}, kSeg, histories};
  }
  return event;
}

stream_event::WalData wal(std::uint64_t start, std::size_t size) {
  return stream_event::WalData{Lsn{start}, bytes(size)};
}
stream_event::SyncCompleted synced(std::uint32_t timeline, std::uint64_t lsn) {
  return stream_event::SyncCompleted{StreamPosition{timeline, Lsn{lsn}}};
}
stream_event::ConnectionLost lost(ErrorKind kind = ErrorKind::kConnection) {
  return stream_event::ConnectionLost{Error(kind, "connection lost")};
}

using Script = test_support::StreamScript;
using test_support::Actions;

// A receiver streaming timeline 1 from segment 1, one status sent.
Script streaming_receiver(WalStreamConfig config = receive_config()) {
  Script script(std::move(config));
  script.start();
  script.feed(connected(1, 1, kSeg));
  script.feed(stream_event::CopyStarted{at(0ms)});
  return script;
}

// --- starting ---------------------------------------------------------------

TEST(WalStreamMachineTest, StartsByConnectingThenStreamsFromTheArchiveStart) {
  Script script(receive_config());
  EXPECT_EQ(script.start(), Actions{"Connect"});
  EXPECT_EQ(script.feed(connected(1, 1, kSeg)), Actions{"StartStreaming " + pos(1, kSeg)});
  EXPECT_EQ(script.feed(stream_event::CopyStarted{at(0ms)}),
            Actions{"SendStatus write " + lsn(kSeg) + " flush " + lsn(kSeg)});
  EXPECT_EQ(script.state(), State::kStreaming);
}

TEST(WalStreamMachineTest, WithoutSlotOrSynchronousNoFlushIsClaimed) {
  WalStreamConfig config = receive_config();
  config.report_flush = false;
  Script script(config);
  script.start();
  script.feed(connected(1, 1, kSeg));
  EXPECT_EQ(script.feed(stream_event::CopyStarted{at(0ms)}),
            Actions{"SendStatus write " + lsn(kSeg) + " flush 0/0"});
  script.feed(wal(kSeg, 100));
  EXPECT_EQ(script.feed(stream_event::Drained{at(300ms)}), Actions{});
  EXPECT_EQ(script.feed(stream_event::TimerFired{at(600ms)}),
            Actions{"RequestSync " + pos(1, kSeg + 100)});
  EXPECT_EQ(script.feed(synced(1, kSeg + 100)), Actions{}) << "no status for an unreported flush";
}

TEST(WalStreamMachineTest, FetchesTheHistoryOfTheStartingTimeline) {
  Script script(receive_config());
  script.start();
  EXPECT_EQ(script.feed(connected(2, 2, kSeg)), Actions{"FetchTimelineHistory 2"});
  EXPECT_EQ(script.feed(stream_event::HistoryStored{2}), Actions{"StartStreaming " + pos(2, kSeg)});
}

TEST(WalStreamMachineTest, AHistoryAlreadyInTheArchiveIsNotFetchedAgain) {
  Script script(receive_config());
  script.start();
  EXPECT_EQ(script.feed(connected(3, 3, kSeg, {2, 3})), Actions{"StartStreaming " + pos(3, kSeg)});
}

TEST(WalStreamMachineTest, TimelineOneHasNoHistory) {
  Script script(receive_config());
  script.start();
  EXPECT_EQ(script.feed(connected(2, 1, kSeg)), Actions{"StartStreaming " + pos(1, kSeg)});
}

TEST(WalStreamMachineTest, AServerBehindTheStreamsTimelineIsRetried) {
  Script script(receive_config());
  script.start();
  EXPECT_EQ(script.feed(connected(1, 2, kSeg, {2})), Actions{"ReconnectAfter 1000ms"});
  EXPECT_EQ(script.feed(stream_event::TimerFired{at(1s)}), Actions{"Connect"});
  EXPECT_EQ(script.feed(connected(2)), Actions{"StartStreaming " + pos(2, kSeg)});
}

TEST(WalStreamMachineTest, EndposAtTheStartFinishesWithoutStreaming) {
  WalStreamConfig config = receive_config();
  config.endpos = Lsn{kSeg};
  Script script(config);
  script.start();
  EXPECT_EQ(script.feed(connected(1, 1, kSeg)), Actions{"Finish endpos"});
  EXPECT_EQ(script.state(), State::kDone);
}

// --- batching and reporting -------------------------------------------------

TEST(WalStreamMachineTest, SyncsWhenTheBatchWindowIsOver) {
  Script script = streaming_receiver();
  EXPECT_EQ(script.feed(wal(kSeg, 100)), Actions{"WriteWal " + pos(1, kSeg) + " +100"});
  EXPECT_EQ(script.feed(stream_event::Drained{at(10ms)}), Actions{});
  EXPECT_EQ(script.machine().next_deadline(), at(210ms));
  EXPECT_EQ(script.feed(stream_event::TimerFired{at(100ms)}), Actions{});
  EXPECT_EQ(script.feed(stream_event::TimerFired{at(210ms)}),
            Actions{"RequestSync " + pos(1, kSeg + 100)});
  EXPECT_EQ(script.machine().next_deadline(), at(10'000ms)) << "only the status interval left";
  EXPECT_EQ(script.feed(synced(1, kSeg + 100)),
            Actions{"SendStatus write " + lsn(kSeg + 100) + " flush " + lsn(kSeg + 100)});
}

TEST(WalStreamMachineTest, SyncsWhenTheBatchReachesItsByteBound) {
  Script script = streaming_receiver();
  script.feed(wal(kSeg, 40 * 1024));
  EXPECT_EQ(script.feed(stream_event::Drained{at(1ms)}), Actions{});
  script.feed(wal(kSeg + 40 * 1024, 30 * 1024));
  EXPECT_EQ(script.feed(stream_event::Drained{at(2ms)}),
            Actions{"RequestSync " + pos(1, kSeg + 70 * 1024)});
}

TEST(WalStreamMachineTest, SynchronousSyncsAtEveryDrainAndReportsRightAfter) {
  WalStreamConfig config = receive_config();
  config.synchronous = true;
  Script script = streaming_receiver(config);
  script.feed(wal(kSeg, 100));
  script.feed(wal(kSeg + 100, 50));
  EXPECT_EQ(script.feed(stream_event::Drained{at(1ms)}),
            Actions{"RequestSync " + pos(1, kSeg + 150)});
  // While that fdatasync runs, more commits arrive: one sync covers them.
  script.feed(wal(kSeg + 150, 10));
  EXPECT_EQ(script.feed(stream_event::Drained{at(2ms)}),
            Actions{"RequestSync " + pos(1, kSeg + 160)});
  EXPECT_EQ(script.feed(synced(1, kSeg + 150)),
            Actions{"SendStatus write " + lsn(kSeg + 160) + " flush " + lsn(kSeg + 150)});
  EXPECT_EQ(script.feed(synced(1, kSeg + 160)),
            Actions{"SendStatus write " + lsn(kSeg + 160) + " flush " + lsn(kSeg + 160)});
  EXPECT_EQ(script.feed(stream_event::Drained{at(3ms)}), Actions{}) << "no wake-up without work";
}

TEST(WalStreamMachineTest, AReplyRequestedKeepaliveSyncsThenAnswersAtOnce) {
  Script script = streaming_receiver();
  script.feed(wal(kSeg, 100));
  script.feed(stream_event::Keepalive{true});
  EXPECT_EQ(script.feed(stream_event::Drained{at(5ms)}),
            (Actions{"RequestSync " + pos(1, kSeg + 100),
                     "SendStatus write " + lsn(kSeg + 100) + " flush " + lsn(kSeg)}));
  EXPECT_EQ(script.feed(synced(1, kSeg + 100)),
            Actions{"SendStatus write " + lsn(kSeg + 100) + " flush " + lsn(kSeg + 100)});
}

TEST(WalStreamMachineTest, AKeepaliveWithoutReplyRequestAsksNothing) {
  Script script = streaming_receiver();
  script.feed(stream_event::Keepalive{false});
  EXPECT_EQ(script.feed(stream_event::Drained{at(5ms)}), Actions{});
}

TEST(WalStreamMachineTest, SendsAStatusEveryInterval) {
  Script script = streaming_receiver();
  EXPECT_EQ(script.machine().next_deadline(), at(10s));
  EXPECT_EQ(script.feed(stream_event::TimerFired{at(9s)}), Actions{});
  EXPECT_EQ(script.feed(stream_event::TimerFired{at(10s)}),
            Actions{"SendStatus write " + lsn(kSeg) + " flush " + lsn(kSeg)});
  EXPECT_EQ(script.machine().next_deadline(), at(20s));
}

TEST(WalStreamMachineTest, AStatusIntervalOfZeroSendsNoPeriodicStatus) {
  WalStreamConfig config = receive_config();
  config.status_interval = 0ms;
  Script script = streaming_receiver(config);
  EXPECT_EQ(script.machine().next_deadline(), std::nullopt);
  EXPECT_EQ(script.feed(stream_event::TimerFired{at(1h)}), Actions{});
}

TEST(WalStreamMachineTest, AFullSegmentIsDurableWithoutARequest) {
  Script script = streaming_receiver();
  // Ends exactly at the end of segment 1: the storage completes it (sync,
  // rename) by itself.
  script.feed(wal(kSeg, kSeg));
  EXPECT_EQ(script.feed(stream_event::Drained{at(1ms)}), Actions{});
  EXPECT_EQ(script.machine().next_deadline(), at(10s)) << "nothing awaits a sync window";
  EXPECT_EQ(script.feed(synced(1, 2 * kSeg)),
            Actions{"SendStatus write " + lsn(2 * kSeg) + " flush " + lsn(2 * kSeg)});
}

TEST(WalStreamMachineTest, OnlyBytesAfterACompletedSegmentAwaitASync) {
  Script script = streaming_receiver();
  script.feed(wal(kSeg, kSeg - 10));
  script.feed(wal(2 * kSeg - 10, 30));  // completes segment 1, 20 bytes into segment 2
  EXPECT_EQ(script.feed(stream_event::StopRequested{}),
            Actions{"RequestSync " + pos(1, 2 * kSeg + 20)});
  EXPECT_EQ(script.feed(synced(1, 2 * kSeg)), Actions{});
  EXPECT_EQ(script.feed(synced(1, 2 * kSeg + 20)),
            (Actions{"SendStatus write " + lsn(2 * kSeg + 20) + " flush " + lsn(2 * kSeg + 20),
                     "Finish stop requested"}));
}

TEST(WalStreamMachineTest, WalThatDoesNotContinueTheStreamFails) {
  Script script = streaming_receiver();
  script.feed(wal(kSeg, 100));
  const Actions actions = script.feed(wal(kSeg + 200, 100));
  ASSERT_EQ(actions.size(), 1u);
  EXPECT_EQ(actions[0], "Fail: the server sent WAL at " + lsn(kSeg + 200) +
                            " on timeline 1, expected " + lsn(kSeg + 100));
  EXPECT_EQ(script.state(), State::kDone);
}

TEST(WalStreamMachineTest, WalGoingBackwardsFails) {
  Script script = streaming_receiver();
  script.feed(wal(kSeg, 100));
  const Actions actions = script.feed(wal(kSeg + 50, 100));
  ASSERT_EQ(actions.size(), 1u);
  EXPECT_TRUE(actions[0].starts_with("Fail: the server sent WAL at")) << actions[0];
}

// --- endpos -----------------------------------------------------------------

TEST(WalStreamMachineTest, EndposWritesExactlyUpToItThenEndsTheCopyOnceDurable) {
  WalStreamConfig config = receive_config();
  config.endpos = Lsn{kSeg + 150};
  Script script = streaming_receiver(config);
  EXPECT_EQ(script.feed(wal(kSeg, 100)), Actions{"WriteWal " + pos(1, kSeg) + " +100"});
  EXPECT_EQ(script.feed(wal(kSeg + 100, 100)), Actions{"WriteWal " + pos(1, kSeg + 100) + " +50"});
  EXPECT_EQ(script.feed(wal(kSeg + 200, 100)), Actions{}) << "beyond endpos";
  EXPECT_EQ(script.feed(stream_event::Drained{at(1ms)}),
            Actions{"RequestSync " + pos(1, kSeg + 150)});
  EXPECT_EQ(script.state(), State::kDraining);
  EXPECT_EQ(script.feed(synced(1, kSeg + 150)),
            (Actions{"SendStatus write " + lsn(kSeg + 150) + " flush " + lsn(kSeg + 150),
                     "SendCopyDone"}));
  EXPECT_EQ(script.feed(wal(kSeg + 150, 10)), Actions{}) << "after CopyDone WAL is not needed";
  EXPECT_EQ(script.feed(stream_event::Keepalive{true}), Actions{});
  EXPECT_EQ(script.feed(stream_event::ServerEndedCopy{}), Actions{"ReadStreamEnd"});
  EXPECT_EQ(script.feed(stream_event::StreamingEnded{}), Actions{"Finish endpos"});
}

TEST(WalStreamMachineTest, EndposEndsEvenIfTheConnectionBreaksAfterOurCopyDone) {
  WalStreamConfig config = receive_config();
  config.endpos = Lsn{kSeg + 100};
  Script script = streaming_receiver(config);
  script.feed(wal(kSeg, 100));
  script.feed(stream_event::Drained{at(1ms)});
  script.feed(synced(1, kSeg + 100));
  EXPECT_EQ(script.feed(lost()), Actions{"Finish endpos"});
}

TEST(WalStreamMachineTest, AReplyRequestedWhileDrainingIsAnswered) {
  WalStreamConfig config = receive_config();
  config.endpos = Lsn{kSeg + 100};
  Script script = streaming_receiver(config);
  script.feed(wal(kSeg, 100));
  script.feed(stream_event::Drained{at(1ms)});
  script.feed(stream_event::Keepalive{true});
  EXPECT_EQ(script.feed(stream_event::Drained{at(2ms)}),
            Actions{"SendStatus write " + lsn(kSeg + 100) + " flush " + lsn(kSeg)});
}

// --- stop requests (SIGINT/SIGTERM) -----------------------------------------

TEST(WalStreamMachineTest, StopMakesWalDurableReportsItThenFinishes) {
  Script script = streaming_receiver();
  script.feed(wal(kSeg, 100));
  EXPECT_EQ(script.feed(stream_event::StopRequested{}),
            Actions{"RequestSync " + pos(1, kSeg + 100)});
  EXPECT_EQ(script.state(), State::kDraining);
  EXPECT_EQ(script.feed(wal(kSeg + 100, 10)), Actions{}) << "stopping: not written";
  EXPECT_EQ(script.feed(synced(1, kSeg + 100)),
            (Actions{"SendStatus write " + lsn(kSeg + 100) + " flush " + lsn(kSeg + 100),
                     "Finish stop requested"}));
}

TEST(WalStreamMachineTest, StopWithNothingUnsyncedFinishesAtOnce) {
  Script script = streaming_receiver();
  EXPECT_EQ(
      script.feed(stream_event::StopRequested{}),
      (Actions{"SendStatus write " + lsn(kSeg) + " flush " + lsn(kSeg), "Finish stop requested"}));
}

TEST(WalStreamMachineTest, StopWhileASyncIsInFlightWaitsForIt) {
  Script script = streaming_receiver();
  script.feed(wal(kSeg, 100));
  script.feed(stream_event::Drained{at(0ms)});
  EXPECT_EQ(script.feed(stream_event::TimerFired{at(300ms)}),
            Actions{"RequestSync " + pos(1, kSeg + 100)});
  EXPECT_EQ(script.feed(stream_event::StopRequested{}), Actions{}) << "the sync already asked for";
  EXPECT_EQ(script.feed(synced(1, kSeg + 100)),
            (Actions{"SendStatus write " + lsn(kSeg + 100) + " flush " + lsn(kSeg + 100),
                     "Finish stop requested"}));
}

TEST(WalStreamMachineTest, StopWhileWaitingToReconnectFinishes) {
  Script script = streaming_receiver();
  script.feed(lost());
  EXPECT_EQ(script.feed(stream_event::StopRequested{}), Actions{"Finish stop requested"});
}

TEST(WalStreamMachineTest, StopDuringAnEndposDrainStopsInsteadOfEndingTheCopy) {
  WalStreamConfig config = receive_config();
  config.endpos = Lsn{kSeg + 100};
  Script script = streaming_receiver(config);
  script.feed(wal(kSeg, 100));
  script.feed(stream_event::Drained{at(1ms)});
  EXPECT_EQ(script.feed(stream_event::StopRequested{}), Actions{});
  EXPECT_EQ(script.feed(synced(1, kSeg + 100)),
            (Actions{"SendStatus write " + lsn(kSeg + 100) + " flush " + lsn(kSeg + 100),
                     "Finish stop requested"}));
}

// --- clone: stop position, deferred durability ------------------------------

TEST(WalStreamMachineTest, CloneStreamsUntilTheStopPositionWithoutSyncOrFlush) {
  Script script(clone_config(kSeg));
  EXPECT_EQ(script.start(), Actions{"Connect"});
  EXPECT_EQ(script.feed(connected(1)), Actions{"StartStreaming " + pos(1, kSeg)});
  EXPECT_EQ(script.feed(stream_event::CopyStarted{at(0ms)}),
            Actions{"SendStatus write " + lsn(kSeg) + " flush 0/0"});
  script.feed(wal(kSeg, 1000));
  EXPECT_EQ(script.feed(stream_event::Drained{at(1s)}), Actions{});
  EXPECT_EQ(script.machine().next_deadline(), at(10s)) << "no sync window in a clone";
  EXPECT_EQ(script.feed(stream_event::StopAt{StreamPosition{1, Lsn{kSeg + 2000}}}), Actions{});
  script.feed(wal(kSeg + 1000, 1500));
  EXPECT_EQ(script.feed(stream_event::Drained{at(2s)}),
            (Actions{"SendStatus write " + lsn(kSeg + 2500) + " flush 0/0", "SendCopyDone"}));
  EXPECT_EQ(script.feed(stream_event::ServerEndedCopy{}), Actions{"ReadStreamEnd"});
  EXPECT_EQ(script.feed(stream_event::StreamingEnded{}), Actions{"Finish stop position"});
}

TEST(WalStreamMachineTest, CloneStopPositionAlreadyWrittenEndsAtOnce) {
  Script script(clone_config(kSeg));
  script.start();
  script.feed(connected(1));
  script.feed(stream_event::CopyStarted{at(0ms)});
  script.feed(wal(kSeg, 1000));
  EXPECT_EQ(script.feed(stream_event::StopAt{StreamPosition{1, Lsn{kSeg + 1000}}}),
            (Actions{"SendStatus write " + lsn(kSeg + 1000) + " flush 0/0", "SendCopyDone"}));
}

TEST(WalStreamMachineTest, CloneFollowsATimelineSwitchToAStopPositionOnTheNextTimeline) {
  Script script(clone_config(kSeg));
  script.start();
  script.feed(connected(2));
  script.feed(stream_event::CopyStarted{at(0ms)});
  // The backup ends on timeline 2, past the switch at kSeg + 700.
  script.feed(stream_event::StopAt{StreamPosition{2, Lsn{kSeg + 1000}}});
  script.feed(wal(kSeg, 900));
  EXPECT_EQ(script.feed(stream_event::Drained{at(1ms)}), Actions{}) << "900 > 700 but timeline 1";
  EXPECT_EQ(script.feed(stream_event::ServerEndedCopy{}),
            (Actions{"SendCopyDone", "ReadStreamEnd"}));
  EXPECT_EQ(script.feed(stream_event::TimelineEnded{2, Lsn{kSeg + 700}}),
            (Actions{"CloseSegment", "FetchTimelineHistory 2"}));
  EXPECT_EQ(script.feed(stream_event::HistoryStored{2}), Actions{"StartStreaming " + pos(2, kSeg)});
  script.feed(stream_event::CopyStarted{at(2ms)});
  EXPECT_EQ(script.feed(wal(kSeg, 1200)), Actions{"WriteWal " + pos(2, kSeg) + " +1200"});
  EXPECT_EQ(script.feed(stream_event::Drained{at(3ms)}),
            (Actions{"SendStatus write " + lsn(kSeg + 1200) + " flush 0/0", "SendCopyDone"}));
}

TEST(WalStreamMachineTest, CloneFailsWhenTheServerEndsStreamingEarly) {
  Script script(clone_config(kSeg));
  script.start();
  script.feed(connected(1));
  script.feed(stream_event::CopyStarted{at(0ms)});
  script.feed(stream_event::ServerEndedCopy{});
  const Actions actions = script.feed(stream_event::StreamingEnded{});
  ASSERT_EQ(actions.size(), 1u);
  EXPECT_TRUE(actions[0].starts_with("Fail: the server ended the WAL stream at")) << actions[0];
}

TEST(WalStreamMachineTest, CloneDoesNotReconnect) {
  Script script(clone_config(kSeg));
  script.start();
  script.feed(connected(1));
  script.feed(stream_event::CopyStarted{at(0ms)});
  EXPECT_EQ(script.feed(lost()), Actions{"Fail: connection lost"});
}

// --- timeline switches ------------------------------------------------------

// Timeline 1 streamed from kSeg to kSeg + 900; the server says timeline 2
// starts at kSeg + 700 (the old timeline ended inside a record).
Script switched_to_timeline_2(WalStreamConfig config = receive_config()) {
  Script script = streaming_receiver(std::move(config));
  script.feed(wal(kSeg, 900));
  script.feed(stream_event::Drained{at(1ms)});
  script.feed(stream_event::ServerEndedCopy{});
  script.feed(stream_event::TimelineEnded{2, Lsn{kSeg + 700}});
  return script;
}

TEST(WalStreamMachineTest, TimelineEndSyncsTheOldTimelineAndRestartsAtTheSwitchSegment) {
  Script script = streaming_receiver();
  script.feed(wal(kSeg, 900));
  script.feed(stream_event::Drained{at(1ms)});
  EXPECT_EQ(script.feed(stream_event::ServerEndedCopy{}),
            (Actions{"SendCopyDone", "ReadStreamEnd"}));
  EXPECT_EQ(
      script.feed(stream_event::TimelineEnded{2, Lsn{kSeg + 700}}),
      (Actions{"RequestSync " + pos(1, kSeg + 900), "CloseSegment", "FetchTimelineHistory 2"}));
  EXPECT_EQ(script.feed(stream_event::HistoryStored{2}), Actions{"StartStreaming " + pos(2, kSeg)});
}

// Finding 1: durability and flush after a switch are tracked per timeline.
TEST(WalStreamMachineTest, AfterASwitchNewTimelineBytesAreSyncedBeforeTheyAreReported) {
  WalStreamConfig config = receive_config();
  config.synchronous = true;
  Script script = switched_to_timeline_2(config);
  EXPECT_EQ(script.feed(synced(1, kSeg + 900)), Actions{});
  script.feed(stream_event::HistoryStored{2});
  // Flush seen from timeline 2: timeline 1 counts up to where 2 forked from it.
  EXPECT_EQ(script.feed(stream_event::CopyStarted{at(2ms)}),
            Actions{"SendStatus write " + lsn(kSeg) + " flush " + lsn(kSeg)});
  script.feed(wal(kSeg, 800));  // the switch segment again, below what timeline 1 flushed
  EXPECT_EQ(script.feed(stream_event::Drained{at(3ms)}),
            Actions{"RequestSync " + pos(2, kSeg + 800)});
  // Recovery reads the switch segment from timeline 2's file: none of it is
  // durable until timeline 2's own sync completes.
  EXPECT_EQ(script.machine().reportable_flush(), Lsn{kSeg});
  EXPECT_EQ(script.feed(synced(2, kSeg + 800)),
            Actions{"SendStatus write " + lsn(kSeg + 800) + " flush " + lsn(kSeg + 800)});
}

TEST(WalStreamMachineTest, FlushOfTheOldTimelineNeverCountsInTheSwitchSegment) {
  Script script = switched_to_timeline_2();
  script.feed(stream_event::HistoryStored{2});
  script.feed(stream_event::CopyStarted{at(2ms)});
  script.feed(wal(kSeg, 850));
  // Timeline 1 durable up to 900 says nothing about timeline 2's copy of the
  // switch segment, which recovery reads from timeline 2's file.
  script.feed(synced(1, kSeg + 900));
  EXPECT_EQ(script.machine().reportable_flush(), Lsn{kSeg});
}

TEST(WalStreamMachineTest, StopRightAfterASwitchSyncsTheNewTimeline) {
  Script script = switched_to_timeline_2();
  script.feed(synced(1, kSeg + 900));
  script.feed(stream_event::HistoryStored{2});
  script.feed(stream_event::CopyStarted{at(2ms)});
  script.feed(wal(kSeg, 800));
  EXPECT_EQ(script.feed(stream_event::StopRequested{}),
            Actions{"RequestSync " + pos(2, kSeg + 800)});
  EXPECT_EQ(script.feed(synced(2, kSeg + 800)),
            (Actions{"SendStatus write " + lsn(kSeg + 800) + " flush " + lsn(kSeg + 800),
                     "Finish stop requested"}));
}

TEST(WalStreamMachineTest, StopOnANewTimelineBeforeItsFirstByteFinishesOnceTheOldIsDurable) {
  Script script = switched_to_timeline_2();
  script.feed(stream_event::HistoryStored{2});
  script.feed(stream_event::CopyStarted{at(2ms)});
  EXPECT_EQ(script.feed(stream_event::StopRequested{}), Actions{});
  EXPECT_EQ(
      script.feed(synced(1, kSeg + 900)),
      (Actions{"SendStatus write " + lsn(kSeg) + " flush " + lsn(kSeg), "Finish stop requested"}));
}

// Finding 6: the next timeline cannot begin after what was received.
TEST(WalStreamMachineTest, ANextTimelineStartingBeyondTheReceivedEndFails) {
  Script script = streaming_receiver();
  script.feed(wal(kSeg, 900));
  script.feed(stream_event::ServerEndedCopy{});
  const Actions actions = script.feed(stream_event::TimelineEnded{2, Lsn{kSeg + 901}});
  ASSERT_EQ(actions.size(), 1u);
  EXPECT_EQ(actions[0], "Fail: the server ended timeline 1 at " + lsn(kSeg + 900) +
                            " but reported timeline 2 to begin later, at " + lsn(kSeg + 901));
}

TEST(WalStreamMachineTest, ANextTimelineThatIsNotLaterFails) {
  Script script = streaming_receiver();
  script.feed(stream_event::ServerEndedCopy{});
  const Actions actions = script.feed(stream_event::TimelineEnded{1, Lsn{kSeg}});
  ASSERT_EQ(actions.size(), 1u);
  EXPECT_EQ(actions[0], "Fail: the server reported timeline 1 to follow timeline 1");
}

// Finding 2: START_REPLICATION exactly at the end of a historic timeline is
// answered with the next timeline and no COPY.
TEST(WalStreamMachineTest, StartingAtTheEndOfAHistoricTimelineFollowsToTheNext) {
  Script script(receive_config());
  script.start();
  script.feed(connected(2, 1, 3 * kSeg));
  EXPECT_EQ(script.feed(stream_event::TimelineEnded{2, Lsn{3 * kSeg}}),
            Actions{"FetchTimelineHistory 2"});
  EXPECT_EQ(script.feed(stream_event::HistoryStored{2}),
            Actions{"StartStreaming " + pos(2, 3 * kSeg)});
  EXPECT_EQ(script.feed(stream_event::CopyStarted{at(0ms)}),
            Actions{"SendStatus write " + lsn(3 * kSeg) + " flush " + lsn(3 * kSeg)});
}

// Finding 2: a reconnect between the switch and the first byte of the new
// timeline resumes on the new timeline at the switch segment's start.
TEST(WalStreamMachineTest, AReconnectBeforeTheFirstNewTimelineByteRefetchesTheSwitchSegment) {
  Script script = switched_to_timeline_2();
  script.feed(stream_event::HistoryStored{2});
  EXPECT_EQ(script.feed(lost()), Actions{"ReconnectAfter 1000ms"});
  script.feed(stream_event::TimerFired{at(1s)});
  EXPECT_EQ(script.feed(connected(2)), Actions{"StartStreaming " + pos(2, kSeg)});
}

// Finding 2: also when the switch point is segment-aligned and timeline 1
// went on past it (the switch segment must not be skipped).
TEST(WalStreamMachineTest, AReconnectAfterAnAlignedSwitchDoesNotSkipTheSwitchSegment) {
  Script script = streaming_receiver();
  script.feed(wal(kSeg, kSeg + 100));  // into segment 2 on timeline 1
  script.feed(stream_event::ServerEndedCopy{});
  script.feed(stream_event::TimelineEnded{2, Lsn{2 * kSeg - 50}});
  script.feed(stream_event::HistoryStored{2});
  script.feed(lost());
  script.feed(stream_event::TimerFired{at(1s)});
  EXPECT_EQ(script.feed(connected(2)), Actions{"StartStreaming " + pos(2, kSeg)});
}

// Finding 2: losing the connection during TIMELINE_HISTORY keeps the new
// timeline: the history is fetched again, then its WAL.
TEST(WalStreamMachineTest, ConnectionLostDuringTimelineHistoryFetchesItAgain) {
  Script script = switched_to_timeline_2();
  EXPECT_EQ(script.state(), State::kFetchingHistory);
  EXPECT_EQ(script.feed(lost()), Actions{"ReconnectAfter 1000ms"});
  script.feed(stream_event::TimerFired{at(1s)});
  EXPECT_EQ(script.feed(connected(2)), Actions{"FetchTimelineHistory 2"});
  EXPECT_EQ(script.feed(stream_event::HistoryStored{2}), Actions{"StartStreaming " + pos(2, kSeg)});
}

TEST(WalStreamMachineTest, AReconnectWhileReadingTheTimelineEndRestartsTheOldTimelineSegment) {
  Script script = streaming_receiver();
  script.feed(wal(kSeg, 900));
  script.feed(stream_event::ServerEndedCopy{});
  EXPECT_EQ(script.feed(lost()), (Actions{"RequestSync " + pos(1, kSeg + 900), "CloseSegment",
                                          "ReconnectAfter 1000ms"}));
  script.feed(stream_event::TimerFired{at(1s)});
  EXPECT_EQ(script.feed(connected(2)), Actions{"StartStreaming " + pos(1, kSeg)});
}

// The connection lost at every step of a timeline switch, in the manner of
// Boost.MySQL's check_network_errors: the reconnect must resume where no byte
// is skipped and no server would refuse: on timeline 1 at the switch
// segment's start until the timeline end was read, then on timeline 2 (its
// history first, if not stored yet).
TEST(WalStreamMachineTest, AConnectionLostAtEveryStepOfASwitchResumesWithoutAGap) {
  const std::vector<std::pair<std::string, StreamEvent>> steps = {
      {"copy started", stream_event::CopyStarted{at(0ms)}},
      {"timeline 1 WAL", wal(kSeg, 900)},
      {"drained", stream_event::Drained{at(1ms)}},
      {"server CopyDone", stream_event::ServerEndedCopy{}},
      {"timeline end", stream_event::TimelineEnded{2, Lsn{kSeg + 700}}},
      {"history stored", stream_event::HistoryStored{2}},
      {"timeline 2 copy started", stream_event::CopyStarted{at(2ms)}},
      {"timeline 2 WAL", wal(kSeg, 800)},
      {"drained on timeline 2", stream_event::Drained{at(3ms)}},
  };
  for (std::size_t fail_before = 0; fail_before <= steps.size(); ++fail_before) {
    SCOPED_TRACE("connection lost before step " + std::to_string(fail_before));
    Script script(receive_config());
    script.start();
    script.feed(connected(1, 1, kSeg));
    for (std::size_t i = 0; i < fail_before; ++i) script.feed(steps[i].second);
    const Actions on_loss = script.feed(lost());
    ASSERT_FALSE(on_loss.empty());
    EXPECT_EQ(on_loss.back(), "ReconnectAfter 1000ms");
    EXPECT_EQ(script.feed(stream_event::TimerFired{at(1s)}), Actions{"Connect"});
    std::string expected;
    if (fail_before <= 4) {
      expected = "StartStreaming " + pos(1, kSeg);  // the timeline end was not read
    } else if (fail_before == 5) {
      expected = "FetchTimelineHistory 2";
    } else {
      expected = "StartStreaming " + pos(2, kSeg);
    }
    EXPECT_EQ(script.feed(connected(2)), Actions{expected});
  }
}

TEST(WalStreamMachineTest, FollowsSeveralTimelinesInARow) {
  Script script = switched_to_timeline_2();
  script.feed(stream_event::HistoryStored{2});
  script.feed(stream_event::CopyStarted{at(2ms)});
  script.feed(wal(kSeg, 800));
  script.feed(stream_event::ServerEndedCopy{});
  EXPECT_EQ(
      script.feed(stream_event::TimelineEnded{3, Lsn{kSeg + 800}}),
      (Actions{"RequestSync " + pos(2, kSeg + 800), "CloseSegment", "FetchTimelineHistory 3"}));
  script.feed(stream_event::HistoryStored{3});
  script.feed(stream_event::CopyStarted{at(5ms)});
  script.feed(synced(1, kSeg + 900));
  EXPECT_EQ(script.machine().reportable_flush(), Lsn{kSeg}) << "nothing written on 3 yet";
  script.feed(wal(kSeg, 850));
  EXPECT_EQ(script.machine().reportable_flush(), Lsn{kSeg});
}

TEST(WalStreamMachineTest, ATimelineEndAtEndposFinishes) {
  WalStreamConfig config = receive_config();
  config.endpos = Lsn{kSeg + 900};
  Script script = streaming_receiver(config);
  script.feed(wal(kSeg, 900));
  script.feed(stream_event::ServerEndedCopy{});  // before our Drained noticed endpos
  EXPECT_EQ(script.feed(stream_event::TimelineEnded{2, Lsn{kSeg + 900}}),
            (Actions{"RequestSync " + pos(1, kSeg + 900), "CloseSegment", "Finish endpos"}));
}

// --- reconnects -------------------------------------------------------------

TEST(WalStreamMachineTest, ALostConnectionSyncsClosesAndResumesAtTheSegmentStart) {
  Script script = streaming_receiver();
  script.feed(wal(kSeg, kSeg + 300));
  EXPECT_EQ(script.feed(lost()), (Actions{"RequestSync " + pos(1, 2 * kSeg + 300), "CloseSegment",
                                          "ReconnectAfter 1000ms"}));
  EXPECT_EQ(script.state(), State::kWaitingToReconnect);
  EXPECT_EQ(script.feed(stream_event::TimerFired{at(1s)}), Actions{"Connect"});
  EXPECT_EQ(script.feed(connected(1)), Actions{"StartStreaming " + pos(1, 2 * kSeg)});
}

TEST(WalStreamMachineTest, ReconnectDelaysDoubleUpToTheMaximumAndResetAfterStreaming) {
  WalStreamConfig config = receive_config();
  config.max_reconnect_delay = 3000ms;
  Script script(config);
  script.start();
  EXPECT_EQ(script.feed(lost()), Actions{"ReconnectAfter 1000ms"});
  script.feed(stream_event::TimerFired{at(1s)});
  EXPECT_EQ(script.feed(lost()), Actions{"ReconnectAfter 2000ms"});
  script.feed(stream_event::TimerFired{at(3s)});
  EXPECT_EQ(script.feed(lost()), Actions{"ReconnectAfter 3000ms"});
  script.feed(stream_event::TimerFired{at(6s)});
  EXPECT_EQ(script.feed(lost()), Actions{"ReconnectAfter 3000ms"});
  script.feed(stream_event::TimerFired{at(9s)});
  script.feed(connected(1, 1, kSeg));
  script.feed(stream_event::CopyStarted{at(9s)});
  EXPECT_EQ(script.feed(lost()), Actions{"ReconnectAfter 1000ms"});
}

// The same error fails every attempt when the fix is the user's (a wrong CA,
// a wrong password): the reconnect carries it, so it can be shown.
TEST(WalStreamMachineTest, AReconnectCarriesTheErrorThatEndedTheConnection) {
  WalStreamMachine machine(receive_config());
  machine.start();
  while (machine.has_action()) machine.next_action();
  machine.on(stream_event::ConnectionLost{
      Error(ErrorKind::kConnection, "could not connect: SSL error: certificate verify failed")});
  ASSERT_TRUE(machine.has_action());
  const StreamAction action = machine.next_action();
  const auto* reconnect = std::get_if<stream_action::ReconnectAfter>(&action);
  ASSERT_NE(reconnect, nullptr) << describe(action);
  EXPECT_EQ(reconnect->cause, "could not connect: SSL error: certificate verify failed");
}

TEST(WalStreamMachineTest, NoLoopFailsOnTheFirstLostConnection) {
  WalStreamConfig config = receive_config();
  config.reconnect = false;
  Script script = streaming_receiver(config);
  EXPECT_EQ(script.feed(lost()), Actions{"Fail: connection lost"});
}

TEST(WalStreamMachineTest, ErrorsThatAreNotAboutTheConnectionAreNotRetried) {
  for (ErrorKind kind : {ErrorKind::kProtocol, ErrorKind::kIo, ErrorKind::kServer}) {
    Script script = streaming_receiver();
    EXPECT_EQ(script.feed(lost(kind)), Actions{"Fail: connection lost"});
  }
}

TEST(WalStreamMachineTest, TheServerEndingStreamingIsRetried) {
  Script script = streaming_receiver();
  script.feed(stream_event::ServerEndedCopy{});
  const Actions actions = script.feed(stream_event::StreamingEnded{});
  EXPECT_EQ(actions, Actions{"ReconnectAfter 1000ms"});
}

TEST(RetryableErrorTest, ClassifiesBySqlstateClass) {
  auto server = [](const char* sqlstate) {
    return Error(ErrorKind::kServer, "x").with_sqlstate(sqlstate);
  };
  EXPECT_TRUE(is_retryable(Error(ErrorKind::kConnection, "x")));
  EXPECT_TRUE(is_retryable(server("08006")));
  EXPECT_TRUE(is_retryable(server("57P01")));
  EXPECT_TRUE(is_retryable(server("53300")));
  EXPECT_FALSE(is_retryable(server("58P01")));  // requested WAL segment has been removed
  EXPECT_FALSE(is_retryable(server("42704")));
  EXPECT_FALSE(is_retryable(Error(ErrorKind::kIo, "x")));
  EXPECT_FALSE(is_retryable(Error(ErrorKind::kProtocol, "x")));
  EXPECT_FALSE(is_retryable(Error(ErrorKind::kCancelled, "x")));
}

// --- every event in every state ---------------------------------------------

namespace matrix {

constexpr std::uint64_t kAt = kSeg + 100;  // where the stream is in every state below

// A machine in `state`: receive configuration (batched, flush reported,
// reconnects), timeline 1, 100 bytes written into segment 1 and not synced.
Script in_state(State state) {
  Script script(receive_config());
  script.start();
  if (state == State::kConnecting) return script;
  if (state == State::kFetchingHistory) {
    Script fetching(receive_config());
    fetching.start();
    fetching.feed(connected(2, 2, kSeg));
    return fetching;
  }
  script.feed(connected(1, 1, kSeg));
  if (state == State::kStarting) return script;
  script.feed(stream_event::CopyStarted{at(0ms)});
  script.feed(wal(kSeg, 100));
  switch (state) {
    case State::kStreaming:
      break;
    case State::kDraining:
      script.feed(stream_event::StopRequested{});
      break;
    case State::kEndingCopy:
      script.feed(stream_event::StopAt{StreamPosition{1, Lsn{kAt}}});
      script.feed(synced(1, kAt));
      break;
    case State::kReadingStreamEnd:
      script.feed(stream_event::ServerEndedCopy{});
      break;
    case State::kWaitingToReconnect:
      script.feed(lost());
      break;
    case State::kDone:
      script.feed(stream_event::StopRequested{});
      script.feed(synced(1, kAt));
      break;
    default:
      break;
  }
  return script;
}

std::vector<std::pair<std::string, StreamEvent>> every_event() {
  return {
      {"Connected", connected(2, 1, kSeg)},
      {"HistoryStored", stream_event::HistoryStored{2}},
      {"CopyStarted", stream_event::CopyStarted{at(1ms)}},
      {"WalData", wal(kAt, 10)},
      {"Keepalive", stream_event::Keepalive{true}},
      {"Drained", stream_event::Drained{at(1ms)}},
      {"SyncCompleted", synced(1, kAt)},
      {"RemoteConfirmed", stream_event::RemoteConfirmed{StreamPosition{1, Lsn{kAt}}}},
      {"SpoolFull", stream_event::SpoolFull{}},
      {"SpoolHasRoom", stream_event::SpoolHasRoom{}},
      {"TimerFired", stream_event::TimerFired{at(1h)}},
      {"ServerEndedCopy", stream_event::ServerEndedCopy{}},
      {"TimelineEnded", stream_event::TimelineEnded{2, Lsn{kSeg}}},
      {"StreamingEnded", stream_event::StreamingEnded{}},
      {"StopRequested", stream_event::StopRequested{}},
      {"StopAt", stream_event::StopAt{StreamPosition{1, Lsn{kAt}}}},
      {"ConnectionLost", lost()},
  };
}

constexpr State kEveryState[] = {
    State::kConnecting,       State::kFetchingHistory,    State::kStarting,
    State::kStreaming,        State::kDraining,           State::kEndingCopy,
    State::kReadingStreamEnd, State::kWaitingToReconnect, State::kDone,
};

// Reviewed cell by cell: what each event does in each state (actions joined
// by " | "). Events the driver cannot produce in a state fail as an internal
// error; once done, everything is ignored.
struct MatrixCell {
  State state;
  const char* event;
  State after;
  const char* actions;
};

const MatrixCell kMatrix[] = {
    {State::kConnecting, "Connected", State::kStarting, "StartStreaming 0/100000 on timeline 1"},
    {State::kConnecting, "HistoryStored", State::kDone, "Fail: HistoryStored while connecting"},
    {State::kConnecting, "CopyStarted", State::kDone, "Fail: CopyStarted while connecting"},
    {State::kConnecting, "WalData", State::kDone, "Fail: WalData while connecting"},
    {State::kConnecting, "Keepalive", State::kDone, "Fail: Keepalive while connecting"},
    {State::kConnecting, "Drained", State::kConnecting, ""},
    {State::kConnecting, "SyncCompleted", State::kConnecting, ""},
    {State::kConnecting, "RemoteConfirmed", State::kConnecting, ""},
    {State::kConnecting, "SpoolFull", State::kConnecting, ""},
    {State::kConnecting, "SpoolHasRoom", State::kConnecting, ""},
    {State::kConnecting, "TimerFired", State::kConnecting, ""},
    {State::kConnecting, "ServerEndedCopy", State::kDone, "Fail: ServerEndedCopy while connecting"},
    {State::kConnecting, "TimelineEnded", State::kDone, "Fail: TimelineEnded while connecting"},
    {State::kConnecting, "StreamingEnded", State::kDone, "Fail: StreamingEnded while connecting"},
    {State::kConnecting, "StopRequested", State::kDone, "Finish stop requested"},
    {State::kConnecting, "StopAt", State::kConnecting, ""},
    {State::kConnecting, "ConnectionLost", State::kWaitingToReconnect, "ReconnectAfter 1000ms"},
    {State::kFetchingHistory, "Connected", State::kDone,
     "Fail: Connected while fetching timeline history"},
    {State::kFetchingHistory, "HistoryStored", State::kStarting,
     "StartStreaming 0/100000 on timeline 2"},
    {State::kFetchingHistory, "CopyStarted", State::kDone,
     "Fail: CopyStarted while fetching timeline history"},
    {State::kFetchingHistory, "WalData", State::kDone,
     "Fail: WalData while fetching timeline history"},
    {State::kFetchingHistory, "Keepalive", State::kDone,
     "Fail: Keepalive while fetching timeline history"},
    {State::kFetchingHistory, "Drained", State::kFetchingHistory, ""},
    {State::kFetchingHistory, "SyncCompleted", State::kFetchingHistory, ""},
    {State::kFetchingHistory, "RemoteConfirmed", State::kFetchingHistory, ""},
    {State::kFetchingHistory, "SpoolFull", State::kFetchingHistory, ""},
    {State::kFetchingHistory, "SpoolHasRoom", State::kFetchingHistory, ""},
    {State::kFetchingHistory, "TimerFired", State::kFetchingHistory, ""},
    {State::kFetchingHistory, "ServerEndedCopy", State::kDone,
     "Fail: ServerEndedCopy while fetching timeline history"},
    {State::kFetchingHistory, "TimelineEnded", State::kDone,
     "Fail: TimelineEnded while fetching timeline history"},
    {State::kFetchingHistory, "StreamingEnded", State::kDone,
     "Fail: StreamingEnded while fetching timeline history"},
    {State::kFetchingHistory, "StopRequested", State::kDone, "Finish stop requested"},
    {State::kFetchingHistory, "StopAt", State::kFetchingHistory, ""},
    {State::kFetchingHistory, "ConnectionLost", State::kWaitingToReconnect,
     "ReconnectAfter 1000ms"},
    {State::kStarting, "Connected", State::kDone, "Fail: Connected while starting replication"},
    {State::kStarting, "HistoryStored", State::kDone,
     "Fail: HistoryStored while starting replication"},
    {State::kStarting, "CopyStarted", State::kStreaming,
     "SendStatus write 0/100000 flush 0/100000"},
    {State::kStarting, "WalData", State::kDone, "Fail: WalData while starting replication"},
    {State::kStarting, "Keepalive", State::kDone, "Fail: Keepalive while starting replication"},
    {State::kStarting, "Drained", State::kStarting, ""},
    {State::kStarting, "SyncCompleted", State::kStarting, ""},
    {State::kStarting, "RemoteConfirmed", State::kStarting, ""},
    {State::kStarting, "SpoolFull", State::kStarting, ""},
    {State::kStarting, "SpoolHasRoom", State::kStarting, ""},
    {State::kStarting, "TimerFired", State::kStarting, ""},
    {State::kStarting, "ServerEndedCopy", State::kDone,
     "Fail: ServerEndedCopy while starting replication"},
    {State::kStarting, "TimelineEnded", State::kFetchingHistory, "FetchTimelineHistory 2"},
    {State::kStarting, "StreamingEnded", State::kWaitingToReconnect, "ReconnectAfter 1000ms"},
    {State::kStarting, "StopRequested", State::kDone, "Finish stop requested"},
    {State::kStarting, "StopAt", State::kStarting, ""},
    {State::kStarting, "ConnectionLost", State::kWaitingToReconnect, "ReconnectAfter 1000ms"},
    {State::kStreaming, "Connected", State::kDone, "Fail: Connected while streaming"},
    {State::kStreaming, "HistoryStored", State::kDone, "Fail: HistoryStored while streaming"},
    {State::kStreaming, "CopyStarted", State::kDone, "Fail: CopyStarted while streaming"},
    {State::kStreaming, "WalData", State::kStreaming, "WriteWal 0/100064 on timeline 1 +10"},
    {State::kStreaming, "Keepalive", State::kStreaming, ""},
    {State::kStreaming, "Drained", State::kStreaming, ""},
    {State::kStreaming, "SyncCompleted", State::kStreaming,
     "SendStatus write 0/100064 flush 0/100064"},
    {State::kStreaming, "RemoteConfirmed", State::kStreaming, ""},
    {State::kStreaming, "SpoolFull", State::kStreaming, ""},
    {State::kStreaming, "SpoolHasRoom", State::kStreaming, ""},
    {State::kStreaming, "TimerFired", State::kStreaming,
     "SendStatus write 0/100064 flush 0/100000"},
    {State::kStreaming, "ServerEndedCopy", State::kReadingStreamEnd,
     "SendCopyDone | ReadStreamEnd"},
    {State::kStreaming, "TimelineEnded", State::kDone, "Fail: TimelineEnded while streaming"},
    {State::kStreaming, "StreamingEnded", State::kDone, "Fail: StreamingEnded while streaming"},
    {State::kStreaming, "StopRequested", State::kDraining, "RequestSync 0/100064 on timeline 1"},
    {State::kStreaming, "StopAt", State::kDraining, "RequestSync 0/100064 on timeline 1"},
    {State::kStreaming, "ConnectionLost", State::kWaitingToReconnect,
     "RequestSync 0/100064 on timeline 1 | CloseSegment | ReconnectAfter 1000ms"},
    {State::kDraining, "Connected", State::kDone,
     "Fail: Connected while making WAL durable before ending"},
    {State::kDraining, "HistoryStored", State::kDone,
     "Fail: HistoryStored while making WAL durable before ending"},
    {State::kDraining, "CopyStarted", State::kDone,
     "Fail: CopyStarted while making WAL durable before ending"},
    {State::kDraining, "WalData", State::kDraining, ""},
    {State::kDraining, "Keepalive", State::kDraining, ""},
    {State::kDraining, "Drained", State::kDraining, ""},
    {State::kDraining, "SyncCompleted", State::kDone,
     "SendStatus write 0/100064 flush 0/100064 | Finish stop requested"},
    {State::kDraining, "RemoteConfirmed", State::kDraining, ""},
    {State::kDraining, "SpoolFull", State::kDraining, ""},
    {State::kDraining, "SpoolHasRoom", State::kDraining, ""},
    {State::kDraining, "TimerFired", State::kDraining, "SendStatus write 0/100064 flush 0/100000"},
    {State::kDraining, "ServerEndedCopy", State::kReadingStreamEnd, "SendCopyDone | ReadStreamEnd"},
    {State::kDraining, "TimelineEnded", State::kDone,
     "Fail: TimelineEnded while making WAL durable before ending"},
    {State::kDraining, "StreamingEnded", State::kDone,
     "Fail: StreamingEnded while making WAL durable before ending"},
    {State::kDraining, "StopRequested", State::kDraining, ""},
    {State::kDraining, "StopAt", State::kDraining, ""},
    {State::kDraining, "ConnectionLost", State::kDone, "Finish stop requested"},
    {State::kEndingCopy, "Connected", State::kDone, "Fail: Connected while ending the stream"},
    {State::kEndingCopy, "HistoryStored", State::kDone,
     "Fail: HistoryStored while ending the stream"},
    {State::kEndingCopy, "CopyStarted", State::kDone, "Fail: CopyStarted while ending the stream"},
    {State::kEndingCopy, "WalData", State::kEndingCopy, ""},
    {State::kEndingCopy, "Keepalive", State::kEndingCopy, ""},
    {State::kEndingCopy, "Drained", State::kEndingCopy, ""},
    {State::kEndingCopy, "SyncCompleted", State::kEndingCopy, ""},
    {State::kEndingCopy, "RemoteConfirmed", State::kEndingCopy, ""},
    {State::kEndingCopy, "SpoolFull", State::kEndingCopy, ""},
    {State::kEndingCopy, "SpoolHasRoom", State::kEndingCopy, ""},
    {State::kEndingCopy, "TimerFired", State::kEndingCopy, ""},
    {State::kEndingCopy, "ServerEndedCopy", State::kReadingStreamEnd, "ReadStreamEnd"},
    {State::kEndingCopy, "TimelineEnded", State::kDone,
     "Fail: TimelineEnded while ending the stream"},
    {State::kEndingCopy, "StreamingEnded", State::kDone,
     "Fail: StreamingEnded while ending the stream"},
    {State::kEndingCopy, "StopRequested", State::kDone, "Finish stop requested"},
    {State::kEndingCopy, "StopAt", State::kEndingCopy, ""},
    {State::kEndingCopy, "ConnectionLost", State::kDone, "Finish stop position"},
    {State::kReadingStreamEnd, "Connected", State::kDone,
     "Fail: Connected while reading the end of the stream"},
    {State::kReadingStreamEnd, "HistoryStored", State::kDone,
     "Fail: HistoryStored while reading the end of the stream"},
    {State::kReadingStreamEnd, "CopyStarted", State::kDone,
     "Fail: CopyStarted while reading the end of the stream"},
    {State::kReadingStreamEnd, "WalData", State::kDone,
     "Fail: WalData while reading the end of the stream"},
    {State::kReadingStreamEnd, "Keepalive", State::kDone,
     "Fail: Keepalive while reading the end of the stream"},
    {State::kReadingStreamEnd, "Drained", State::kReadingStreamEnd, ""},
    {State::kReadingStreamEnd, "SyncCompleted", State::kReadingStreamEnd, ""},
    {State::kReadingStreamEnd, "RemoteConfirmed", State::kReadingStreamEnd, ""},
    {State::kReadingStreamEnd, "SpoolFull", State::kReadingStreamEnd, ""},
    {State::kReadingStreamEnd, "SpoolHasRoom", State::kReadingStreamEnd, ""},
    {State::kReadingStreamEnd, "TimerFired", State::kReadingStreamEnd, ""},
    {State::kReadingStreamEnd, "ServerEndedCopy", State::kDone,
     "Fail: ServerEndedCopy while reading the end of the stream"},
    {State::kReadingStreamEnd, "TimelineEnded", State::kFetchingHistory,
     "RequestSync 0/100064 on timeline 1 | CloseSegment | FetchTimelineHistory 2"},
    {State::kReadingStreamEnd, "StreamingEnded", State::kWaitingToReconnect,
     "RequestSync 0/100064 on timeline 1 | CloseSegment | ReconnectAfter 1000ms"},
    {State::kReadingStreamEnd, "StopRequested", State::kDone, "Finish stop requested"},
    {State::kReadingStreamEnd, "StopAt", State::kReadingStreamEnd, ""},
    {State::kReadingStreamEnd, "ConnectionLost", State::kWaitingToReconnect,
     "RequestSync 0/100064 on timeline 1 | CloseSegment | ReconnectAfter 1000ms"},
    {State::kWaitingToReconnect, "Connected", State::kDone,
     "Fail: Connected while waiting to reconnect"},
    {State::kWaitingToReconnect, "HistoryStored", State::kDone,
     "Fail: HistoryStored while waiting to reconnect"},
    {State::kWaitingToReconnect, "CopyStarted", State::kDone,
     "Fail: CopyStarted while waiting to reconnect"},
    {State::kWaitingToReconnect, "WalData", State::kDone,
     "Fail: WalData while waiting to reconnect"},
    {State::kWaitingToReconnect, "Keepalive", State::kDone,
     "Fail: Keepalive while waiting to reconnect"},
    {State::kWaitingToReconnect, "Drained", State::kWaitingToReconnect, ""},
    {State::kWaitingToReconnect, "SyncCompleted", State::kWaitingToReconnect, ""},
    {State::kWaitingToReconnect, "RemoteConfirmed", State::kWaitingToReconnect, ""},
    {State::kWaitingToReconnect, "SpoolFull", State::kWaitingToReconnect, ""},
    {State::kWaitingToReconnect, "SpoolHasRoom", State::kWaitingToReconnect, ""},
    {State::kWaitingToReconnect, "TimerFired", State::kConnecting, "Connect"},
    {State::kWaitingToReconnect, "ServerEndedCopy", State::kDone,
     "Fail: ServerEndedCopy while waiting to reconnect"},
    {State::kWaitingToReconnect, "TimelineEnded", State::kDone,
     "Fail: TimelineEnded while waiting to reconnect"},
    {State::kWaitingToReconnect, "StreamingEnded", State::kDone,
     "Fail: StreamingEnded while waiting to reconnect"},
    {State::kWaitingToReconnect, "StopRequested", State::kDone, "Finish stop requested"},
    {State::kWaitingToReconnect, "StopAt", State::kWaitingToReconnect, ""},
    {State::kWaitingToReconnect, "ConnectionLost", State::kWaitingToReconnect, ""},
    {State::kDone, "Connected", State::kDone, ""},
    {State::kDone, "HistoryStored", State::kDone, ""},
    {State::kDone, "CopyStarted", State::kDone, ""},
    {State::kDone, "WalData", State::kDone, ""},
    {State::kDone, "Keepalive", State::kDone, ""},
    {State::kDone, "Drained", State::kDone, ""},
    {State::kDone, "SyncCompleted", State::kDone, ""},
    {State::kDone, "RemoteConfirmed", State::kDone, ""},
    {State::kDone, "SpoolFull", State::kDone, ""},
    {State::kDone, "SpoolHasRoom", State::kDone, ""},
    {State::kDone, "TimerFired", State::kDone, ""},
    {State::kDone, "ServerEndedCopy", State::kDone, ""},
    {State::kDone, "TimelineEnded", State::kDone, ""},
    {State::kDone, "StreamingEnded", State::kDone, ""},
    {State::kDone, "StopRequested", State::kDone, ""},
    {State::kDone, "StopAt", State::kDone, ""},
    {State::kDone, "ConnectionLost", State::kDone, ""},
};

}  // namespace matrix

TEST(WalStreamMachineMatrixTest, EveryEventInEveryState) {
  std::size_t checked = 0;
  for (State state : matrix::kEveryState) {
    for (const auto& [name, event] : matrix::every_event()) {
      const auto cell = std::find_if(
          std::begin(matrix::kMatrix), std::end(matrix::kMatrix),
          [&](const matrix::MatrixCell& c) { return c.state == state && name == c.event; });
      ASSERT_NE(cell, std::end(matrix::kMatrix)) << to_string(state) << " x " << name;
      Script script = matrix::in_state(state);
      ASSERT_EQ(script.state(), state);
      const Actions actions = script.feed(event);
      std::string joined;
      for (const auto& a : actions) joined += (joined.empty() ? "" : " | ") + a;
      EXPECT_EQ(joined, cell->actions) << to_string(state) << " x " << name;
      EXPECT_EQ(script.state(), cell->after) << to_string(state) << " x " << name;
      ++checked;
    }
  }
  EXPECT_EQ(checked, std::size(matrix::kMatrix));
}

// Regenerates kMatrix (WALSTREAM_PRINT_MATRIX=1) for review after a change of
// behaviour.
TEST(WalStreamMachineMatrixTest, PrintsEveryEventInEveryState) {
  if (std::getenv("WALSTREAM_PRINT_MATRIX") == nullptr) GTEST_SKIP();
  for (State state : matrix::kEveryState) {
    for (const auto& [name, event] : matrix::every_event()) {
      Script script = matrix::in_state(state);
      ASSERT_EQ(script.state(), state);
      const Actions actions = script.feed(event);
      std::string joined;
      for (const auto& a : actions) joined += (joined.empty() ? "" : " | ") + a;
      std::printf("{S::%s, \"%s\", S::%s, \"%s\"},\n", to_string(state), name.c_str(),
                  to_string(script.state()), joined.c_str());
    }
  }
}

// --- remote acknowledgement (--ack=remote) ----------------------------------

stream_event::RemoteConfirmed remote(std::uint32_t timeline, std::uint64_t lsn) {
  return stream_event::RemoteConfirmed{StreamPosition{timeline, Lsn{lsn}}};
}

WalStreamConfig remote_ack_config() {
  WalStreamConfig config = receive_config();
  config.remote_ack = true;
  return config;
}

TEST(WalStreamMachineTest, RemoteAckClaimsNothingBeforeTheFirstConfirmation) {
  Script script(remote_ack_config());
  script.start();
  script.feed(connected(1, 1, kSeg));
  EXPECT_EQ(script.feed(stream_event::CopyStarted{at(0ms)}),
            Actions{"SendStatus write " + lsn(kSeg) + " flush 0/0"});
  script.feed(wal(kSeg, 100));
  script.feed(stream_event::Drained{at(10ms)});
  EXPECT_EQ(script.feed(stream_event::TimerFired{at(210ms)}),
            Actions{"RequestSync " + pos(1, kSeg + 100)});
  EXPECT_EQ(script.feed(synced(1, kSeg + 100)), Actions{})
      << "durable here is not enough: nothing is in the bucket";
  EXPECT_EQ(script.feed(stream_event::TimerFired{at(10'000ms)}),
            Actions{"SendStatus write " + lsn(kSeg + 100) + " flush 0/0"});
}

TEST(WalStreamMachineTest, RemoteAckReportsTheOlderOfDurableAndConfirmed) {
  Script script(remote_ack_config());
  script.start();
  script.feed(connected(1, 1, kSeg));
  script.feed(stream_event::CopyStarted{at(0ms)});
  script.feed(wal(kSeg, kSeg));
  script.feed(wal(2 * kSeg, 100));
  script.feed(stream_event::Drained{at(1ms)});
  script.feed(stream_event::TimerFired{at(300ms)});
  EXPECT_EQ(script.feed(synced(1, 2 * kSeg + 100)), Actions{});
  // The first segment is in the bucket: reported up to its end, not further.
  EXPECT_EQ(script.feed(remote(1, 2 * kSeg)),
            Actions{"SendStatus write " + lsn(2 * kSeg + 100) + " flush " + lsn(2 * kSeg)});
  EXPECT_EQ(script.feed(remote(1, 2 * kSeg)), Actions{}) << "nothing new: no status";
  // Confirmed past what is durable here (cannot happen, but never claimed).
  EXPECT_EQ(script.feed(remote(1, 3 * kSeg)),
            Actions{"SendStatus write " + lsn(2 * kSeg + 100) + " flush " + lsn(2 * kSeg + 100)});
  // An older confirmation arriving late does not take the position back.
  EXPECT_EQ(script.feed(remote(1, kSeg)), Actions{});
  EXPECT_EQ(script.feed(stream_event::TimerFired{at(10'000ms)}),
            Actions{"SendStatus write " + lsn(2 * kSeg + 100) + " flush " + lsn(2 * kSeg + 100)});
}

TEST(WalStreamMachineTest, RemoteConfirmationOutsideACopySendsNothing) {
  Script script(remote_ack_config());
  script.start();
  script.feed(connected(1, 1, kSeg));
  script.feed(stream_event::CopyStarted{at(0ms)});
  script.feed(wal(kSeg, kSeg));
  script.feed(stream_event::Drained{at(1ms)});
  script.feed(stream_event::TimerFired{at(300ms)});
  script.feed(synced(1, 2 * kSeg));
  EXPECT_EQ(script.feed(lost()), Actions{"ReconnectAfter 1000ms"});
  EXPECT_EQ(script.feed(remote(1, 2 * kSeg)), Actions{});
  EXPECT_EQ(script.feed(stream_event::TimerFired{at(2s)}), Actions{"Connect"});
  script.feed(connected(1));
  EXPECT_EQ(script.feed(stream_event::CopyStarted{at(2s)}),
            Actions{"SendStatus write " + lsn(2 * kSeg) + " flush " + lsn(2 * kSeg)})
      << "the confirmation received meanwhile counts";
}

// --- back-pressure from the spool (receive into a bucket) -------------------

TEST(WalStreamMachineTest, AFullSpoolPausesReadingAndTheStatusKeepsGoing) {
  Script script = streaming_receiver();
  script.feed(wal(kSeg, 100));
  script.feed(stream_event::Drained{at(10ms)});
  EXPECT_FALSE(script.machine().reading_paused());
  EXPECT_EQ(script.feed(stream_event::SpoolFull{}), Actions{});
  EXPECT_TRUE(script.machine().reading_paused());
  // What was written is still made durable and reported on time.
  EXPECT_EQ(script.machine().next_deadline(), at(210ms));
  EXPECT_EQ(script.feed(stream_event::TimerFired{at(210ms)}),
            Actions{"RequestSync " + pos(1, kSeg + 100)});
  EXPECT_EQ(script.feed(synced(1, kSeg + 100)),
            Actions{"SendStatus write " + lsn(kSeg + 100) + " flush " + lsn(kSeg + 100)});
  // Paused for longer than the status interval: the server still hears from
  // us, so its wal_sender_timeout does not end the connection.
  ASSERT_EQ(script.machine().next_deadline(), at(10'000ms));
  EXPECT_EQ(script.feed(stream_event::TimerFired{at(10'000ms)}),
            Actions{"SendStatus write " + lsn(kSeg + 100) + " flush " + lsn(kSeg + 100)});
  EXPECT_TRUE(script.machine().reading_paused());
  EXPECT_EQ(script.feed(stream_event::SpoolHasRoom{}), Actions{});
  EXPECT_FALSE(script.machine().reading_paused());
  EXPECT_EQ(script.feed(wal(kSeg + 100, 100)), Actions{"WriteWal " + pos(1, kSeg + 100) + " +100"});
}

TEST(WalStreamMachineTest, AFullSpoolStaysFullAcrossAReconnection) {
  Script script = streaming_receiver();
  script.feed(stream_event::SpoolFull{});
  EXPECT_EQ(script.feed(lost()), Actions{"ReconnectAfter 1000ms"});
  EXPECT_FALSE(script.machine().reading_paused()) << "not streaming: nothing to read";
  script.feed(stream_event::TimerFired{at(2s)});
  script.feed(connected(1));
  script.feed(stream_event::CopyStarted{at(2s)});
  EXPECT_TRUE(script.machine().reading_paused())
      << "the uploads did not catch up while reconnecting";
  script.feed(stream_event::SpoolHasRoom{});
  EXPECT_FALSE(script.machine().reading_paused());
}

TEST(WalStreamMachineTest, AStopWhilePausedEndsWithoutReading) {
  Script script = streaming_receiver();
  script.feed(wal(kSeg, 100));
  script.feed(stream_event::SpoolFull{});
  EXPECT_EQ(script.feed(stream_event::StopRequested{}),
            Actions{"RequestSync " + pos(1, kSeg + 100)});
  EXPECT_FALSE(script.machine().reading_paused()) << "draining reads to see the server's end";
  EXPECT_EQ(script.feed(synced(1, kSeg + 100)),
            (Actions{"SendStatus write " + lsn(kSeg + 100) + " flush " + lsn(kSeg + 100),
                     "Finish stop requested"}));
}

TEST(WalStreamMachineTest, LocalAckReportsWhatIsDurableWithoutConfirmation) {
  Script script = streaming_receiver();
  script.feed(wal(kSeg, 100));
  script.feed(stream_event::Drained{at(10ms)});
  script.feed(stream_event::TimerFired{at(210ms)});
  EXPECT_EQ(script.feed(synced(1, kSeg + 100)),
            Actions{"SendStatus write " + lsn(kSeg + 100) + " flush " + lsn(kSeg + 100)});
}

}  // namespace
}  // namespace walstream::walreceiver
