// Quoting of server-supplied names (archive names, tar member paths) for error
// messages.
#pragma once

#include <string>
#include <string_view>

namespace walstream::protocol {

// The bytes come from the server and are untrusted: wraps `text` in double
// quotes, escapes '"', '\' and anything unprintable (as \xNN) so that it cannot
// garble a terminal or log line, and caps the length so that a huge name cannot
// flood the message ("..." marks the cut).
std::string quote_untrusted(std::string_view text);

}  // namespace walstream::protocol
