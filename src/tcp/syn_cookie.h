// SYN cookies (RFC 4987 §3.6): when a listener's SYN queue is full, the
// SYN-ACK's ISN encodes what the connection needs, keyed so only this stack
// can make one, and no state is kept. A returning ACK whose ACK - 1 checks
// out rebuilds the connection.
//
// Our layout of the 32-bit cookie (D. J. Bernstein's idea; the layout is ours):
//   bits 31..27  t mod 32, where t counts 64-second ticks of `now`
//   bits 26..25  an index into kCookieMss (the MSS the peer offered, rounded down)
//   bits 24..0   the low 25 bits of SipHash-2-4(secret, tuple | peer ISN | t | index)
// A cookie is valid for two ticks after the one it was made in (64-192 s).
//
// The options beyond MSS go where Linux puts them: in the low bits of the
// SYN-ACK's TSval, which the peer echoes in TSecr (RFC 7323 §4.3). Without
// timestamps the peer's window scale and SACK-permitted are lost, and the
// connection runs without them, as on Linux.
#pragma once

#include <array>
#include <cstdint>
#include <optional>

#include "base/time.h"
#include "tcp/siphash.h"
#include "wire/address.h"
#include "wire/seqnum.h"
#include "wire/tcp.h"

namespace sn {

inline constexpr std::array<uint16_t, 4> kCookieMss = {536, 1300, 1440, 1460};

// What a cookie's connection remembers of the SYN.
struct CookieOptions {
  uint16_t mss = 536;
  std::optional<uint8_t> window_scale;  // the peer's shift
  bool sack_permitted = false;
};

class SynCookies {
 public:
  explicit SynCookies(const SipKey& secret) : secret_(secret) {}

  // The ISN of a SYN-ACK answering a SYN with sequence number `peer_isn`.
  // `local` is this host's side. The MSS used is the largest table entry not
  // above `peer_mss` (536 if absent).
  SeqNum make(Ipv4Address local, L4Port lport, Ipv4Address remote, L4Port rport, SeqNum peer_isn,
              std::optional<uint16_t> peer_mss, Instant now) const;
  // The MSS a cookie made from `peer_mss` carries.
  static uint16_t cookie_mss(std::optional<uint16_t> peer_mss);

  // Checks `cookie` (SEG.ACK - 1 of the returning ACK) against the tuple and
  // `peer_isn` (SEG.SEQ - 1). Returns the MSS it carries, or nullopt.
  std::optional<uint16_t> check(Ipv4Address local, L4Port lport, Ipv4Address remote, L4Port rport,
                                SeqNum peer_isn, SeqNum cookie, Instant now) const;

  // The SYN-ACK's TSval: the ms clock with its low 5 bits replaced by the
  // options, moved back one step of 32 ms so it never runs ahead of the
  // clock (the connection's later TSvals must not go backwards).
  static uint32_t encode_tsval(uint32_t now_ms, std::optional<uint8_t> peer_wscale, bool sack);
  // The options a TSecr carries back. `mss` is the cookie's.
  static CookieOptions decode_tsecr(uint32_t tsecr, uint16_t mss);

 private:
  uint32_t mac(Ipv4Address local, L4Port lport, Ipv4Address remote, L4Port rport, SeqNum peer_isn,
               uint32_t tick, uint32_t mss_index) const;

  SipKey secret_;
};

}  // namespace sn
