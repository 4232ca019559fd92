// Tests of the routing table: longest-prefix match, the default route, a route
// replacing another for the same prefix, removal, and the /32 and /0 edges.
#include "stack/route.h"

#include <gtest/gtest.h>

#include "wire/wire_testing.h"

namespace sn {
namespace {

Ipv4Address a(const char* s) {
  return *Ipv4Address::parse(s);
}
Ipv4Prefix p(const char* s) {
  return *Ipv4Prefix::parse(s);
}

// The interface and next hop `dst` routes to; iface 999 for "no route".
struct Hop {
  uint16_t iface;
  Ipv4Address next;
  bool operator==(const Hop&) const = default;
};
Hop hop(const RouteTable& t, const char* dst) {
  auto h = t.lookup(a(dst));
  if (!h) return Hop{999, Ipv4Address::any()};
  return Hop{h->iface, h->address};
}
void PrintTo(const Hop& h, std::ostream* os) {
  *os << "iface " << h.iface << " via " << h.next.to_string();
}

TEST(RouteTableTest, EmptyTableHasNoRoute) {
  RouteTable t;
  EXPECT_FALSE(t.lookup(a("10.0.0.1")).has_value());
}

TEST(RouteTableTest, LongestPrefixWins) {
  RouteTable t;
  // Added shortest first, so the order of insertion cannot be what decides.
  t.add(Route{p("10.0.0.0/8"), 1, std::nullopt});
  t.add(Route{p("10.1.0.0/16"), 2, std::nullopt});
  t.add(Route{p("10.1.2.0/24"), 3, a("10.1.2.254")});
  t.add(Route{p("10.1.2.128/25"), 4, std::nullopt});
  EXPECT_EQ(hop(t, "10.9.9.9"), (Hop{1, a("10.9.9.9")}));
  EXPECT_EQ(hop(t, "10.1.9.9"), (Hop{2, a("10.1.9.9")}));
  EXPECT_EQ(hop(t, "10.1.2.3"), (Hop{3, a("10.1.2.254")}));
  EXPECT_EQ(hop(t, "10.1.2.127"), (Hop{3, a("10.1.2.254")}));
  EXPECT_EQ(hop(t, "10.1.2.128"), (Hop{4, a("10.1.2.128")}));
  EXPECT_EQ(hop(t, "10.1.2.255"), (Hop{4, a("10.1.2.255")}));
  EXPECT_EQ(hop(t, "11.0.0.1").iface, 999);
  // Kept longest first.
  ASSERT_EQ(t.routes().size(), 4u);
  EXPECT_EQ(t.routes()[0].prefix.length, 25);
  EXPECT_EQ(t.routes()[3].prefix.length, 8);
}

TEST(RouteTableTest, DefaultRouteCatchesTheRest) {
  RouteTable t;
  t.add(Route{p("192.168.1.0/24"), 0, std::nullopt});
  t.add(Route{p("0.0.0.0/0"), 0, a("192.168.1.1")});
  EXPECT_EQ(hop(t, "192.168.1.77"), (Hop{0, a("192.168.1.77")}));
  EXPECT_EQ(hop(t, "8.8.8.8"), (Hop{0, a("192.168.1.1")}));
  EXPECT_EQ(hop(t, "255.255.255.255"), (Hop{0, a("192.168.1.1")}));
  EXPECT_EQ(hop(t, "0.0.0.0"), (Hop{0, a("192.168.1.1")}));
}

TEST(RouteTableTest, SamePrefixReplaces) {
  RouteTable t;
  t.add(Route{p("10.1.0.0/16"), 1, std::nullopt});
  t.add(Route{p("10.1.0.0/16"), 2, a("10.0.0.1")});
  EXPECT_EQ(t.routes().size(), 1u);
  EXPECT_EQ(hop(t, "10.1.5.5"), (Hop{2, a("10.0.0.1")}));
  // Host bits do not make it another prefix: this is 10.1.0.0/16 again.
  t.add(Route{p("10.1.7.7/16"), 3, std::nullopt});
  ASSERT_EQ(t.routes().size(), 1u);
  EXPECT_EQ(t.routes()[0].prefix, p("10.1.0.0/16"));
  EXPECT_EQ(hop(t, "10.1.5.5"), (Hop{3, a("10.1.5.5")}));
  // Another length is another prefix.
  t.add(Route{p("10.1.0.0/17"), 4, std::nullopt});
  EXPECT_EQ(t.routes().size(), 2u);
  EXPECT_EQ(hop(t, "10.1.5.5").iface, 4);
  EXPECT_EQ(hop(t, "10.1.128.5").iface, 3);
}

TEST(RouteTableTest, RemoveFallsBackToTheNextLongest) {
  RouteTable t;
  t.add(Route{p("0.0.0.0/0"), 0, a("10.0.0.1")});
  t.add(Route{p("10.0.0.0/8"), 1, std::nullopt});
  t.add(Route{p("10.1.0.0/16"), 2, std::nullopt});
  EXPECT_EQ(hop(t, "10.1.1.1").iface, 2);
  t.remove(p("10.1.99.99/16"));  // host bits ignored here too
  EXPECT_EQ(t.routes().size(), 2u);
  EXPECT_EQ(hop(t, "10.1.1.1").iface, 1);
  t.remove(p("10.0.0.0/9"));  // no such route: nothing happens
  EXPECT_EQ(t.routes().size(), 2u);
  t.remove(p("10.0.0.0/8"));
  EXPECT_EQ(hop(t, "10.1.1.1"), (Hop{0, a("10.0.0.1")}));
  t.remove(p("0.0.0.0/0"));
  EXPECT_TRUE(t.routes().empty());
  EXPECT_EQ(hop(t, "10.1.1.1").iface, 999);
}

TEST(RouteTableTest, HostRouteAndZeroLengthEdges) {
  RouteTable t;
  t.add(Route{p("10.0.0.0/24"), 1, std::nullopt});
  t.add(Route{p("10.0.0.7/32"), 2, a("10.0.0.254")});
  EXPECT_EQ(hop(t, "10.0.0.7"), (Hop{2, a("10.0.0.254")}));
  EXPECT_EQ(hop(t, "10.0.0.6"), (Hop{1, a("10.0.0.6")}));
  EXPECT_EQ(hop(t, "10.0.0.8"), (Hop{1, a("10.0.0.8")}));
  // A /0 with host bits is still the default route, and matches everything.
  t.add(Route{p("1.2.3.4/0"), 3, a("10.0.0.1")});
  ASSERT_EQ(t.routes().size(), 3u);
  EXPECT_EQ(t.routes()[2].prefix, p("0.0.0.0/0"));
  EXPECT_EQ(hop(t, "0.0.0.0"), (Hop{3, a("10.0.0.1")}));
  EXPECT_EQ(hop(t, "255.255.255.255"), (Hop{3, a("10.0.0.1")}));
  EXPECT_EQ(hop(t, "10.0.0.7").iface, 2);
  t.remove(p("10.0.0.7/32"));
  EXPECT_EQ(hop(t, "10.0.0.7"), (Hop{1, a("10.0.0.7")}));
}

}  // namespace
}  // namespace sn
