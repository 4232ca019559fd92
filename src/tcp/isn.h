// Initial sequence numbers (RFC 6528): ISN = M + F(localip, localport, remoteip,
// remoteport, secretkey), where M is a clock ticking every 4 microseconds and F
// is a keyed hash of the connection's 4-tuple. The clock keeps successive
// incarnations of one 4-tuple moving forward (RFC 9293 §3.4.1); the hash gives
// each 4-tuple its own, unguessable, offset, so an off-path attacker cannot
// predict another connection's ISN from its own (RFC 6528 §1, §3).
//
// Differences worth knowing:
// - RFC 6528 §3 suggests MD5 for F; we use SipHash-2-4 (siphash.h), as Linux
//   does (secure_tcp_seq in net/core/secure_seq.c). Any keyed PRF that cannot
//   be computed from outside satisfies §3.
// - Linux's M ticks every 64 ns (seq_scale: ns >> 6), wrapping the 32-bit space
//   in about 4.6 minutes; we keep the RFC's 4 us, which wraps in about 4.8 hours.
#pragma once

#include <cstdint>

#include "base/time.h"
#include "tcp/siphash.h"
#include "wire/address.h"
#include "wire/seqnum.h"

namespace sn {

// F of RFC 6528 §3: SipHash-2-4, keyed by `secret`, of the 12 bytes
//   local address (4) | local port (2) | remote address (4) | remote port (2)
// each big-endian (network order), truncated to the low 32 bits of the 64-bit
// result. "Local" and "remote" are from this host's side, so the two ends of
// one connection hash different inputs. Exposed for SYN cookies, which need the
// same kind of keyed tuple hash (under their own secret).
uint32_t hash_tuple(const SipKey& secret, Ipv4Address local, L4Port lport, Ipv4Address remote,
                    L4Port rport);

// M of RFC 6528 §3: `now` in 4-microsecond ticks, modulo 2^32 (floored, so it
// stays monotonic even for Instants before the clock's origin).
uint32_t isn_clock(Instant now);

class IsnGenerator {
 public:
  // RFC 6528 §3: the secret must be unknown to an attacker; the shard hands in
  // 16 bytes from a random source. Changing it re-bases every tuple's ISN and
  // loses the per-tuple monotonicity that keeps old duplicates out (RFC 9293
  // §3.4.1), so keep one secret for the life of the stack, and give every
  // shard the same one.
  explicit IsnGenerator(const SipKey& secret) : secret_(secret) {}

  // ISN = M + F (RFC 6528 §3), modulo 2^32.
  SeqNum isn(Ipv4Address local, L4Port lport, Ipv4Address remote, L4Port rport, Instant now) const {
    return SeqNum{isn_clock(now) + hash_tuple(secret_, local, lport, remote, rport)};
  }

 private:
  SipKey secret_;
};

}  // namespace sn
