// SIGINT and SIGTERM abort a command: the first one records a kCancelled
// error naming the signal and what the command leaves behind, and wakes
// every waiter of the AbortSignal. Used by commands that stop by unwinding
// (clone, bench); receive stops gracefully instead.
#pragma once

#include <utility>  // before Asio: Boost 1.74 awaitable.hpp needs std::exchange

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <csignal>
#include <cstring>
#include <string>

#include "protocol/error.h"
#include "walreceiver/abort_signal.h"

namespace walstream::walreceiver {

// Starts waiting for the signals on `signals` (made for SIGINT and SIGTERM);
// cancel it once the command is done. `outcome` ends the message, e.g.
// "the incomplete clone was removed".
inline void abort_on_signals(boost::asio::signal_set& signals, AbortSignal& abort,
                             std::string outcome) {
  signals.async_wait([&abort, outcome = std::move(outcome)](const boost::system::error_code& ec,
                                                            int signal_number) {
    if (ec) return;
    abort.abort(std::make_exception_ptr(
        Error(ErrorKind::kCancelled,
              std::string("interrupted by ") + ::strsignal(signal_number) + "; " + outcome)));
  });
}

}  // namespace walstream::walreceiver
