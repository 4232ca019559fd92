// The AF_XDP port; see afxdp_port.h. The kernel's side: Documentation/
// networking/af_xdp.rst (rings, bind modes, need_wakeup).
#include "port/afxdp_port.h"

#include <arpa/inet.h>
#include <linux/if_link.h>
#include <sys/socket.h>
#include <unistd.h>
#include <xdp/xsk.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "port/partial_csum.h"

#include <algorithm>
#include <cerrno>
#include <cstring>

// The XDP program (xdp/sn_xdp.bpf.c), built for the BPF target and embedded.
asm(".section .rodata\n"
    ".balign 8\n"
    ".global sn_xdp_object\n"
    "sn_xdp_object:\n"
    ".incbin \"" SN_XDP_OBJECT
    "\"\n"
    ".global sn_xdp_object_end\n"
    "sn_xdp_object_end:\n"
    ".previous\n");
extern "C" const unsigned char sn_xdp_object[];
extern "C" const unsigned char sn_xdp_object_end[];

namespace sn {
namespace {

constexpr uint32_t kRingSize = 2048;    // every ring: RX, TX, fill, completion
constexpr uint32_t kBatch = 64;         // fill-ring refills and completion reaps
constexpr uint32_t kStatsEvery = 4096;  // rx_burst calls between readings of XDP_STATISTICS

Error io(const char* message) {
  return Error{Errc::kIo, message};
}

}  // namespace

// The program on one interface, from the first queue's open to the last
// queue's close. Native (driver) mode where the driver has it, else generic.
class XdpAttachment {
 public:
  static Result<std::shared_ptr<XdpAttachment>> attach(const NetDev& dev, Ipv4Address address) {
    std::shared_ptr<XdpAttachment> a(new XdpAttachment(dev.ifindex));
    libbpf_set_print(nullptr);  // errors are ours to report, in our words
    LIBBPF_OPTS(bpf_object_open_opts, opts, .object_name = "sn_xdp");
    a->obj_ = bpf_object__open_mem(sn_xdp_object, size_t(sn_xdp_object_end - sn_xdp_object), &opts);
    if (!a->obj_) return io("cannot open the embedded XDP program");
    if (bpf_object__load(a->obj_) != 0)
      return io("the kernel refused the XDP program (needs CAP_BPF and CAP_NET_ADMIN: root?)");
    bpf_program* prog = bpf_object__find_program_by_name(a->obj_, "sn_xdp");
    a->xsks_fd_ = bpf_object__find_map_fd_by_name(a->obj_, "sn_xsks");
    const int addr_fd = bpf_object__find_map_fd_by_name(a->obj_, "sn_addr");
    if (!prog || a->xsks_fd_ < 0 || addr_fd < 0) return io("the XDP program lacks its maps");
    const uint32_t key = 0;
    const uint32_t address_be = htonl(address.v);
    if (bpf_map_update_elem(addr_fd, &key, &address_be, 0) != 0)
      return io("cannot give the XDP program the engine's address");
    const int fd = bpf_program__fd(prog);
    for (uint32_t mode : {uint32_t{XDP_FLAGS_DRV_MODE}, uint32_t{XDP_FLAGS_SKB_MODE}}) {
      const int r = bpf_xdp_attach(dev.ifindex, fd, mode | XDP_FLAGS_UPDATE_IF_NOEXIST, nullptr);
      if (r == 0) {
        a->flags_ = mode;
        return a;
      }
      if (r == -EBUSY || r == -EEXIST)
        return Error{Errc::kAddressInUse,
                     "the interface already has an XDP program (another engine? "
                     "`ip link set dev NAME xdp off` removes a stale one)"};
    }
    return io("cannot attach the XDP program to the interface");
  }
  ~XdpAttachment() {
    if (flags_) bpf_xdp_detach(ifindex_, flags_, nullptr);
    if (obj_) bpf_object__close(obj_);
  }
  int xsks_fd() const { return xsks_fd_; }
  bool native() const { return flags_ == XDP_FLAGS_DRV_MODE; }

 private:
  explicit XdpAttachment(int ifindex) : ifindex_(ifindex) {}
  int ifindex_;
  bpf_object* obj_ = nullptr;
  int xsks_fd_ = -1;
  uint32_t flags_ = 0;
};

struct AfXdpPort::Rings {
  xsk_ring_prod fill{}, tx{};
  xsk_ring_cons comp{}, rx{};
};

AfXdpPort::AfXdpPort(PacketPool& pool, MacAddress mac, uint32_t mtu)
    : pool_(pool), mac_(mac), mtu_(mtu), rings_(std::make_unique<Rings>()) {
  lent_.assign(pool.arena().size() / pool.buffer_size(), 0);
  // Keep a quarter of the pool, at most a ring's worth less a batch, waiting
  // for frames: the rest serves sockets' queues and what is being sent.
  fill_target_ = std::min(pool.capacity() / 4, kRingSize - kBatch);
}

Result<std::vector<std::unique_ptr<AfXdpPort>>> AfXdpPort::open(const NetDev& dev,
                                                                std::span<PacketPool* const> pools,
                                                                Ipv4Address address, MacAddress mac,
                                                                uint32_t mtu, XdpBind bind) {
  if (pools.empty()) return Error{Errc::kInvalidArgument, "no queue to open"};
  if (dev.rx_queues != 0 && pools.size() > dev.rx_queues)
    return Error{Errc::kInvalidArgument,
                 "the interface has fewer receive queues than the engine has shards (give it "
                 "more, e.g. veth numrxqueues/numtxqueues, or run fewer --shards)"};
  if (mtu > dev.mtu)
    return Error{Errc::kInvalidArgument, "mtu= is larger than the interface's own MTU"};
  for (PacketPool* p : pools) {
    const uint32_t b = p->buffer_size();
    if ((b & (b - 1)) != 0 || b < 2048 || b > 4096)
      return Error{Errc::kInvalidArgument,
                   "AF_XDP needs packet buffers of 2048 or 4096 bytes (a power of two)"};
  }
  auto attachment = XdpAttachment::attach(dev, address);
  if (!attachment) return attachment.error();
  std::vector<std::unique_ptr<AfXdpPort>> ports;
  for (uint32_t q = 0; q < pools.size(); ++q) {
    std::unique_ptr<AfXdpPort> port(new AfXdpPort(*pools[q], mac, mtu));
    port->partial_csums_ = dev.hands_over_partial_checksums();
    port->attachment_ = *attachment;
    if (auto r = port->bind(dev, q, bind, (*attachment)->xsks_fd()); !r) return r.error();
    ports.push_back(std::move(port));
  }
  return ports;
}

Result<void> AfXdpPort::bind(const NetDev& dev, uint32_t queue, XdpBind mode, int xsks_map_fd) {
  xsk_umem_config uc{};
  uc.fill_size = kRingSize;
  uc.comp_size = kRingSize;
  uc.frame_size = pool_.buffer_size();
  uc.frame_headroom = 0;
  const std::span<std::byte> area = pool_.arena();
  if (xsk_umem__create(&umem_, area.data(), area.size(), &rings_->fill, &rings_->comp, &uc) != 0)
    return io("cannot register the packet pool as AF_XDP memory (UMEM)");
  xsk_socket_config sc{};
  sc.rx_size = kRingSize;
  sc.tx_size = kRingSize;
  sc.libxdp_flags = XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD;  // the program is ours
  int r = -1;
  for (uint16_t flags : {uint16_t{XDP_ZEROCOPY}, uint16_t{XDP_COPY}}) {
    if ((mode == XdpBind::kCopy && flags == XDP_ZEROCOPY) ||
        (mode == XdpBind::kZeroCopy && flags == XDP_COPY))
      continue;
    sc.bind_flags = static_cast<uint16_t>(flags | XDP_USE_NEED_WAKEUP);
    r = xsk_socket__create(&xsk_, dev.name.c_str(), queue, umem_, &rings_->rx, &rings_->tx, &sc);
    if (r == 0) {
      zero_copy_ = flags == XDP_ZEROCOPY;
      break;
    }
  }
  if (r != 0)
    return mode == XdpBind::kZeroCopy
               ? io("cannot bind an XDP socket in zero-copy mode (the driver has none?)")
               : io("cannot bind an XDP socket to the interface's queue");
  fd_ = xsk_socket__fd(xsk_);
  if (xsk_socket__update_xskmap(xsk_, xsks_map_fd) != 0)
    return io("cannot enter the XDP socket in the program's map");
  refill();
  return ok();
}

AfXdpPort::~AfXdpPort() {
  if (xsk_) xsk_socket__delete(xsk_);
  if (umem_) xsk_umem__delete(umem_);
  // The kernel lets go of everything once the socket is gone.
  for (size_t i = 0; i < lent_.size(); ++i)
    if (lent_[i]) PacketPtr back_to_pool(pool_.packet_at(uint64_t(i) * pool_.buffer_size()));
}

void AfXdpPort::lend(Packet* p) {
  lent_[pool_.arena_offset(*p) / pool_.buffer_size()] = 1;
}

PacketPtr AfXdpPort::take_back(uint64_t addr) {
  Packet* p = pool_.packet_at(addr);
  lent_[addr / pool_.buffer_size()] = 0;
  return PacketPtr(p);
}

void AfXdpPort::refill() {
  // In batches: a ring update (and the cache line the kernel reads) per
  // kBatch buffers, not per buffer.
  while (fill_target_ - in_fill_ >= kBatch || in_fill_ == 0) {
    Packet* batch[kBatch];
    uint32_t n = 0;
    for (; n < std::min(kBatch, fill_target_ - in_fill_); ++n) {
      PacketPtr p = pool_.alloc();
      if (!p) break;
      batch[n] = p.release();
    }
    uint32_t idx = 0;
    if (n == 0 || xsk_ring_prod__reserve(&rings_->fill, n, &idx) != n) {
      for (uint32_t i = 0; i < n; ++i)
        PacketPtr back_to_pool(batch[i]);
      xdp_.fill_short.inc();
      return;
    }
    for (uint32_t i = 0; i < n; ++i) {
      batch[i]->reset(0);
      *xsk_ring_prod__fill_addr(&rings_->fill, idx + i) = pool_.arena_offset(*batch[i]);
      lend(batch[i]);
    }
    xsk_ring_prod__submit(&rings_->fill, n);
    in_fill_ += n;
  }
}

void AfXdpPort::reap() {
  uint32_t idx = 0;
  const uint32_t n = xsk_ring_cons__peek(&rings_->comp, kRingSize, &idx);
  for (uint32_t i = 0; i < n; ++i)
    take_back(*xsk_ring_cons__comp_addr(&rings_->comp, idx + i));  // back to the pool
  if (n) xsk_ring_cons__release(&rings_->comp, n);
  in_flight_tx_ -= n;
}

void AfXdpPort::kick() {
  if (!xsk_ring_prod__needs_wakeup(&rings_->tx)) return;
  xdp_.kicks.inc();
  // Copy mode sends a bounded batch per call and says EAGAIN when more is
  // left: what remains goes with the next burst's kick.
  if (::sendto(fd_, nullptr, 0, MSG_DONTWAIT, nullptr, 0) < 0 && errno != EAGAIN &&
      errno != EBUSY && errno != ENOBUFS && errno != ENETDOWN)
    counters_.tx_errors.inc();
}

void AfXdpPort::read_kernel_stats() {
  xdp_statistics st{};
  socklen_t len = sizeof st;
  if (::getsockopt(fd_, SOL_XDP, XDP_STATISTICS, &st, &len) != 0) return;
  const uint64_t now[4] = {st.rx_ring_full, st.rx_dropped, st.rx_fill_ring_empty_descs,
                           st.tx_invalid_descs};
  Counter* into[4] = {&xdp_.kernel_rx_ring_full, &xdp_.kernel_rx_dropped, &xdp_.kernel_fill_empty,
                      &xdp_.kernel_tx_invalid};
  for (int i = 0; i < 4; ++i) {
    if (now[i] <= kernel_seen_[i]) continue;
    into[i]->inc(now[i] - kernel_seen_[i]);
    if (i < 2) counters_.rx_errors.inc(now[i] - kernel_seen_[i]);  // the frames lost
    kernel_seen_[i] = now[i];
  }
}

Instant AfXdpPort::next_event() const {
  const uint32_t taken = __atomic_load_n(rings_->tx.consumer, __ATOMIC_ACQUIRE);
  return taken != rings_->tx.cached_prod ? Instant() : Instant::never();
}

size_t AfXdpPort::rx_burst(PacketPool&, std::span<PacketPtr> out, Instant) {
  if (++bursts_ % kStatsEvery == 0) read_kernel_stats();
  reap();
  uint32_t idx = 0;
  const uint32_t n = xsk_ring_cons__peek(
      &rings_->rx, static_cast<uint32_t>(std::min<size_t>(out.size(), kRingSize)), &idx);
  for (uint32_t i = 0; i < n; ++i) {
    const xdp_desc* d = xsk_ring_cons__rx_desc(&rings_->rx, idx + i);
    PacketPtr p = take_back(d->addr);
    p->reset(static_cast<uint32_t>(d->addr % pool_.buffer_size()));
    p->append(d->len);
    if (partial_csums_) p->l4_csum_ok = has_partial_l4_checksum(p->bytes());
    counters_.rx_frames.inc();
    counters_.rx_bytes.inc(d->len);
    out[i] = std::move(p);
  }
  if (n) xsk_ring_cons__release(&rings_->rx, n);
  in_fill_ -= n;
  refill();
  if (next_event() != Instant::never()) kick();  // copy mode: what the last kick left
  return n;
}

size_t AfXdpPort::tx_burst(std::span<PacketPtr> frames, Instant) {
  reap();
  uint32_t used = 0;
  for (PacketPtr& f : frames) {
    PacketPtr p = std::move(f);
    if (!p) continue;
    const uint32_t len = p->chain_size();
    if (len > mtu_ + kMaxLinkHeader) {
      counters_.tx_oversize.inc();
      continue;
    }
    if (!pool_.owns(*p) || p->next()) {
      PacketPtr copy = pool_.alloc();
      if (!copy) {
        counters_.tx_errors.inc();
        continue;
      }
      chain_copy_out(*p, 0, std::span<std::byte>(copy->append(len), len));
      p = std::move(copy);
      xdp_.tx_copied.inc();
    }
    uint32_t idx = 0;
    if (xsk_ring_prod__reserve(&rings_->tx, 1, &idx) != 1) {
      xdp_.tx_ring_full.inc();
      continue;
    }
    xdp_desc* d = xsk_ring_prod__tx_desc(&rings_->tx, idx);
    d->addr = pool_.arena_offset(*p);
    d->len = len;
    d->options = 0;
    lend(p.release());
    counters_.tx_frames.inc();
    counters_.tx_bytes.inc(len);
    ++used;
  }
  if (used) {
    xsk_ring_prod__submit(&rings_->tx, used);  // the reservations, in order
    in_flight_tx_ += used;
    kick();
  }
  return used;
}

}  // namespace sn
