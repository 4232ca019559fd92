// RFC 6528 §3: the keyed 4-tuple hash F and the 4-microsecond clock M.
#include "tcp/isn.h"

#include <array>
#include <cstddef>

#include "wire/bytes.h"

namespace sn {

uint32_t hash_tuple(const SipKey& secret, Ipv4Address local, L4Port lport, Ipv4Address remote,
                    L4Port rport) {
  // A fixed layout, big-endian, so the hash does not depend on the host.
  std::array<std::byte, 12> in;
  local.store(in.data());
  store16(in.data() + 4, lport.v);
  remote.store(in.data() + 6);
  store16(in.data() + 10, rport.v);
  return static_cast<uint32_t>(siphash24(secret, in));
}

uint32_t isn_clock(Instant now) {
  // RFC 6528 §3: "M is the 4 microsecond timer". Floor division, so ticks are
  // evenly spaced on both sides of zero.
  constexpr int64_t kTickNs = 4000;
  int64_t ticks = now.ns() / kTickNs;
  if (now.ns() % kTickNs < 0) --ticks;
  return static_cast<uint32_t>(ticks);  // modulo 2^32
}

}  // namespace sn
