// One status line on a terminal, redrawn in place (stderr). Log lines go to
// the same terminal: while a LiveLine exists, the logger erases the line
// before each log line and draws it again after, so neither garbles the
// other. The line is erased when the LiveLine goes (at exit, and before an
// error is printed).
#pragma once

#include <cstddef>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>

namespace walstream::tools {

class LiveLine {
 public:
  // Hooks into the default logger; `out` should be a terminal.
  explicit LiveLine(std::FILE* out = stderr);
  // Erases the line and unhooks from the logger.
  ~LiveLine();
  LiveLine(const LiveLine&) = delete;
  LiveLine& operator=(const LiveLine&) = delete;

  // Replaces the line with `text` (cut to the terminal's width).
  void show(std::string text);
  // Removes the line from the screen (show() brings it back).
  void erase();

  // For the logger hooks: take the line off the screen around a log line.
  void hide_for_log();
  void restore_after_log();

 private:
  void erase_locked();
  void draw_locked();

  std::FILE* out_;
  std::mutex mutex_;
  std::string text_;
  std::size_t drawn_width_ = 0;  // what is on the screen now; 0: nothing
  struct LoggerHooks;
  std::unique_ptr<LoggerHooks> hooks_;
};

}  // namespace walstream::tools
