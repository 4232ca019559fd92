// Splitting hand-built TCP super-frames; see gso_split.h.
#include "port/gso_split.h"

#include <gtest/gtest.h>

#include <vector>

#include "port/partial_csum.h"
#include "wire/bytes.h"
#include "wire/checksum.h"

namespace sn {
namespace {

using Bytes = std::vector<std::byte>;

constexpr uint8_t kFin = 0x01, kPsh = 0x08, kAck = 0x10, kCwr = 0x80;
constexpr uint32_t kSeq = 0xfffff000;  // wraps within the frame
constexpr uint16_t kId = 0xfffe;       // so does the IP ID
const Ipv4Address kSrc(0x0a000001), kDst(0x0a000002);

// A link header: Ethernet II to 02:..:02 from 02:..:01, IPv4; with `vlan`, an
// 802.1Q tag (VID 5) in front of the ethertype.
Bytes link_header(bool vlan = false) {
  Bytes l = {std::byte{2}, {}, {}, {}, {}, std::byte{2},
             std::byte{2}, {}, {}, {}, {}, std::byte{1}};
  l.resize(vlan ? 18 : 14);
  if (vlan) {
    store16(l.data() + 12, 0x8100);
    store16(l.data() + 14, 5);
  }
  store16(l.data() + l.size() - 2, 0x0800);
  return l;
}

// An IPv4 datagram (DF, ID kId) with a TCP segment from 10.0.0.1:4000 to
// 10.0.0.2:80: `options` bytes of TCP options (NOPs), `flags`, sequence
// number kSeq, and `payload` bytes of pattern. The TCP checksum field holds
// the pseudo-header sum, as a CHECKSUM_PARTIAL sender leaves it.
Bytes datagram(uint32_t payload, uint8_t flags = kAck | kPsh, uint32_t options = 12) {
  const uint32_t thl = 20 + options, total = 20 + thl + payload;
  Bytes d(total, std::byte{0});
  std::byte* ip = d.data();
  store8(ip, 0x45);
  store16(ip + 2, static_cast<uint16_t>(total));
  store16(ip + 4, kId);
  store16(ip + 6, 0x4000);  // DF
  store8(ip + 8, 64);
  store8(ip + 9, 6);
  kSrc.store(ip + 12);
  kDst.store(ip + 16);
  store16(ip + 10, Checksum().add({ip, 20}).finish());
  std::byte* tcp = ip + 20;
  store16(tcp, 4000);
  store16(tcp + 2, 80);
  store32(tcp + 4, kSeq);
  store32(tcp + 8, 12345);
  store8(tcp + 12, static_cast<uint8_t>(thl / 4 << 4));
  store8(tcp + 13, flags);
  store16(tcp + 14, 65535);
  for (uint32_t i = 0; i < options; ++i)
    store8(tcp + 20 + i, 1);  // NOP
  for (uint32_t i = 0; i < payload; ++i)
    store8(tcp + thl + i, static_cast<uint8_t>(i * 13 + i / 256));
  store16(tcp + 16, static_cast<uint16_t>(fold_sum(
                        pseudo_header_sum(kSrc, kDst, 6, static_cast<uint16_t>(thl + payload)))));
  return d;
}

Bytes payload_of(const Bytes& d) {
  const uint32_t ihl = (load8(d.data()) & 0x0f) * 4u;
  const uint32_t thl = (load8(d.data() + ihl + 12) >> 4) * 4u;
  return Bytes(d.begin() + ihl + thl, d.begin() + load16(d.data() + 2));
}

class GsoSplitTest : public ::testing::Test {
 protected:
  // Splits in one call; every segment is checked to be a well-formed frame
  // with `link` in front. Returns the segments' datagrams.
  std::vector<Bytes> split_all(const Bytes& link, const Bytes& d, uint32_t mtu, uint32_t mss = 0) {
    PacketPtr out[64];
    size_t n = 0;
    uint32_t done = 0;
    const GsoSplitResult r = gso_split(link, d, mtu, mss, pool_, out, n, done);
    EXPECT_EQ(r.status, GsoStatus::kDone);
    EXPECT_EQ(r.segments, n);
    std::vector<Bytes> segs;
    uint64_t bytes = 0;
    for (size_t i = 0; i < n; ++i) {
      const Packet& p = *out[i];
      bytes += p.size();
      EXPECT_TRUE(p.l4_csum_ok);
      const Bytes f(p.data(), p.data() + p.size());
      EXPECT_EQ(Bytes(f.begin(), f.begin() + static_cast<long>(link.size())), link);
      Bytes s(f.begin() + static_cast<long>(link.size()), f.end());
      EXPECT_EQ(load16(s.data() + 2), s.size()) << "IP total length of segment " << i;
      EXPECT_LE(s.size(), mtu);
      EXPECT_EQ(Checksum().add({s.data(), 20}).finish(), 0) << "IP header checksum, segment " << i;
      if (link.size() == 14) {
        EXPECT_TRUE(has_partial_l4_checksum(f)) << "segment " << i;
      }
      // Completed as a device would (the sum from the TCP header on, over the
      // partial sum in the field), the TCP checksum verifies.
      Bytes c = s;
      std::byte* tcp = c.data() + 20;
      const uint16_t tcp_len = static_cast<uint16_t>(c.size() - 20);
      store16(tcp + 16, Checksum().add({tcp, tcp_len}).finish());
      EXPECT_EQ(Checksum()
                    .add_sum(pseudo_header_sum(kSrc, kDst, 6, tcp_len))
                    .add({tcp, tcp_len})
                    .finish(),
                0)
          << "TCP checksum, segment " << i;
      segs.push_back(std::move(s));
    }
    EXPECT_EQ(r.bytes, bytes);
    return segs;
  }

  PacketPool pool_{PoolConfig{.count = 64}};
};

TEST_F(GsoSplitTest, SplitsAtTheMtuWithSequenceIdsAndFlagsOfEachSegment) {
  const Bytes d = datagram(10000, kAck | kPsh | kFin | kCwr);  // 20 + 32 bytes of headers
  const std::vector<Bytes> segs = split_all(link_header(), d, 1500);
  ASSERT_EQ(segs.size(), 7u);  // 6 x 1448 + 1312
  Bytes joined;
  for (size_t i = 0; i < segs.size(); ++i) {
    const Bytes& s = segs[i];
    const std::byte* tcp = s.data() + 20;
    EXPECT_EQ(s.size(), i < 6 ? 1500u : 52u + 1312u);
    EXPECT_EQ(load16(s.data() + 4), static_cast<uint16_t>(kId + i)) << "IP ID";
    EXPECT_EQ(load16(s.data() + 6), 0x4000) << "DF kept";
    EXPECT_EQ(load32(tcp + 4), kSeq + 1448 * static_cast<uint32_t>(i)) << "sequence number";
    EXPECT_EQ(load32(tcp + 8), 12345u) << "ACK number";
    const uint8_t flags = load8(tcp + 13);
    EXPECT_TRUE(flags & kAck);
    EXPECT_EQ(bool(flags & kCwr), i == 0) << "CWR on the first only, segment " << i;
    EXPECT_EQ(bool(flags & kFin), i == 6) << "FIN on the last only, segment " << i;
    EXPECT_EQ(bool(flags & kPsh), i == 6) << "PSH on the last only, segment " << i;
    EXPECT_EQ(Bytes(tcp + 20, tcp + 32), Bytes(d.begin() + 40, d.begin() + 52)) << "options kept";
    const Bytes p = payload_of(s);
    joined.insert(joined.end(), p.begin(), p.end());
  }
  EXPECT_EQ(joined, payload_of(d));
  EXPECT_EQ(pool_.in_use(), 0u);  // split_all's packets went back
}

TEST_F(GsoSplitTest, TheSendersMssAndAVlanTagAreKept) {
  const std::vector<Bytes> segs = split_all(link_header(/*vlan=*/true), datagram(3000), 1500, 1000);
  ASSERT_EQ(segs.size(), 3u);
  for (const Bytes& s : segs)
    EXPECT_EQ(payload_of(s).size(), 1000u);
  // An MSS above what the MTU allows is cut to the MTU.
  EXPECT_EQ(split_all(link_header(), datagram(3000), 576, 1448).size(), 6u);  // 524 per segment
}

TEST_F(GsoSplitTest, ASegmentNeverOutgrowsAPoolBuffer) {
  PacketPool small{PoolConfig{.count = 8, .buffer_size = 1024, .headroom = 128}};
  PacketPtr out[8];
  size_t n = 0;
  uint32_t done = 0;
  const Bytes d = datagram(2000);
  const GsoSplitResult r = gso_split(link_header(), d, 1500, 0, small, out, n, done);
  EXPECT_EQ(r.status, GsoStatus::kDone);
  ASSERT_EQ(n, 3u);  // 896 bytes of buffer: 14 + 52 + 830 each
  EXPECT_EQ(out[0]->size(), 896u);
  EXPECT_EQ(out[2]->size(), 14u + 52u + 2000u - 2 * 830u);
}

TEST_F(GsoSplitTest, ResumesWhereOutOrThePoolRanOut) {
  const Bytes link = link_header(), d = datagram(10 * 1448);
  PacketPtr out[4];
  size_t n = 1;  // one slot already taken by the caller
  uint32_t done = 0;
  GsoSplitResult r = gso_split(link, d, 1500, 0, pool_, out, n, done);
  EXPECT_EQ(r.status, GsoStatus::kOutFull);
  EXPECT_EQ(r.segments, 3u);
  EXPECT_EQ(n, 4u);
  EXPECT_EQ(done, 3 * 1448u);
  EXPECT_EQ(load32(out[3]->data() + 14 + 24), kSeq + 2 * 1448);

  // A pool with two buffers left: two more segments, then kNoBuffer.
  PacketPool two{PoolConfig{.count = 2}};
  PacketPtr more[8];
  n = 0;
  r = gso_split(link, d, 1500, 0, two, more, n, done);
  EXPECT_EQ(r.status, GsoStatus::kNoBuffer);
  EXPECT_EQ(r.segments, 2u);
  EXPECT_EQ(done, 5 * 1448u);
  EXPECT_EQ(load32(more[1]->data() + 14 + 24), kSeq + 4 * 1448);
  more[0].reset();
  more[1].reset();
  n = 0;
  r = gso_split(link, d, 1500, 0, pool_, more, n, done);
  EXPECT_EQ(r.status, GsoStatus::kDone);
  EXPECT_EQ(n, 5u);
  EXPECT_EQ(done, 10 * 1448u);
  EXPECT_EQ(load16(more[4]->data() + 14 + 4), static_cast<uint16_t>(kId + 9));
  EXPECT_TRUE(load8(more[4]->data() + 14 + 33) & kPsh);
}

TEST_F(GsoSplitTest, WhatIsNotASplittableTcpDatagramIsRefusedUntouched) {
  const Bytes link = link_header();
  auto refused = [&](const Bytes& d, uint32_t mtu = 1500) {
    PacketPtr out[64];
    size_t n = 0;
    uint32_t done = 0;
    const GsoSplitResult r = gso_split(link, d, mtu, 0, pool_, out, n, done);
    return r.status == GsoStatus::kRefused && r.segments == 0 && n == 0 && done == 0 &&
           pool_.in_use() == 0;
  };
  EXPECT_TRUE(refused(datagram(3000), 52)) << "headers fill the MTU";
  EXPECT_TRUE(refused(datagram(0))) << "no payload";
  Bytes udp = datagram(3000);
  store8(udp.data() + 9, 17);
  EXPECT_TRUE(refused(udp));
  Bytes fragment = datagram(3000);
  store16(fragment.data() + 6, 0x2000);  // MF
  EXPECT_TRUE(refused(fragment));
  Bytes v6 = datagram(3000);
  store8(v6.data(), 0x65);
  EXPECT_TRUE(refused(v6));
  Bytes cut = datagram(3000);
  cut.resize(cut.size() - 1);  // the total length says one byte more than there is
  EXPECT_TRUE(refused(cut));
  Bytes long_tcp = datagram(10, kAck, 0);
  store8(long_tcp.data() + 32, 0xf0);  // a 60-byte TCP header in 30 bytes
  EXPECT_TRUE(refused(long_tcp));
  Bytes short_tcp = datagram(3000);
  store8(short_tcp.data() + 32, 0x40);  // a 16-byte TCP header
  EXPECT_TRUE(refused(short_tcp));
  EXPECT_TRUE(refused(Bytes(39, std::byte{0x45})));
}

TEST(TcpIpv4ShapeTest, ReadsTheLengthsAndIgnoresBytesPastTheTotalLength) {
  Bytes d = datagram(100);
  d.resize(d.size() + 6);  // link-layer padding
  const auto s = tcp_ipv4_shape(d);
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->ihl, 20u);
  EXPECT_EQ(s->thl, 32u);
  EXPECT_EQ(s->payload, 100u);
}

}  // namespace
}  // namespace sn
