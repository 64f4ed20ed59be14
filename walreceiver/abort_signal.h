// Shared stop switch for the coroutines of one command. Whoever fails first
// (a session, or the SIGINT/SIGTERM handler) records why and wakes every
// registered waiter, so the other coroutines stop at their next await instead
// of blocking on a socket that will never become readable.
#pragma once

#include <exception>
#include <functional>
#include <utility>
#include <vector>

namespace walstream::walreceiver {

class AbortSignal {
 public:
  // Records the first reason only; later ones are consequences of it.
  void abort(std::exception_ptr reason) {
    if (reason_) return;
    reason_ = reason;
    for (auto& [id, wake] : wakers_) wake();
  }
  bool aborted() const { return reason_ != nullptr; }
  // Rethrows the recorded reason, if any.
  void throw_if_aborted() const {
    if (reason_) std::rethrow_exception(reason_);
  }
  // Returns a handle for remove_waker; the waker must stay callable until then.
  int add_waker(std::function<void()> wake) {
    wakers_.emplace_back(++last_id_, std::move(wake));
    return last_id_;
  }
  void remove_waker(int id) {
    std::erase_if(wakers_, [id](const auto& entry) { return entry.first == id; });
  }

 private:
  std::exception_ptr reason_;
  int last_id_ = 0;
  std::vector<std::pair<int, std::function<void()>>> wakers_;
};

}  // namespace walstream::walreceiver
