// The IPv4 routing table: longest-prefix match over (prefix, interface,
// gateway) routes. Interfaces add their connected subnet; a default route
// (0.0.0.0/0) sends everything else to a gateway.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "wire/address.h"

namespace sn {

struct Route {
  Ipv4Prefix prefix;
  uint16_t iface = 0;
  std::optional<Ipv4Address> gateway;  // none: the destination is on the link
};

struct NextHop {
  uint16_t iface = 0;
  Ipv4Address address;  // the gateway, or the destination itself
};

// A next hop remembered by a connection (its egress interface and the
// address its frames go to), good while the route table's generation is the
// one it was looked up in.
struct RouteCache {
  uint32_t generation = 0;  // 0: not looked up yet
  uint16_t iface = 0;
  Ipv4Address next_hop;
};

class RouteTable {
 public:
  // Adds a route; a route for the same prefix replaces the old one.
  void add(const Route& route);
  void remove(const Ipv4Prefix& prefix);
  // Longest-prefix match; none if no route covers `dst`.
  std::optional<NextHop> lookup(Ipv4Address dst) const;
  const std::vector<Route>& routes() const { return routes_; }
  // Changes with every add() and remove(): a next hop remembered with the
  // generation it was looked up in is good while the generation stays.
  // Never 0.
  uint32_t generation() const { return generation_; }

 private:
  void bump() {
    if (++generation_ == 0) generation_ = 1;
  }
  std::vector<Route> routes_;  // sorted by prefix length, longest first
  uint32_t generation_ = 1;
};

}  // namespace sn
