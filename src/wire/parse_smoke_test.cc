// A seeded, in-process stand-in for the fuzz targets: random and half-valid
// bytes through every parser, checking that ok() views only hand out spans
// inside the input and that every accessor can be called. Run it under ASan.
#include <gtest/gtest.h>

#include <cstdio>
#include <vector>

#include "base/rng.h"
#include "wire/arp.h"
#include "wire/ethernet.h"
#include "wire/icmp.h"
#include "wire/ipv4.h"
#include "wire/tcp.h"
#include "wire/udp.h"
#include "wire/wire_testing.h"

namespace sn {
namespace {

bool inside(std::span<const std::byte> part, std::span<const std::byte> whole) {
  return part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size();
}

std::vector<std::byte> random_input(Rng& rng) {
  std::vector<std::byte> b(rng.below(90));
  for (auto& x : b)
    x = static_cast<std::byte>(rng.chance(0.3) ? rng.below(3) : rng.next());
  if (!b.empty() && rng.chance(0.7)) b[0] = static_cast<std::byte>(0x40 | rng.below(16));
  if (b.size() > 12 && rng.chance(0.5)) b[12] = static_cast<std::byte>(rng.below(16) << 4);
  if (b.size() > 5 && rng.chance(0.5)) b[4] = std::byte{0};  // small UDP lengths
  if (b.size() > 4 && rng.chance(0.5)) {                     // an IPv4 total length that may fit
    const auto total = static_cast<uint16_t>(rng.below(b.size() + 2));
    b[2] = static_cast<std::byte>(total >> 8);
    b[3] = static_cast<std::byte>(total & 0xff);
  }
  return b;
}

TEST(ParseSmoke, RandomBytesThroughEveryParser) {
  Rng rng(2024);
  const Ipv4Address a(1), z(2);
  int ipv4_ok = 0, udp_ok = 0, tcp_ok = 0, tcp_header_ok = 0;
  for (int iter = 0; iter < 50000; ++iter) {
    const auto b = random_input(rng);
    const std::span<const std::byte> in(b);
    if (auto v = EthernetView::parse(in)) {
      ASSERT_LE(v->header_size(), in.size());
      ASSERT_TRUE(inside(v->payload(), in));
      (void)v->ethertype();
      (void)v->vlan_tci();
      (void)EthernetHeader::from(*v);
    }
    if (auto v = ArpPacket::parse(in)) {
      ASSERT_GE(in.size(), ArpPacket::kSize);
    }
    if (auto v = Ipv4View::parse(in)) {
      ASSERT_TRUE(inside(v->header(), in));
      ASSERT_TRUE(inside(v->options(), in));
      ASSERT_TRUE(inside(v->payload(), in));
      ASSERT_EQ(v->header().size() + v->payload().size(), v->total_length());
      (void)v->checksum_ok();
      (void)Ipv4Header::from(*v);
      ++ipv4_ok;
    }
    if (auto v = IcmpView::parse(in)) {
      ASSERT_TRUE(inside(v->payload(), in));
      (void)v->checksum_ok();
    }
    if (auto v = UdpView::parse(in)) {
      ASSERT_TRUE(inside(v->payload(), in));
      ASSERT_EQ(v->payload().size() + 8, v->length());
      (void)v->checksum_ok(a, z);
      ++udp_ok;
    }
    if (auto v = TcpView::parse(in)) {
      ASSERT_TRUE(inside(v->options(), in));
      ASSERT_TRUE(inside(v->payload(), in));
      (void)v->checksum_ok(a, z);
      ++tcp_ok;
      if (auto h = TcpHeader::from(*v)) {
        // What parsed must emit within 60 bytes and parse back the same,
        // apart from SACK blocks that did not fit.
        ASSERT_LE(h->size(), 60u);
        std::vector<std::byte> out(h->size());
        h->emit(out, a, z, 0, 0);
        auto again = TcpView::parse(out);
        ASSERT_TRUE(again.ok());
        auto h2 = TcpHeader::from(*again);
        ASSERT_TRUE(h2.ok());
        ASSERT_EQ(h2->options.mss, h->options.mss);
        ASSERT_EQ(h2->options.timestamps, h->options.timestamps);
        ASSERT_EQ(h2->options.window_scale, h->options.window_scale);
        ASSERT_EQ(h2->seq, h->seq);
        ++tcp_header_ok;
      }
    }
    (void)TcpOptions::parse(in);
  }
  // The inputs must reach the accepting paths often enough to mean something.
  EXPECT_GT(ipv4_ok, 500);
  EXPECT_GT(udp_ok, 500);
  EXPECT_GT(tcp_ok, 500);
  EXPECT_GT(tcp_header_ok, 500);
  std::printf("ok: ipv4 %d udp %d tcp %d tcp+options %d\n", ipv4_ok, udp_ok, tcp_ok, tcp_header_ok);
}

}  // namespace
}  // namespace sn
