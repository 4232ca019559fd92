// SYN cookies: see syn_cookie.h for the layout.
#include "tcp/syn_cookie.h"

#include <cstddef>

#include "wire/bytes.h"

namespace sn {

namespace {

constexpr int64_t kTickNs = int64_t{64} * 1'000'000'000;
constexpr uint32_t kMacMask = (1u << 25) - 1;
constexpr uint32_t kMaxAge = 2;     // ticks a cookie stays valid after its own
constexpr uint32_t kNoWscale = 15;  // in the TSval's low 4 bits: no window scale
constexpr uint32_t kSackBit = 1u << 4;

uint32_t tick_of(Instant now) {
  return static_cast<uint32_t>(now.ns() / kTickNs);
}

uint32_t mss_index(std::optional<uint16_t> peer_mss) {
  const uint16_t m = peer_mss.value_or(536);
  uint32_t i = 0;
  for (uint32_t k = 0; k < kCookieMss.size(); ++k)
    if (kCookieMss[k] <= m) i = k;
  return i;
}

}  // namespace

uint32_t SynCookies::mac(Ipv4Address local, L4Port lport, Ipv4Address remote, L4Port rport,
                         SeqNum peer_isn, uint32_t tick, uint32_t mss_index) const {
  std::array<std::byte, 21> in;
  local.store(in.data());
  store16(in.data() + 4, lport.v);
  remote.store(in.data() + 6);
  store16(in.data() + 10, rport.v);
  store32(in.data() + 12, peer_isn.v);
  store32(in.data() + 16, tick);
  in[20] = static_cast<std::byte>(mss_index);
  return static_cast<uint32_t>(siphash24(secret_, in)) & kMacMask;
}

uint16_t SynCookies::cookie_mss(std::optional<uint16_t> peer_mss) {
  return kCookieMss[mss_index(peer_mss)];
}

SeqNum SynCookies::make(Ipv4Address local, L4Port lport, Ipv4Address remote, L4Port rport,
                        SeqNum peer_isn, std::optional<uint16_t> peer_mss, Instant now) const {
  const uint32_t t = tick_of(now);
  const uint32_t i = mss_index(peer_mss);
  return SeqNum{(t & 31) << 27 | i << 25 | mac(local, lport, remote, rport, peer_isn, t, i)};
}

std::optional<uint16_t> SynCookies::check(Ipv4Address local, L4Port lport, Ipv4Address remote,
                                          L4Port rport, SeqNum peer_isn, SeqNum cookie,
                                          Instant now) const {
  const uint32_t now_tick = tick_of(now);
  const uint32_t t5 = cookie.v >> 27;
  const uint32_t i = (cookie.v >> 25) & 3;
  // The tick the cookie was made in: the latest one with these low 5 bits.
  const uint32_t age = (now_tick - t5) & 31;
  if (age > kMaxAge) return std::nullopt;
  const uint32_t t = now_tick - age;
  if (mac(local, lport, remote, rport, peer_isn, t, i) != (cookie.v & kMacMask))
    return std::nullopt;
  return kCookieMss[i];
}

uint32_t SynCookies::encode_tsval(uint32_t now_ms, std::optional<uint8_t> peer_wscale, bool sack) {
  uint32_t bits = peer_wscale ? std::min<uint32_t>(*peer_wscale, kTcpMaxWindowScale) : kNoWscale;
  if (sack) bits |= kSackBit;
  return ((now_ms & ~31u) - 32) | bits;
}

CookieOptions SynCookies::decode_tsecr(uint32_t tsecr, uint16_t mss) {
  CookieOptions o;
  o.mss = mss;
  const uint32_t ws = tsecr & 15;
  if (ws != kNoWscale) o.window_scale = static_cast<uint8_t>(ws);
  o.sack_permitted = (tsecr & kSackBit) != 0;
  return o;
}

}  // namespace sn
