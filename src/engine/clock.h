// The engine's real clock. Only the engine and programs read it; everything
// below is handed the time it returns.
#pragma once

#include <chrono>

#include "base/time.h"

namespace sn {

inline Instant steady_now() {
  return Instant::from_ns(std::chrono::duration_cast<std::chrono::nanoseconds>(
                              std::chrono::steady_clock::now().time_since_epoch())
                              .count());
}

}  // namespace sn
