#include "tools/terminal.h"

#include <fcntl.h>
#include <termios.h>
#include <unistd.h>

#include <cstdio>
#include <string>

#include "walreceiver/progress_text.h"

namespace walstream::tools {

std::optional<std::string> prompt_password() {
  int fd = ::open("/dev/tty", O_RDWR | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  termios saved{};
  bool have_termios = ::tcgetattr(fd, &saved) == 0;
  if (have_termios) {
    termios quiet = saved;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    ::tcsetattr(fd, TCSAFLUSH, &quiet);
  }
  const char prompt[] = "Password: ";
  (void)!::write(fd, prompt, sizeof(prompt) - 1);
  std::string password;
  char c = 0;
  while (::read(fd, &c, 1) == 1 && c != '\n' && c != '\r') password += c;
  (void)!::write(fd, "\n", 1);
  if (have_termios) ::tcsetattr(fd, TCSAFLUSH, &saved);
  ::close(fd);
  return password;
}

ProgressPrinter::ProgressPrinter() : tty_(::isatty(STDERR_FILENO) != 0) {}

void ProgressPrinter::update(const walreceiver::CloneProgress& progress) {
  auto now = std::chrono::steady_clock::now();
  auto interval = tty_ ? std::chrono::milliseconds(250) : std::chrono::milliseconds(5000);
  if (!progress.finished && now - last_print_ < interval) return;
  last_print_ = now;
  std::string line = walreceiver::clone_progress_text(progress.bytes_done, progress.bytes_total,
                                                      now - started_, progress.finished);
  if (tty_) {
    // Redrawn in place: pad over what a longer line before left.
    const std::size_t width = line.size();
    if (width < last_width_) line.append(last_width_ - width, ' ');
    last_width_ = width;
    line += progress.finished ? "\n" : "\r";
  } else {
    line += "\n";
  }
  std::fputs(line.c_str(), stderr);
  std::fflush(stderr);
}

}  // namespace walstream::tools
