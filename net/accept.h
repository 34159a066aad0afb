// accept_connections: the accept loop every keel server runs.
//
// Hands each accepted connection to `accepted` until the listener is closed
// (Cancelled) or `stopped()` turns true. Any other accept error (the process
// is out of descriptors, say) is transient: the loop pauses briefly and
// tries again rather than leaving the port dead. May suspend.
#pragma once

#include <functional>
#include <memory>

#include "core/env.h"

namespace keel::net {

inline constexpr core::Duration kAcceptRetryDelay = core::Duration::millis(10);

inline void accept_connections(core::Env& env, core::Listener& listener, const std::function<bool()>& stopped,
                               const std::function<void(std::unique_ptr<core::Stream>)>& accepted) {
  while (!stopped()) {
    core::Result<std::unique_ptr<core::Stream>> stream = listener.accept();
    if (!stream.is_ok()) {
      if (stopped() || stream.status().code() == core::Code::kCancelled) return;
      env.sleep_for(kAcceptRetryDelay);
      continue;
    }
    accepted(std::move(stream).value());
  }
}

}  // namespace keel::net
