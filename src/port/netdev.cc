// Interface lookup; see netdev.h.
#include "port/netdev.h"

#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace sn {
namespace {

// Receive queues from ETHTOOL_GCHANNELS (sysfs may belong to another
// network namespace than ours), or 0 when the driver does not say.
uint32_t count_rx_queues(int sock, const std::string& name) {
  ethtool_channels ch{};
  ch.cmd = ETHTOOL_GCHANNELS;
  ifreq q{};
  std::memcpy(q.ifr_name, name.data(), name.size());
  q.ifr_data = reinterpret_cast<char*>(&ch);
  if (::ioctl(sock, SIOCETHTOOL, &q) != 0) return 0;
  return ch.rx_count + ch.combined_count;
}

}  // namespace

Result<NetDev> open_netdev(const std::string& name) {
  if (name.empty() || name.size() >= IFNAMSIZ)
    return Error{Errc::kInvalidArgument, "interface names have 1 to 15 characters"};
  NetDev d;
  d.name = name;
  d.ifindex = static_cast<int>(::if_nametoindex(name.c_str()));
  if (d.ifindex == 0)
    return Error{Errc::kNotFound, "no interface of that name (in this network namespace)"};
  const int sock = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (sock < 0) return Error{Errc::kIo, "cannot open a control socket"};
  ifreq ifr{};
  std::memcpy(ifr.ifr_name, name.data(), name.size());
  Error err{Errc::kIo, ""};
  bool ok = false;
  if (::ioctl(sock, SIOCGIFHWADDR, &ifr) < 0) {
    err.message = "cannot read the interface's MAC address";
  } else {
    std::memcpy(d.mac.b.data(), ifr.ifr_hwaddr.sa_data, 6);
    if (::ioctl(sock, SIOCGIFMTU, &ifr) < 0) {
      err.message = "cannot read the interface's MTU";
    } else {
      d.mtu = static_cast<uint32_t>(ifr.ifr_mtu);
      if (::ioctl(sock, SIOCGIFFLAGS, &ifr) < 0) {
        err.message = "cannot read the interface's flags";
      } else if (!(ifr.ifr_flags & IFF_UP)) {
        ifr.ifr_flags = static_cast<short>(ifr.ifr_flags | IFF_UP);
        ok = ::ioctl(sock, SIOCSIFFLAGS, &ifr) == 0;
        if (!ok) err.message = "cannot bring the interface up (needs CAP_NET_ADMIN)";
      } else {
        ok = true;
      }
    }
  }
  if (ok) {
    ethtool_drvinfo info{};
    info.cmd = ETHTOOL_GDRVINFO;
    ifreq q{};
    std::memcpy(q.ifr_name, name.data(), name.size());
    q.ifr_data = reinterpret_cast<char*>(&info);
    if (::ioctl(sock, SIOCETHTOOL, &q) == 0) d.driver = info.driver;
    d.rx_queues = count_rx_queues(sock, name);
  }
  ::close(sock);
  if (!ok) return err;
  return d;
}

}  // namespace sn
