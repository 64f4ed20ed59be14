// Drives a WalStreamMachine the way its tests read best: feed one event, get
// the actions it produced, described ("StartStreaming 0/3000000 on timeline
// 2"). Used by the machine's scripted and model tests (walreceiver layer).
#pragma once

#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "walreceiver/wal_stream_machine.h"

namespace walstream::test_support {

using Actions = std::vector<std::string>;

class StreamScript {
 public:
  explicit StreamScript(walreceiver::WalStreamConfig config) : machine_(std::move(config)) {}

  Actions start() {
    machine_.start();
    return take();
  }
  Actions feed(const walreceiver::StreamEvent& event) {
    machine_.on(event);
    return take();
  }
  walreceiver::WalStreamMachine& machine() { return machine_; }
  walreceiver::WalStreamMachine::State state() const { return machine_.state(); }
  // Every flush a status claimed so far.
  const std::vector<protocol::Lsn>& flushes() const { return flushes_; }

 private:
  Actions take() {
    Actions described;
    while (machine_.has_action()) {
      const walreceiver::StreamAction action = machine_.next_action();
      if (const auto* status = std::get_if<walreceiver::stream_action::SendStatus>(&action)) {
        flushes_.push_back(status->flush);
      }
      described.push_back(walreceiver::describe(action));
    }
    return described;
  }

  walreceiver::WalStreamMachine machine_;
  std::vector<protocol::Lsn> flushes_;
};

}  // namespace walstream::test_support
