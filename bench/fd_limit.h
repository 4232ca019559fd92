// Shared by the benchmark's Linux-socket programs (sn-loadgen, sn-linux-server).
#pragma once

#include <sys/resource.h>

namespace sn::bench {

// Lets the process hold as many sockets as it may: the hard limit, raised
// (as root) to what the scale runs need.
inline void raise_fd_limit() {
  rlimit r{};
  if (::getrlimit(RLIMIT_NOFILE, &r) != 0) return;
  constexpr rlim_t kWanted = 1 << 20;  // Linux's default fs.nr_open
  if (r.rlim_max < kWanted) {
    rlimit up{kWanted, kWanted};
    if (::setrlimit(RLIMIT_NOFILE, &up) == 0) return;
  }
  r.rlim_cur = r.rlim_max;
  ::setrlimit(RLIMIT_NOFILE, &r);
}

}  // namespace sn::bench
