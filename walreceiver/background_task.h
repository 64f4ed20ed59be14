// A coroutine started with co_spawn whose end another coroutine can await on
// the same io_context (Boost 1.74 has no awaitable operators for this).
#pragma once

#include <utility>  // before Asio: Boost 1.74 awaitable.hpp needs std::exchange

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <exception>

#include "walreceiver/abort_signal.h"

namespace walstream::walreceiver {

class BackgroundTask {
 public:
  explicit BackgroundTask(boost::asio::any_io_executor executor) : timer_(executor) {}

  // Starts `work`; if it fails, `abort` is triggered with its error so the
  // other coroutines stop too.
  void start(boost::asio::awaitable<void> work, AbortSignal& abort) {
    running_ = true;
    boost::asio::co_spawn(timer_.get_executor(), std::move(work),
                          [this, &abort](std::exception_ptr error) {
                            running_ = false;
                            error_ = error;
                            if (error) abort.abort(error);
                            timer_.cancel();
                          });
  }

  bool running() const { return running_; }

  // Waits until the task has ended; rethrows its error.
  boost::asio::awaitable<void> join() {
    while (running_) {
      timer_.expires_at(boost::asio::steady_timer::time_point::max());
      boost::system::error_code ec;
      co_await timer_.async_wait(boost::asio::redirect_error(boost::asio::use_awaitable, ec));
    }
    if (error_) std::rethrow_exception(error_);
  }

 private:
  boost::asio::steady_timer timer_;
  bool running_ = false;
  std::exception_ptr error_;
};

}  // namespace walstream::walreceiver
