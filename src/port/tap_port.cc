// The Linux TAP port; see tap_port.h.
#include "port/tap_port.h"

#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

namespace sn {
namespace {

constexpr uint32_t kMaxQueues = 256;  // the kernel's MAX_TAP_QUEUES
constexpr int kMaxIov = 16;           // links of a chain written in one writev

// Closes a descriptor unless released.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

Error io(const char* message) {
  return Error{Errc::kIo, message};
}

Error open_error(int err) {
  switch (err) {
    case EACCES:
    case EPERM:
      return io("cannot open /dev/net/tun (are you root?)");
    case ENOENT:
    case ENODEV:
    case ENXIO:
      return io("cannot open /dev/net/tun (missing: is the tun module loaded?)");
    default:
      return io("cannot open /dev/net/tun");
  }
}

Error attach_error(int err) {
  switch (err) {
    case EPERM:
    case EACCES:
      return io(
          "cannot create or attach the TAP device (needs CAP_NET_ADMIN, or a persistent "
          "device owned by this user)");
    case EBUSY:
      return Error{Errc::kAddressInUse,
                   "the TAP device is busy (another process holds it, or every queue is taken)"};
    case EINVAL:
      return io(
          "an interface of that name exists but is not a TAP device with these flags "
          "(single- versus multi-queue?)");
    default:
      return io("TUNSETIFF on /dev/net/tun failed");
  }
}

void fill_name(ifreq& ifr, const std::string& name) {
  std::memset(&ifr, 0, sizeof ifr);
  std::memcpy(ifr.ifr_name, name.data(), name.size());  // checked shorter than IFNAMSIZ
}

// Sets the kernel side's MTU and brings the link up, through an AF_INET socket.
Result<void> configure_link(const std::string& name, uint32_t mtu) {
  Fd sock(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (sock.get() < 0) return io("cannot open a control socket to configure the TAP device");
  ifreq ifr;
  fill_name(ifr, name);
  ifr.ifr_mtu = static_cast<int>(mtu);
  if (::ioctl(sock.get(), SIOCSIFMTU, &ifr) < 0)
    return errno == EPERM
               ? io("cannot set the TAP device's MTU (needs CAP_NET_ADMIN)")
               : Error{Errc::kInvalidArgument, "the kernel refused the TAP device's MTU"};
  fill_name(ifr, name);
  if (::ioctl(sock.get(), SIOCGIFFLAGS, &ifr) < 0) return io("cannot read the TAP device's flags");
  if (!(ifr.ifr_flags & IFF_UP)) {
    ifr.ifr_flags = static_cast<short>(ifr.ifr_flags | IFF_UP);
    if (::ioctl(sock.get(), SIOCSIFFLAGS, &ifr) < 0)
      return io("cannot bring the TAP device up (needs CAP_NET_ADMIN)");
  }
  return ok();
}

}  // namespace

Result<std::unique_ptr<TapPort>> TapPort::open(const std::string& name, MacAddress our_mac,
                                               uint32_t mtu, uint32_t queues,
                                               uint32_t queue_index) {
  if (name.empty()) return Error{Errc::kInvalidArgument, "the TAP device needs a name"};
  if (name.size() >= IFNAMSIZ)
    return Error{Errc::kInvalidArgument, "TAP device name too long (at most 15 characters)"};
  if (queues == 0 || queues > kMaxQueues || queue_index >= queues)
    return Error{Errc::kInvalidArgument, "TAP queues must be 1 to 256, and the index below them"};

  Fd fd(::open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC));
  if (fd.get() < 0) return open_error(errno);
  ifreq ifr;
  fill_name(ifr, name);
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
  if (queues > 1) ifr.ifr_flags |= IFF_MULTI_QUEUE;
  if (::ioctl(fd.get(), TUNSETIFF, &ifr) < 0) return attach_error(errno);

  if (Result<void> r = configure_link(name, mtu); !r) return r.error();
  return std::unique_ptr<TapPort>(new TapPort(fd.release(), name, our_mac, mtu, queue_index));
}

Result<std::vector<std::unique_ptr<TapPort>>> TapPort::open_queues(const std::string& name,
                                                                   MacAddress our_mac, uint32_t mtu,
                                                                   uint32_t n) {
  if (n == 0) return Error{Errc::kInvalidArgument, "a TAP device needs at least one queue"};
  std::vector<std::unique_ptr<TapPort>> ports;
  for (uint32_t i = 0; i < n; ++i) {
    auto p = open(name, our_mac, mtu, n, i);
    if (!p) return p.error();
    ports.push_back(std::move(p.value()));
  }
  return ports;
}

TapPort::~TapPort() {
  ::close(fd_);
}

bool TapPort::readable() const {
  pollfd p{fd_, POLLIN, 0};
  return ::poll(&p, 1, 0) > 0 && (p.revents & POLLIN);
}

size_t TapPort::rx_burst(PacketPool& pool, std::span<PacketPtr> out, Instant) {
  size_t n = 0;
  while (n < out.size()) {
    PacketPtr p = pool.alloc();
    if (!p) {
      if (readable()) counters_.rx_no_buffer.inc();
      break;
    }
    const uint32_t room = p->tailroom();
    const ssize_t r = ::read(fd_, p->data(), room);
    if (r < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) counters_.rx_errors.inc();
      break;
    }
    if (r == 0) break;
    // The kernel reports a frame's full length even when it copied only `room`.
    if (static_cast<size_t>(r) > room) {
      counters_.rx_errors.inc();
      continue;
    }
    p->append(static_cast<uint32_t>(r));
    counters_.rx_frames.inc();
    counters_.rx_bytes.inc(static_cast<uint64_t>(r));
    out[n++] = std::move(p);
  }
  return n;
}

size_t TapPort::tx_burst(std::span<PacketPtr> frames, Instant) {
  size_t sent = 0;
  for (PacketPtr& f : frames) {
    PacketPtr p = std::move(f);
    if (!p) continue;
    const uint32_t len = p->chain_size();
    if (len > mtu_ + kMaxLinkHeader) {
      counters_.tx_oversize.inc();
      continue;
    }
    iovec iov[kMaxIov];
    int cnt = 0;
    Packet* q = p.get();
    for (; q && cnt < kMaxIov; q = q->next())
      iov[cnt++] = iovec{q->data(), q->size()};
    if (q) {
      counters_.tx_errors.inc();  // a chain too long to write at once
      continue;
    }
    ssize_t w;
    do {
      w = ::writev(fd_, iov, cnt);
    } while (w < 0 && errno == EINTR);
    // A full queue (EAGAIN) drops the frame, as a NIC's full ring would.
    if (w != static_cast<ssize_t>(len)) {
      counters_.tx_errors.inc();
      continue;
    }
    counters_.tx_frames.inc();
    counters_.tx_bytes.inc(len);
    ++sent;
  }
  return sent;
}

}  // namespace sn
