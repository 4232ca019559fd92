// Tests for ARP (RFC 826) packets against literal frames.
#include "wire/arp.h"

#include <gtest/gtest.h>

#include <vector>

#include "wire/ethernet.h"
#include "wire/wire_testing.h"

namespace sn {
namespace {

// A broadcast "who-has 192.168.1.1 tell 192.168.1.2" as it arrives: Ethernet
// header, the 28-byte ARP packet, then 18 bytes of padding to 60.
constexpr uint8_t kRequestFrame[] = {
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x52, 0x54, 0x00, 0x12, 0x34, 0x56,  // dst, src
    0x08, 0x06,                                                              // ARP
    0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01,              // Ethernet/IPv4, request
    0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0xc0, 0xa8, 0x01, 0x02,  // sha, spa
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xc0, 0xa8, 0x01, 0x01,  // tha, tpa
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,  // padding
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00};

// The reply "192.168.1.1 is-at 02:00:00:00:00:01".
constexpr uint8_t kReply[] = {
    0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x02,              // Ethernet/IPv4, reply
    0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0xc0, 0xa8, 0x01, 0x01,  // sha, spa
    0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0xc0, 0xa8, 0x01, 0x02,  // tha, tpa
};

const MacAddress kAsker{{0x52, 0x54, 0x00, 0x12, 0x34, 0x56}};
const MacAddress kUs{{0x02, 0x00, 0x00, 0x00, 0x00, 0x01}};

TEST(Arp, ParsesRequestFrame) {
  static_assert(sizeof kRequestFrame == kEthernetMinFrameSize);
  auto eth = EthernetView::parse(as_span(kRequestFrame));
  ASSERT_TRUE(eth.ok());
  EXPECT_EQ(eth->ethertype(), kEtherTypeArp);
  EXPECT_TRUE(eth->dst().is_broadcast());
  auto arp = ArpPacket::parse(eth->payload());  // 46 bytes: padding is fine
  ASSERT_TRUE(arp.ok());
  EXPECT_EQ(arp->op, ArpPacket::kRequest);
  EXPECT_EQ(arp->sha, kAsker);
  EXPECT_EQ(arp->spa, Ipv4Address::from_octets(192, 168, 1, 2));
  EXPECT_TRUE(arp->tha.is_zero());
  EXPECT_EQ(arp->tpa, Ipv4Address::from_octets(192, 168, 1, 1));
}

TEST(Arp, EmitsReply) {
  const ArpPacket reply{ArpPacket::kReply, kUs, Ipv4Address::from_octets(192, 168, 1, 1), kAsker,
                        Ipv4Address::from_octets(192, 168, 1, 2)};
  std::vector<std::byte> out(ArpPacket::kSize);
  reply.emit(out);
  EXPECT_EQ(out, to_vec(kReply));
  auto back = ArpPacket::parse(out);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, reply);
}

TEST(Arp, TruncatedAtEveryLength) {
  for (size_t n = 0; n < ArpPacket::kSize; ++n) {
    auto a = ArpPacket::parse(as_span(kReply).first(n));
    ASSERT_FALSE(a.ok()) << n;
    EXPECT_EQ(a.error(), ParseError::kTruncated) << n;
  }
}

TEST(Arp, RejectsOtherHardwareAndProtocols) {
  struct Case {
    size_t at;
    uint8_t value;
  };
  // htype 6 (IEEE 802), ptype 0x86dd, hlen 8, plen 16, op 0, op 3, op 0x0101.
  for (auto c : {Case{1, 6}, Case{0, 1}, Case{2, 0x86}, Case{3, 0xdd}, Case{4, 8}, Case{5, 16},
                 Case{7, 0}, Case{7, 3}, Case{6, 1}}) {
    auto bytes = to_vec(kReply);
    bytes[c.at] = std::byte{c.value};
    auto a = ArpPacket::parse(bytes);
    ASSERT_FALSE(a.ok()) << c.at << "=" << int{c.value};
    EXPECT_EQ(a.error(), ParseError::kUnsupported);
  }
}

}  // namespace
}  // namespace sn
