// CloseAtDeadline: bounds how long any call on a Stream may block.
//
// While the guard lives, reaching `deadline` closes the stream from the
// event loop, so a fiber blocked in read() or write() returns Cancelled.
// Destroying the guard first cancels the timer. The stream must outlive the
// guard.
#pragma once

#include "core/env.h"

namespace keel::net {

class CloseAtDeadline {
 public:
  CloseAtDeadline(core::Clock& clock, core::Stream& stream, core::Instant deadline)
      : clock_(clock), fired_(std::make_shared<bool>(false)) {
    timer_ = clock_.schedule(deadline, [&stream, fired = fired_] {
      *fired = true;
      stream.close();
    });
  }
  ~CloseAtDeadline() {
    if (!*fired_) clock_.cancel(timer_);
  }
  CloseAtDeadline(const CloseAtDeadline&) = delete;
  CloseAtDeadline& operator=(const CloseAtDeadline&) = delete;

  // True once the deadline closed the stream.
  bool expired() const { return *fired_; }

 private:
  core::Clock& clock_;
  std::shared_ptr<bool> fired_;
  core::TimerId timer_;
};

}  // namespace keel::net
