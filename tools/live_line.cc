#include "tools/live_line.h"

#include <spdlog/details/null_mutex.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <vector>

namespace walstream::tools {

namespace {

// Called by the logger for each log line, before (erase) or after (redraw)
// the sink that prints it.
class LiveLineSink : public spdlog::sinks::base_sink<spdlog::details::null_mutex> {
 public:
  LiveLineSink(LiveLine& line, bool before) : line_(line), before_(before) {}

 protected:
  void sink_it_(const spdlog::details::log_msg&) override {
    if (before_) {
      line_.hide_for_log();
    } else {
      line_.restore_after_log();
    }
  }
  void flush_() override {}

 private:
  LiveLine& line_;
  bool before_;
};

// Columns of the terminal; 0 when unknown.
std::size_t terminal_width(std::FILE* out) {
  winsize size{};
  if (::ioctl(::fileno(out), TIOCGWINSZ, &size) != 0) return 0;
  return size.ws_col;
}

}  // namespace

struct LiveLine::LoggerHooks {
  spdlog::sink_ptr before;
  spdlog::sink_ptr after;
};

LiveLine::LiveLine(std::FILE* out) : out_(out), hooks_(std::make_unique<LoggerHooks>()) {
  hooks_->before = std::make_shared<LiveLineSink>(*this, true);
  hooks_->after = std::make_shared<LiveLineSink>(*this, false);
  // Sinks run in order: ours around the one that prints.
  auto& sinks = spdlog::default_logger()->sinks();
  sinks.insert(sinks.begin(), hooks_->before);
  sinks.push_back(hooks_->after);
}

LiveLine::~LiveLine() {
  auto& sinks = spdlog::default_logger()->sinks();
  std::erase_if(sinks, [this](const spdlog::sink_ptr& sink) {
    return sink == hooks_->before || sink == hooks_->after;
  });
  std::lock_guard lock(mutex_);
  erase_locked();
}

void LiveLine::show(std::string text) {
  std::lock_guard lock(mutex_);
  // A line longer than the terminal would wrap, and "\r" goes back to the
  // start of its last row only.
  const std::size_t width = terminal_width(out_);
  if (width > 1 && text.size() > width - 1) text.resize(width - 1);
  text_ = std::move(text);
  draw_locked();
}

void LiveLine::erase() {
  std::lock_guard lock(mutex_);
  text_.clear();
  erase_locked();
}

void LiveLine::hide_for_log() {
  std::lock_guard lock(mutex_);
  erase_locked();
}

void LiveLine::restore_after_log() {
  std::lock_guard lock(mutex_);
  if (!text_.empty()) draw_locked();
}

void LiveLine::erase_locked() {
  if (drawn_width_ == 0) return;
  std::string blank = "\r";
  blank.append(drawn_width_, ' ');
  blank += '\r';
  std::fputs(blank.c_str(), out_);
  std::fflush(out_);
  drawn_width_ = 0;
}

void LiveLine::draw_locked() {
  // Pad over what a longer line before left.
  std::string line = "\r" + text_;
  if (text_.size() < drawn_width_) line.append(drawn_width_ - text_.size(), ' ');
  std::fputs(line.c_str(), out_);
  std::fflush(out_);
  drawn_width_ = std::max(text_.size(), drawn_width_);
}

}  // namespace walstream::tools
