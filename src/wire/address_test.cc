// Tests for MAC and IPv4 addresses, prefixes and ports.
#include "wire/address.h"

#include <gtest/gtest.h>

#include <unordered_set>

#include "wire/wire_testing.h"

namespace sn {
namespace {

TEST(MacAddress, PredicatesAndText) {
  const MacAddress m{{0x02, 0x00, 0x00, 0x00, 0x00, 0x01}};
  EXPECT_EQ(m.to_string(), "02:00:00:00:00:01");
  EXPECT_FALSE(m.is_broadcast());
  EXPECT_FALSE(m.is_multicast());
  EXPECT_FALSE(m.is_zero());
  EXPECT_TRUE(MacAddress::broadcast().is_broadcast());
  EXPECT_TRUE(MacAddress::broadcast().is_multicast());
  EXPECT_EQ(MacAddress::broadcast().to_string(), "ff:ff:ff:ff:ff:ff");
  EXPECT_TRUE((MacAddress{{0x01, 0x00, 0x5e, 0x00, 0x00, 0x01}}.is_multicast()));
  EXPECT_TRUE(MacAddress{}.is_zero());
  EXPECT_LT(MacAddress{}, m);
}

TEST(MacAddress, Parse) {
  EXPECT_EQ(MacAddress::parse("02:00:00:00:00:01"), (MacAddress{{2, 0, 0, 0, 0, 1}}));
  EXPECT_EQ(MacAddress::parse("AA:bb:Cc:00:ff:09"),
            (MacAddress{{0xaa, 0xbb, 0xcc, 0x00, 0xff, 0x09}}));
  for (const char* bad :
       {"", "02:00:00:00:00", "02:00:00:00:00:01:", "02-00-00-00-00-01", "2:00:00:00:00:01",
        "02:00:00:00:00:0g", "02:00:00:00:00:001", " 02:00:00:00:00:1"}) {
    EXPECT_FALSE(MacAddress::parse(bad).has_value()) << bad;
  }
}

TEST(MacAddress, LoadStore) {
  constexpr uint8_t kBytes[] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
  const MacAddress m = MacAddress::load(as_span(kBytes).data());
  EXPECT_EQ(m.to_string(), "52:54:00:12:34:56");
  std::byte out[6]{};
  m.store(out);
  EXPECT_EQ(to_vec(out), to_vec(kBytes));
}

TEST(Ipv4Address, OctetsAndPredicates) {
  constexpr Ipv4Address a = Ipv4Address::from_octets(10, 0, 0, 1);
  static_assert(a.v == 0x0a000001);
  EXPECT_EQ(a.to_string(), "10.0.0.1");
  EXPECT_TRUE(Ipv4Address::any().is_any());
  EXPECT_TRUE(Ipv4Address::broadcast().is_broadcast());
  EXPECT_EQ(Ipv4Address::broadcast().to_string(), "255.255.255.255");
  EXPECT_TRUE(Ipv4Address::from_octets(224, 0, 0, 1).is_multicast());
  EXPECT_TRUE(Ipv4Address::from_octets(239, 255, 255, 255).is_multicast());
  EXPECT_FALSE(Ipv4Address::from_octets(240, 0, 0, 1).is_multicast());
  EXPECT_FALSE(Ipv4Address::from_octets(223, 255, 255, 255).is_multicast());
  EXPECT_TRUE(Ipv4Address::from_octets(127, 0, 0, 1).is_loopback());
  EXPECT_FALSE(a.is_loopback());
  EXPECT_LT(Ipv4Address::from_octets(9, 255, 255, 255), a);
}

TEST(Ipv4Address, Parse) {
  EXPECT_EQ(Ipv4Address::parse("10.0.0.1"), Ipv4Address(0x0a000001));
  EXPECT_EQ(Ipv4Address::parse("0.0.0.0"), Ipv4Address::any());
  EXPECT_EQ(Ipv4Address::parse("255.255.255.255"), Ipv4Address::broadcast());
  EXPECT_EQ(Ipv4Address::parse("192.168.100.254"), Ipv4Address::from_octets(192, 168, 100, 254));
  for (const char* bad :
       {"", "10", "10.0.0", "10.0.0.1.", "10.0.0.1.2", "256.0.0.1", "10.0.0.01", "1.2.3.1000",
        "10..0.1", "+1.2.3.4", " 1.2.3.4", "1.2.3.4 ", "a.b.c.d", "1.2.3.-4", "10.0.0.1/24"}) {
    EXPECT_FALSE(Ipv4Address::parse(bad).has_value()) << bad;
  }
}

TEST(Ipv4Address, LoadStoreIsBigEndian) {
  constexpr uint8_t kBytes[] = {0xc0, 0xa8, 0x01, 0x02};
  const Ipv4Address a = Ipv4Address::load(as_span(kBytes).data());
  EXPECT_EQ(a.v, 0xc0a80102u);
  std::byte out[4]{};
  a.store(out);
  EXPECT_EQ(to_vec(out), to_vec(kBytes));
}

TEST(Ipv4Prefix, ParseAndMask) {
  auto p = Ipv4Prefix::parse("10.0.0.2/24");
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->address, Ipv4Address::from_octets(10, 0, 0, 2));
  EXPECT_EQ(p->length, 24);
  EXPECT_EQ(p->mask(), 0xffffff00u);
  EXPECT_EQ(p->network(), Ipv4Address::from_octets(10, 0, 0, 0));
  EXPECT_EQ(p->broadcast(), Ipv4Address::from_octets(10, 0, 0, 255));
  EXPECT_TRUE(p->contains(Ipv4Address::from_octets(10, 0, 0, 200)));
  EXPECT_FALSE(p->contains(Ipv4Address::from_octets(10, 0, 1, 1)));
  EXPECT_EQ(p->to_string(), "10.0.0.2/24");
}

TEST(Ipv4Prefix, Extremes) {
  const Ipv4Prefix all{Ipv4Address::from_octets(1, 2, 3, 4), 0};
  EXPECT_EQ(all.mask(), 0u);
  EXPECT_TRUE(all.contains(Ipv4Address::broadcast()));
  EXPECT_EQ(all.network(), Ipv4Address::any());
  const Ipv4Prefix host{Ipv4Address::from_octets(1, 2, 3, 4), 32};
  EXPECT_EQ(host.mask(), 0xffffffffu);
  EXPECT_TRUE(host.contains(Ipv4Address::from_octets(1, 2, 3, 4)));
  EXPECT_FALSE(host.contains(Ipv4Address::from_octets(1, 2, 3, 5)));
  EXPECT_EQ(host.broadcast(), Ipv4Address::from_octets(1, 2, 3, 4));
  EXPECT_EQ(Ipv4Prefix::parse("0.0.0.0/0"), (Ipv4Prefix{Ipv4Address::any(), 0}));
  EXPECT_EQ(Ipv4Prefix::parse("1.2.3.4/32"), host);
  EXPECT_EQ((Ipv4Prefix{Ipv4Address::from_octets(172, 16, 5, 4), 12}.broadcast()),
            Ipv4Address::from_octets(172, 31, 255, 255));
}

TEST(Ipv4Prefix, ParseRejects) {
  for (const char* bad : {"", "10.0.0.2", "10.0.0.2/", "10.0.0.2/33", "10.0.0.2/024", "10.0.0.2/-1",
                          "10.0.0.2/24/", "10.0.0/24", "10.0.0.2 /24", "10.0.0.2/2 4"}) {
    EXPECT_FALSE(Ipv4Prefix::parse(bad).has_value()) << bad;
  }
}

TEST(L4Port, CompareAndHash) {
  EXPECT_LT(L4Port(80), L4Port(443));
  EXPECT_EQ(L4Port(80), L4Port(80));
  std::unordered_set<L4Port> ports{L4Port(80), L4Port(80), L4Port(443)};
  EXPECT_EQ(ports.size(), 2u);
  std::unordered_set<Ipv4Address> addrs{Ipv4Address(1), Ipv4Address(1), Ipv4Address(2)};
  EXPECT_EQ(addrs.size(), 2u);
  std::unordered_set<MacAddress> macs{MacAddress{}, MacAddress::broadcast(), MacAddress{}};
  EXPECT_EQ(macs.size(), 2u);
}

}  // namespace
}  // namespace sn
