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

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "port/gso_split.h"
#include "wire/bytes.h"

namespace sn {
namespace {

constexpr uint32_t kMaxQueues = 256;  // the kernel's MAX_TAP_QUEUES
// Links of a chain written in one writev: a super-segment of up to 64 KiB in
// the smallest buffers (1 KiB, --buffer-size) takes up to 65.
constexpr int kMaxIov = 128;
// The largest frame the kernel hands over with TSO: an IPv4 datagram of up
// to 64 KiB behind an Ethernet header with a tag.
constexpr uint32_t kScratchSize = 65536 + kMaxLinkHeader;
// struct virtio_net_hdr, the legacy header TAP puts in front of each frame
// with IFF_VNET_HDR. Spelled out here: include/uapi/linux/virtio_net.h does
// not compile as C++ (a field named `class`). Its fields are in host byte
// order (the legacy format, TUNSETVNETBE unset, on a little-endian host).
struct VirtioNetHdr {
  uint8_t flags;
  uint8_t gso_type;
  uint16_t hdr_len;      // Ethernet, IP and TCP headers of a GSO frame
  uint16_t gso_size;     // the payload of each segment it stands for
  uint16_t csum_start;   // NEEDS_CSUM: where the sum starts ...
  uint16_t csum_offset;  // ... and where after that it goes
};
static_assert(sizeof(VirtioNetHdr) == 10);
constexpr uint8_t kHdrNeedsCsum = 1;  // VIRTIO_NET_HDR_F_NEEDS_CSUM
constexpr uint8_t kHdrDataValid = 2;  // VIRTIO_NET_HDR_F_DATA_VALID
constexpr uint8_t kGsoTcpV4 = 1;      // VIRTIO_NET_HDR_GSO_TCPV4
constexpr uint8_t kGsoEcn = 0x80;     // VIRTIO_NET_HDR_GSO_ECN
// The header in front of a frame we send that asks for nothing: no checksum
// to complete, no segmentation (VIRTIO_NET_HDR_GSO_NONE).
const VirtioNetHdr kNoOffload{};

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

// The length of the link header in front of an IPv4 datagram (Ethernet II,
// with or without an 802.1Q tag), or 0 if `frame` does not carry IPv4.
uint32_t ipv4_link_header(std::span<const std::byte> frame) {
  if (frame.size() >= 14 && load16(frame.data() + 12) == 0x0800) return 14;
  if (frame.size() >= 18 && load16(frame.data() + 12) == 0x8100 &&
      load16(frame.data() + 16) == 0x0800)
    return 18;
  return 0;
}

}  // namespace

TapPort::TapPort(int fd, std::string name, MacAddress mac, uint32_t mtu, uint32_t queue_index,
                 bool vnet)
    : fd_(fd),
      name_(std::move(name)),
      mac_(mac),
      mtu_(mtu),
      queue_index_(queue_index),
      vnet_(vnet),
      scratch_(vnet ? new std::byte[kScratchSize] : nullptr) {}

Result<std::unique_ptr<TapPort>> TapPort::open(const std::string& name, MacAddress our_mac,
                                               uint32_t mtu, uint32_t queues, uint32_t queue_index,
                                               bool offload) {
  if (name.empty()) return Error{Errc::kInvalidArgument, "the TAP device needs a name"};
  if (name.size() >= IFNAMSIZ)
    return Error{Errc::kInvalidArgument, "TAP device name too long (at most 15 characters)"};
  if (queues == 0 || queues > kMaxQueues || queue_index >= queues)
    return Error{Errc::kInvalidArgument, "TAP queues must be 1 to 256, and the index below them"};

  Fd fd(::open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC));
  if (fd.get() < 0) return open_error(errno);
  // The virtio-net header, if this kernel has it (TUNGETFEATURES lists it
  // since Linux 2.6.27). The flags are the device's, not the queue's: the
  // kernel takes every attaching queue's as the device's new ones.
  unsigned int features = 0;
  const bool vnet = offload && ::ioctl(fd.get(), TUNGETFEATURES, &features) == 0 &&
                    (features & IFF_VNET_HDR) != 0;
  ifreq ifr;
  fill_name(ifr, name);
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
  if (queues > 1) ifr.ifr_flags |= IFF_MULTI_QUEUE;
  if (vnet) ifr.ifr_flags |= IFF_VNET_HDR;
  if (::ioctl(fd.get(), TUNSETIFF, &ifr) < 0) return attach_error(errno);
  if (vnet) {
    // The legacy 10-byte header, no num_buffers: one frame is one read().
    int size = sizeof(VirtioNetHdr);
    if (::ioctl(fd.get(), TUNSETVNETHDRSZ, &size) < 0)
      return io("cannot set the TAP device's virtio-net header size (TUNSETVNETHDRSZ)");
    // Checksum offload and TSO for IPv4: the kernel may send TCP frames of
    // up to 64 KiB, and TCP and UDP with a partial checksum (NEEDS_CSUM).
    // Should the kernel refuse, the header stays and says "nothing
    // offloaded" on every frame: all works as without it.
    (void)::ioctl(fd.get(), TUNSETOFFLOAD, static_cast<unsigned long>(TUN_F_CSUM | TUN_F_TSO4));
  }

  if (Result<void> r = configure_link(name, mtu); !r) return r.error();
  return std::unique_ptr<TapPort>(new TapPort(fd.release(), name, our_mac, mtu, queue_index, vnet));
}

Result<std::vector<std::unique_ptr<TapPort>>> TapPort::open_queues(const std::string& name,
                                                                   MacAddress our_mac, uint32_t mtu,
                                                                   uint32_t n, bool offload) {
  if (n == 0) return Error{Errc::kInvalidArgument, "a TAP device needs at least one queue"};
  std::vector<std::unique_ptr<TapPort>> ports;
  for (uint32_t i = 0; i < n; ++i) {
    // The same flags on every queue: what the first one got.
    auto p = open(name, our_mac, mtu, n, i, i == 0 ? offload : ports[0]->offload());
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
  return vnet_ ? rx_vnet(pool, out) : rx_plain(pool, out);
}

size_t TapPort::rx_plain(PacketPool& pool, std::span<PacketPtr> out) {
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

size_t TapPort::rx_vnet(PacketPool& pool, std::span<PacketPtr> out) {
  size_t n = 0;
  if (pending_len_ != 0 && !split_pending(pool, out, n)) return n;
  while (n < out.size()) {
    PacketPtr p = pool.alloc();
    if (!p) {
      if (readable()) counters_.rx_no_buffer.inc();
      break;
    }
    // A frame that fits lands in the buffer; the rest of a larger one in
    // scratch_, behind room for what the buffer took.
    VirtioNetHdr h{};
    const uint32_t room = p->tailroom();
    iovec iov[3] = {{&h, sizeof h}, {p->data(), room}, {}};
    int cnt = 2;
    if (room < kScratchSize) iov[cnt++] = iovec{scratch_.get() + room, kScratchSize - room};
    const ssize_t r = ::readv(fd_, iov, cnt);
    if (r < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) counters_.rx_errors.inc();
      break;
    }
    if (r == 0) break;
    // The kernel reports a frame's full length even when it copied less.
    if (static_cast<size_t>(r) < sizeof h) {
      counters_.rx_errors.inc();
      continue;
    }
    const size_t len = static_cast<size_t>(r) - sizeof h;
    if (len > std::max(room, kScratchSize)) {
      counters_.rx_errors.inc();  // cut short
      continue;
    }
    // NEEDS_CSUM: the checksum field holds only the pseudo-header sum, for
    // the device to complete; the data never left this host's memory.
    // DATA_VALID: the kernel checked it. Either way the stack need not.
    const bool csum_ok = h.flags & (kHdrNeedsCsum | kHdrDataValid);
    if (csum_ok) tap_.csum_offloaded.inc();
    if (len <= mtu_ + kMaxLinkHeader && len <= room) {
      p->append(static_cast<uint32_t>(len));
      p->l4_csum_ok = csum_ok;
      counters_.rx_frames.inc();
      counters_.rx_bytes.inc(len);
      out[n++] = std::move(p);
      continue;
    }
    // Larger than the MTU: a TCP super-frame (TSO) to split, from a sender
    // whose checksum the header vouches for; anything else is dropped.
    if (!csum_ok || len > kScratchSize) {
      tap_.rx_oversize.inc();
      counters_.rx_errors.inc();
      continue;
    }
    std::memcpy(scratch_.get(), p->data(), std::min<size_t>(len, room));
    p.reset();
    pending_len_ = static_cast<uint32_t>(len);
    pending_mss_ = (h.gso_type & ~kGsoEcn) == kGsoTcpV4 ? h.gso_size : 0;
    split_done_ = 0;
    if (!split_pending(pool, out, n)) break;
  }
  return n;
}

bool TapPort::split_pending(PacketPool& pool, std::span<PacketPtr> out, size_t& n) {
  const std::span<const std::byte> frame(scratch_.get(), pending_len_);
  const uint32_t link = ipv4_link_header(frame);
  GsoSplitResult r;  // kRefused unless split
  if (link != 0)
    r = gso_split(frame.first(link), frame.subspan(link), mtu_, pending_mss_, pool, out, n,
                  split_done_);
  counters_.rx_frames.inc(r.segments);
  counters_.rx_bytes.inc(r.bytes);
  tap_.resegmented.inc(r.segments);
  switch (r.status) {
    case GsoStatus::kDone:
      tap_.gso_frames.inc();
      pending_len_ = 0;
      return true;
    case GsoStatus::kOutFull:
      return false;
    case GsoStatus::kNoBuffer:
      counters_.rx_no_buffer.inc();
      return false;
    case GsoStatus::kRefused:
      break;
  }
  tap_.rx_oversize.inc();
  counters_.rx_errors.inc();
  pending_len_ = 0;
  return true;
}

// The virtio-net header for a frame of ours: a partial TCP checksum to
// complete (csum_start at the TCP header, the field 16 bytes into it), and
// for a super-segment its segment size and header length, or nothing asked.
// The first link holds the Ethernet, IP and TCP headers (the stack built them
// there); a frame without them goes with nothing asked.
static VirtioNetHdr tx_header(const Packet& p, TapCounters& c) {
  if (!p.l4_csum_partial) return kNoOffload;
  const auto first = p.bytes();
  const uint32_t link = ipv4_link_header(first);
  if (link == 0 || first.size() < link + 20) return kNoOffload;
  const uint32_t ihl = (load8(first.data() + link) & 0x0f) * 4u;
  if (first.size() < link + ihl + 20) return kNoOffload;
  const uint32_t thl = (load8(first.data() + link + ihl + 12) >> 4) * 4u;
  VirtioNetHdr h{};
  h.flags = kHdrNeedsCsum;
  h.hdr_len = static_cast<uint16_t>(link + ihl + thl);
  h.csum_start = static_cast<uint16_t>(link + ihl);
  h.csum_offset = 16;
  c.tx_csum_partial.inc();
  if (p.gso_size != 0) {
    h.gso_type = kGsoTcpV4;
    h.gso_size = p.gso_size;
    c.tx_tso_frames.inc();
  }
  return h;
}

size_t TapPort::tx_burst(std::span<PacketPtr> frames, Instant) {
  size_t sent = 0;
  for (PacketPtr& f : frames) {
    PacketPtr p = std::move(f);
    if (!p) continue;
    const uint32_t len = p->chain_size();
    const bool tso = vnet_ && p->gso_size != 0;
    if (len > (tso ? tx_tso_max() : mtu_) + kMaxLinkHeader) {
      counters_.tx_oversize.inc();
      continue;
    }
    iovec iov[kMaxIov + 1];
    int cnt = 0;
    VirtioNetHdr hdr;
    if (vnet_) {
      hdr = tx_header(*p, tap_);
      iov[cnt++] = iovec{&hdr, sizeof hdr};
    }
    const int end = cnt + kMaxIov;
    Packet* q = p.get();
    for (; q && cnt < end; q = q->next())
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
    if (w != static_cast<ssize_t>(len + (vnet_ ? sizeof hdr : 0))) {
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
