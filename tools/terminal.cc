#include "tools/terminal.h"

#include <fcntl.h>
#include <termios.h>
#include <unistd.h>

#include <cstdio>

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
  std::uint64_t done_kb = progress.bytes_done / 1024;
  if (progress.bytes_total && *progress.bytes_total > 0) {
    std::uint64_t total_kb = std::max(*progress.bytes_total / 1024, done_kb);
    int percent = static_cast<int>(done_kb * 100 / std::max<std::uint64_t>(total_kb, 1));
    std::fprintf(stderr, "%llu/%llu kB (%d%%)", static_cast<unsigned long long>(done_kb),
                 static_cast<unsigned long long>(total_kb), percent);
  } else {
    std::fprintf(stderr, "%llu kB", static_cast<unsigned long long>(done_kb));
  }
  std::fputs(tty_ && !progress.finished ? "\r" : "\n", stderr);
  std::fflush(stderr);
}

}  // namespace walstream::tools
