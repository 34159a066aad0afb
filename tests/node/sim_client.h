// A client host for node tests that run servers in a sim::World.
#pragma once

#include <functional>
#include <string>

#include "sim/world.h"

namespace keel::testing {

// Runs `fn` on a new host named "c<n>" (n counts the calls through
// `clients`) until it returns; false if it did not finish within a minute
// of simulated time.
inline bool run_sim_client(sim::World& world, int& clients, const std::function<void(core::Env&)>& fn) {
  bool done = false;
  const sim::HostId host = world.add_host("c" + std::to_string(++clients), [&](core::Env& env) {
    fn(env);
    done = true;
  });
  world.start(host);
  world.run_for(core::Duration::seconds(60), [&] { return done; });
  return done;
}

}  // namespace keel::testing
