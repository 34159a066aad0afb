#include "core/env.h"

#include <charconv>

namespace keel::core {

void Clock::sleep_until(Instant at) {
  Scheduler& sched = fibers_;
  const FiberId self = sched.current();
  bool fired = false;
  const TimerId timer = schedule(at, [&sched, self, &fired] {
    fired = true;
    sched.unpark(self);
  });
  // If this fiber is killed while parked, the timer must not touch `fired`.
  struct CancelOnUnwind {
    Clock& clock;
    TimerId timer;
    bool& fired;
    ~CancelOnUnwind() {
      if (!fired) clock.cancel(timer);
    }
  } guard{*this, timer, fired};
  while (!fired) sched.park();
}

Result<Address> Address::parse(std::string_view text) {
  const size_t colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == text.size()) {
    return invalid_argument("address '" + std::string(text) + "' is not host:port");
  }
  unsigned port = 0;
  const char* first = text.data() + colon + 1;
  const char* last = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(first, last, port);
  if (ec != std::errc() || ptr != last || port == 0 || port > 65535) {
    return invalid_argument("address '" + std::string(text) + "' has no valid port");
  }
  Address a;
  a.host = std::string(text.substr(0, colon));
  a.port = static_cast<uint16_t>(port);
  return a;
}

}  // namespace keel::core
