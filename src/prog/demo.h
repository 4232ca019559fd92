// `shardnet demo`: the one-command tour.
#pragma once

namespace sn {

struct DemoOptions {
  bool force_wire = false;  // the in-memory wire even when root
};

// As root: a network namespace and a TAP device, the engine on it, Linux's
// ping (small and fragmented) and UDP echo through it, the counters, then
// everything removed. Otherwise the same tour between two engines on the
// in-memory wire. Returns the process exit code (0: every check passed).
int run_demo(const DemoOptions& options, const char* argv0);

}  // namespace sn
