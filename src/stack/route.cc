// Longest-prefix match: routes are kept sorted longest prefix first, so the
// first match wins. Tables here hold a handful of routes; a trie can replace
// the scan if that ever changes.
#include "stack/route.h"

#include <algorithm>

namespace sn {

void RouteTable::add(const Route& route) {
  Route r = route;
  r.prefix.address = r.prefix.network();
  remove(r.prefix);
  auto at = std::find_if(routes_.begin(), routes_.end(),
                         [&](const Route& x) { return x.prefix.length < r.prefix.length; });
  routes_.insert(at, r);
  bump();
}

void RouteTable::remove(const Ipv4Prefix& prefix) {
  Ipv4Address net = prefix.network();
  std::erase_if(routes_, [&](const Route& x) {
    return x.prefix.length == prefix.length && x.prefix.address == net;
  });
  bump();
}

std::optional<NextHop> RouteTable::lookup(Ipv4Address dst) const {
  for (const Route& r : routes_) {
    if (r.prefix.contains(dst)) return NextHop{r.iface, r.gateway.value_or(dst)};
  }
  return std::nullopt;
}

}  // namespace sn
