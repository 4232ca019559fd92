// Splitting TCP super-frames; see gso_split.h.
#include "port/gso_split.h"

#include <algorithm>
#include <cstring>

#include "wire/bytes.h"
#include "wire/checksum.h"

namespace sn {
namespace {

constexpr uint8_t kProtoTcp = 6;
constexpr uint8_t kFin = 0x01, kPsh = 0x08, kCwr = 0x80;

}  // namespace

std::optional<TcpIpv4Shape> tcp_ipv4_shape(std::span<const std::byte> datagram) {
  if (datagram.size() < 40) return std::nullopt;
  const std::byte* ip = datagram.data();
  const uint32_t ihl = (load8(ip) & 0x0f) * 4u;
  const uint32_t total = load16(ip + 2);
  // RFC 791: MF set or a fragment offset: a fragment, which has no TCP header of its own.
  if ((load8(ip) >> 4) != 4 || ihl < 20 || load8(ip + 9) != kProtoTcp ||
      (load16(ip + 6) & 0x3fff) != 0 || total > datagram.size() || total < ihl + 20)
    return std::nullopt;
  const uint32_t thl = (load8(ip + ihl + 12) >> 4) * 4u;
  if (thl < 20 || ihl + thl > total) return std::nullopt;
  return TcpIpv4Shape{ihl, thl, total - ihl - thl};
}

GsoSplitResult gso_split(std::span<const std::byte> link_header,
                         std::span<const std::byte> datagram, uint32_t mtu, uint32_t mss,
                         PacketPool& pool, std::span<PacketPtr> out, size_t& n, uint32_t& done) {
  GsoSplitResult r;
  const std::optional<TcpIpv4Shape> t = tcp_ipv4_shape(datagram);
  if (!t || t->payload == 0 || done >= t->payload) return r;  // kRefused
  const uint32_t link = static_cast<uint32_t>(link_header.size());
  const uint32_t hdrs = t->ihl + t->thl;
  // The payload of a full segment: what the MTU, the sender's MSS and a
  // buffer each allow.
  const uint32_t buffer = pool.buffer_size() - std::min(pool.buffer_size(), pool.headroom());
  uint32_t seg = mtu > hdrs ? mtu - hdrs : 0;
  if (mss != 0) seg = std::min(seg, mss);
  seg = std::min(seg, buffer > link + hdrs ? buffer - link - hdrs : 0);
  if (seg == 0) return r;

  const std::byte* ip = datagram.data();
  const Ipv4Address src = Ipv4Address::load(ip + 12), dst = Ipv4Address::load(ip + 16);
  const uint16_t id = load16(ip + 4);
  const uint32_t seq = load32(ip + t->ihl + 4);
  const uint8_t flags = load8(ip + t->ihl + 13);
  while (done < t->payload) {
    if (n == out.size()) {
      r.status = GsoStatus::kOutFull;
      return r;
    }
    PacketPtr p = pool.alloc();
    if (!p) {
      r.status = GsoStatus::kNoBuffer;
      return r;
    }
    const uint32_t len = std::min(seg, t->payload - done);
    const bool first = done == 0, last = done + len == t->payload;
    std::byte* to = p->append(link + hdrs + len);
    if (link) std::memcpy(to, link_header.data(), link);
    std::byte* s = to + link;
    std::memcpy(s, ip, hdrs);
    std::memcpy(s + hdrs, ip + hdrs + done, len);
    store16(s + 2, static_cast<uint16_t>(hdrs + len));       // total length
    store16(s + 4, static_cast<uint16_t>(id + done / seg));  // identification
    store16(s + 10, 0);                                      // header checksum
    store16(s + 10, Checksum().add({s, t->ihl}).finish());
    std::byte* tcp = s + t->ihl;
    store32(tcp + 4, seq + done);  // sequence number
    uint8_t f = flags;
    if (!last) f &= static_cast<uint8_t>(~(kFin | kPsh));
    if (!first) f &= static_cast<uint8_t>(~kCwr);
    store8(tcp + 13, f);
    store16(tcp + 16, static_cast<uint16_t>(fold_sum(pseudo_header_sum(
                          src, dst, kProtoTcp, static_cast<uint16_t>(t->thl + len)))));
    p->l4_csum_ok = true;
    out[n++] = std::move(p);
    done += len;
    ++r.segments;
    r.bytes += link + hdrs + len;
  }
  r.status = GsoStatus::kDone;
  return r;
}

}  // namespace sn
