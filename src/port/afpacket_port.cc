// The AF_PACKET port; see afpacket_port.h. The kernel's side:
// Documentation/networking/packet_mmap.rst (rings, TPACKET_V3, fanout,
// PACKET_QDISC_BYPASS) and net/packet/af_packet.c.
//
// The ring headers (tpacket_block_desc, tpacket3_hdr) are the kernel's ABI,
// laid over the shared memory as the documentation does; the frames in them
// are read and written as bytes.
#include "port/afpacket_port.h"

#include <arpa/inet.h>
#include <linux/filter.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>

#include "port/gso_split.h"
#include "wire/bytes.h"

namespace sn {
namespace {

// Receive ring: TPACKET_V3 packs frames of any length into blocks and hands a
// block over when it is full or, on a quiet link, when it has been open for
// kRetireMs. 8 x 256 KiB per socket holds about 1,300 full-size frames.
constexpr uint32_t kBlockSize = 256 << 10;
constexpr uint32_t kBlocks = 8;
constexpr uint32_t kRetireMs = 2;
constexpr uint32_t kRxFrameSize = 2048;  // V3 ignores it but for tp_frame_nr's arithmetic
// Transmit ring: fixed slots, each a tpacket3_hdr and then the frame.
constexpr uint32_t kTxBlockSize = 256 << 10;
constexpr uint32_t kTxBlocks = 4;
// Where the sockaddr_ll (receive) or the frame (transmit: tp_hdrlen minus the
// sockaddr_ll, in tpacket_snd()) starts after a slot's tpacket3_hdr.
constexpr uint32_t kHdr = TPACKET_ALIGN(sizeof(tpacket3_hdr));
constexpr uint32_t kEthHeader = 14;

Error io(const char* message) {
  return Error{Errc::kIo, message};
}

// The status words the kernel and we hand blocks and slots over with.
uint32_t load_acquire(uint32_t& status) {
  return std::atomic_ref<uint32_t>(status).load(std::memory_order_acquire);
}
void store_release(uint32_t& status, uint32_t v) {
  std::atomic_ref<uint32_t>(status).store(v, std::memory_order_release);
}

Result<void> set_option(int fd, int name, const void* value, socklen_t size, const char* message) {
  if (::setsockopt(fd, SOL_PACKET, name, value, size) != 0) return io(message);
  return ok();
}

Result<void> attach_filter(int fd, std::span<sock_filter> code) {
  sock_fprog prog{static_cast<unsigned short>(code.size()), code.data()};
  if (::setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof prog) != 0)
    return io("cannot attach the socket filter to the AF_PACKET socket");
  return ok();
}

// The Ethernet header as it was on the wire: the kernel moves an 802.1Q tag
// into the ring header (TP_STATUS_VLAN_VALID); it goes back in. Returns the
// header's length. REQUIRES: frame.size() >= kEthHeader.
uint32_t put_link_header(std::byte* to, std::span<const std::byte> frame, const tpacket3_hdr& h) {
  std::memcpy(to, frame.data(), 12);
  uint32_t at = 12;
  if (h.tp_status & TP_STATUS_VLAN_VALID) {
    const bool tpid = h.tp_status & TP_STATUS_VLAN_TPID_VALID;
    store16(to + 12, tpid ? h.hv1.tp_vlan_tpid : uint16_t{ETH_P_8021Q});
    store16(to + 14, static_cast<uint16_t>(h.hv1.tp_vlan_tci));
    at = 16;
  }
  std::memcpy(to + at, frame.data() + 12, 2);
  return at + 2;
}

// True if `frame` is Ethernet II carrying one unfragmented IPv4 TCP segment.
bool is_tcp_ipv4(std::span<const std::byte> frame) {
  return frame.size() >= kEthHeader && load16(frame.data() + 12) == ETH_P_IP &&
         tcp_ipv4_shape(frame.subspan(kEthHeader)).has_value();
}

}  // namespace

Result<std::vector<std::unique_ptr<AfPacketPort>>> AfPacketPort::open(const NetDev& dev,
                                                                      uint32_t queues,
                                                                      MacAddress mac,
                                                                      uint32_t mtu) {
  if (queues == 0) return Error{Errc::kInvalidArgument, "no queue to open"};
  if (mtu > dev.mtu)
    return Error{Errc::kInvalidArgument,
                 "mtu= is larger than the interface's own MTU (raise it with `ip link set dev "
                 "NAME mtu N`, or give a smaller mtu=)"};
  std::vector<std::unique_ptr<AfPacketPort>> ports;
  int group = 0;
  for (uint32_t q = 0; q < queues; ++q) {
    std::unique_ptr<AfPacketPort> port(new AfPacketPort(mac, mtu));
    if (auto r = port->setup(dev, mac != dev.mac); !r) return r.error();
    if (queues > 1)
      if (auto r = port->join_fanout(group); !r) return r.error();
    if (auto r = port->filter_for_engine(); !r) return r.error();
    ports.push_back(std::move(port));
  }
  return ports;
}

Result<void> AfPacketPort::setup(const NetDev& dev, bool promiscuous) {
  // Protocol 0: the socket receives nothing until bind() names ETH_P_ALL.
  fd_ = ::socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd_ < 0)
    return errno == EPERM || errno == EACCES
               ? io("cannot open an AF_PACKET socket (needs CAP_NET_RAW: are you root?)")
               : io("cannot open an AF_PACKET socket");
  // Nothing at all until the socket is in its fanout group: frames taken
  // before that would be copies of what the group's other sockets take.
  sock_filter drop_all[] = {BPF_STMT(BPF_RET | BPF_K, 0)};
  if (auto r = attach_filter(fd_, drop_all); !r) return r;

  const int v3 = TPACKET_V3, one = 1;
  if (auto r = set_option(fd_, PACKET_VERSION, &v3, sizeof v3,
                          "the kernel has no TPACKET_V3 rings (Linux 3.2 or later)");
      !r)
    return r;
  // A slot the kernel cannot send (too long, say) is skipped, not left
  // blocking the transmit ring as TP_STATUS_WRONG_FORMAT.
  if (auto r = set_option(fd_, PACKET_LOSS, &one, sizeof one, "cannot set PACKET_LOSS"); !r)
    return r;
  // Straight to the driver: no qdisc, and no copy to the interface's packet
  // sockets, so a tcpdump there misses the engine's frames (capture on the
  // other end, or with pcap=). Linux 3.14; without it the qdisc works too.
  (void)::setsockopt(fd_, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof one);

  tpacket_req3 rx{};
  rx.tp_block_size = kBlockSize;
  rx.tp_block_nr = kBlocks;
  rx.tp_frame_size = kRxFrameSize;
  rx.tp_frame_nr = kBlockSize / kRxFrameSize * kBlocks;
  rx.tp_retire_blk_tov = kRetireMs;
  if (auto r = set_option(fd_, PACKET_RX_RING, &rx, sizeof rx, "cannot set up the receive ring");
      !r)
    return r;
  // Slots of a power of two that hold the header and a frame of the MTU.
  tx_frame_size_ = 2048;
  while (tx_frame_size_ < kHdr + mtu_ + kMaxLinkHeader)
    tx_frame_size_ *= 2;
  tpacket_req3 tx{};
  tx.tp_block_size = std::max(kTxBlockSize, tx_frame_size_);
  tx.tp_block_nr = kTxBlocks;
  tx.tp_frame_size = tx_frame_size_;
  tx.tp_frame_nr = tx.tp_block_size / tx_frame_size_ * kTxBlocks;
  tx_frames_ = tx.tp_frame_nr;
  if (auto r = set_option(fd_, PACKET_TX_RING, &tx, sizeof tx,
                          "cannot set up the transmit ring (TPACKET_V3 TX needs Linux 4.11)");
      !r)
    return r;
  // One mapping: the receive ring's blocks, then the transmit ring's.
  map_size_ = size_t{kBlockSize} * kBlocks + size_t{tx.tp_block_size} * kTxBlocks;
  void* m = ::mmap(nullptr, map_size_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd_, 0);
  if (m == MAP_FAILED) {
    map_size_ = 0;
    return io("cannot map the AF_PACKET rings");
  }
  map_ = static_cast<std::byte*>(m);
  tx_ring_ = map_ + size_t{kBlockSize} * kBlocks;

  sockaddr_ll sll{};
  sll.sll_family = AF_PACKET;
  sll.sll_protocol = htons(ETH_P_ALL);
  sll.sll_ifindex = dev.ifindex;
  if (::bind(fd_, reinterpret_cast<sockaddr*>(&sll), sizeof sll) != 0)
    return io("cannot bind the AF_PACKET socket to the interface");
  if (promiscuous) {
    // Frames to the engine's MAC, which is not the interface's own. The
    // membership ends with the socket.
    packet_mreq mr{};
    mr.mr_ifindex = dev.ifindex;
    mr.mr_type = PACKET_MR_PROMISC;
    if (auto r = set_option(fd_, PACKET_ADD_MEMBERSHIP, &mr, sizeof mr,
                            "cannot put the interface in promiscuous mode");
        !r)
      return r;
  }
  return ok();
}

Result<void> AfPacketPort::join_fanout(int& group) {
  // packet_mmap.rst "AF_PACKET fanout mode": the group id in the low 16 bits,
  // the mode and its flags above. The flow hash picks the socket; the first
  // socket asks the kernel for an id no other group uses.
  // Not PACKET_FANOUT_FLAG_DEFRAG: the kernel would then reassemble IPv4
  // fragments and hand over datagrams larger than the MTU, which the engine's
  // single-buffer receive path cannot take. Without it the fragments of a
  // datagram still hash alike (addresses and protocol: no ports), and the
  // engine's dispatcher brings them to their owner shard.
  int arg = group == 0 ? (PACKET_FANOUT_HASH | PACKET_FANOUT_FLAG_UNIQUEID) << 16
                       : PACKET_FANOUT_HASH << 16 | group;
  if (auto r = set_option(fd_, PACKET_FANOUT, &arg, sizeof arg,
                          "cannot join the AF_PACKET sockets in a fanout group");
      !r)
    return r;
  if (group == 0) {
    socklen_t len = sizeof arg;
    if (::getsockopt(fd_, SOL_PACKET, PACKET_FANOUT, &arg, &len) != 0)
      return io("cannot read the AF_PACKET fanout group's id");
    group = arg & 0xffff;
  }
  return ok();
}

Result<void> AfPacketPort::filter_for_engine() {
  // Classic BPF (Documentation/networking/filter.rst): whole frames to the
  // engine's MAC or to broadcast, nothing else. The kernel keeps the rest
  // of the interface's traffic to itself, and the rings carry only ours.
  std::byte m[6];
  mac_.store(m);
  const uint32_t hi = load32(m), lo = load16(m + 4);
  sock_filter code[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 0),                  // 0: A = destination bytes 0-3
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, hi, 0, 2),          // 1: ours? on to 2, else to 4
      BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 4),                  // 2: A = destination bytes 4-5
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, lo, 4, 0),          // 3: ours: accept (8), else 4
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 0),                  // 4
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0xffffffff, 0, 3),  // 5: broadcast? on, else drop (9)
      BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 4),                  // 6
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0xffff, 0, 1),      // 7: broadcast: accept, else drop
      BPF_STMT(BPF_RET | BPF_K, 0xffffffff),                  // 8: accept, every byte
      BPF_STMT(BPF_RET | BPF_K, 0),                           // 9: drop
  };
  return attach_filter(fd_, code);
}

AfPacketPort::~AfPacketPort() {
  if (map_) ::munmap(map_, map_size_);
  if (fd_ >= 0) ::close(fd_);
}

size_t AfPacketPort::rx_burst(PacketPool& pool, std::span<PacketPtr> out, Instant) {
  if (tx_unsent_) kick();
  size_t n = 0;
  while (n < out.size()) {
    if (!frame_) {
      auto* b = reinterpret_cast<tpacket_block_desc*>(map_ + size_t{block_} * kBlockSize);
      if (!(load_acquire(b->hdr.bh1.block_status) & TP_STATUS_USER)) break;  // still the kernel's
      frame_ = reinterpret_cast<std::byte*>(b) + b->hdr.bh1.offset_to_first_pkt;
      frames_left_ = b->hdr.bh1.num_pkts;
    }
    while (frames_left_ > 0) {
      const auto& h = *reinterpret_cast<const tpacket3_hdr*>(frame_);
      if (n == out.size() || !take(h, pool, out, n)) return n;  // this frame first, next time
      frame_ += h.tp_next_offset;
      --frames_left_;
    }
    release_block();
  }
  return n;
}

void AfPacketPort::release_block() {
  auto* b = reinterpret_cast<tpacket_block_desc*>(map_ + size_t{block_} * kBlockSize);
  store_release(b->hdr.bh1.block_status, TP_STATUS_KERNEL);
  block_ = (block_ + 1) % kBlocks;
  frame_ = nullptr;
  // What the kernel dropped for want of a free block since the last read
  // (reading resets its count).
  tpacket_stats_v3 st{};
  socklen_t len = sizeof st;
  if (::getsockopt(fd_, SOL_PACKET, PACKET_STATISTICS, &st, &len) == 0 && st.tp_drops) {
    af_.kernel_drops.inc(st.tp_drops);
    counters_.rx_errors.inc(st.tp_drops);
  }
}

bool AfPacketPort::take(const tpacket3_hdr& h, PacketPool& pool, std::span<PacketPtr> out,
                        size_t& n) {
  const auto* base = reinterpret_cast<const std::byte*>(&h);
  const auto* sll = reinterpret_cast<const sockaddr_ll*>(base + kHdr);
  // What this host sends on the interface comes back to its packet sockets
  // (the engine's own frames do not: PACKET_QDISC_BYPASS skips the taps).
  if (sll->sll_pkttype == PACKET_OUTGOING) return true;
  const std::span<const std::byte> frame(base + h.tp_mac, h.tp_snaplen);
  if (h.tp_snaplen < h.tp_len || frame.size() < kEthHeader) {
    counters_.rx_errors.inc();  // cut short (larger than a block) or a runt
    return true;
  }
  const bool tagged = h.tp_status & TP_STATUS_VLAN_VALID;
  const uint32_t len = static_cast<uint32_t>(frame.size()) + (tagged ? 4 : 0);
  // A frame checked in hardware, or from a sender on this host whose
  // checksum the device would have completed: the engine vouches for it.
  const bool csum_ok = h.tp_status & (TP_STATUS_CSUMNOTREADY | TP_STATUS_CSUM_VALID);
  if (len > mtu_ + kMaxLinkHeader && csum_ok && is_tcp_ipv4(frame))
    return resegment(h, frame, pool, out, n);
  PacketPtr p = pool.alloc();
  if (!p) {
    counters_.rx_no_buffer.inc();  // the frame stays in the ring for the next call
    return false;
  }
  if (len > p->tailroom()) {
    af_.rx_oversize.inc();
    counters_.rx_errors.inc();
    return true;
  }
  std::byte* to = p->append(len);
  const uint32_t link = put_link_header(to, frame, h);
  std::memcpy(to + link, frame.data() + kEthHeader, frame.size() - kEthHeader);
  p->l4_csum_ok = csum_ok;
  counters_.rx_frames.inc();
  counters_.rx_bytes.inc(len);
  out[n++] = std::move(p);
  return true;
}

// A TCP super-frame: a TSO/GSO segment from a sender on this host that a
// virtual device passed on whole, or segments the NIC merged (GRO, LRO).
// Split at the engine's MTU (gso_split.h), the ring's 802.1Q tag put back
// in front of each segment.
bool AfPacketPort::resegment(const tpacket3_hdr& h, std::span<const std::byte> frame,
                             PacketPool& pool, std::span<PacketPtr> out, size_t& n) {
  std::byte link_header[18];
  const uint32_t link = put_link_header(link_header, frame, h);
  const GsoSplitResult r = gso_split({link_header, link}, frame.subspan(kEthHeader), mtu_,
                                     /*mss=*/0, pool, out, n, split_done_);
  counters_.rx_frames.inc(r.segments);
  counters_.rx_bytes.inc(r.bytes);
  switch (r.status) {
    case GsoStatus::kDone:
      split_done_ = 0;
      af_.resegmented.inc();
      return true;
    case GsoStatus::kOutFull:
      return false;
    case GsoStatus::kNoBuffer:
      counters_.rx_no_buffer.inc();  // the rest of the frame stays in the ring
      return false;
    case GsoStatus::kRefused:
      break;
  }
  split_done_ = 0;
  af_.rx_oversize.inc();
  counters_.rx_errors.inc();
  return true;
}

size_t AfPacketPort::tx_burst(std::span<PacketPtr> frames, Instant) {
  size_t queued = 0;
  for (PacketPtr& f : frames) {
    PacketPtr p = std::move(f);
    if (!p) continue;
    const uint32_t len = p->chain_size();
    if (len > mtu_ + kMaxLinkHeader) {
      counters_.tx_oversize.inc();
      continue;
    }
    std::byte* slot = tx_slot(tx_head_);
    auto& h = *reinterpret_cast<tpacket3_hdr*>(slot);
    // Slots go out in ring order; one the kernel still holds (being sent)
    // means the ring is full.
    if (load_acquire(h.tp_status) != TP_STATUS_AVAILABLE) {
      af_.tx_ring_full.inc();
      counters_.tx_errors.inc();
      continue;
    }
    chain_copy_out(*p, 0, std::span<std::byte>(slot + kHdr, len));
    h.tp_len = len;
    h.tp_snaplen = len;
    h.tp_next_offset = 0;  // V3 transmit takes fixed slots only
    store_release(h.tp_status, TP_STATUS_SEND_REQUEST);
    tx_head_ = (tx_head_ + 1) % tx_frames_;
    counters_.tx_frames.inc();
    counters_.tx_bytes.inc(len);
    ++queued;
  }
  if (queued || tx_unsent_) kick();
  return queued;
}

void AfPacketPort::kick() {
  // packet_mmap.rst "Transmission process": one send() takes every slot
  // marked TP_STATUS_SEND_REQUEST, in ring order. When the device is busy or
  // down it stops and leaves the rest marked (a frame the device dropped is
  // marked again, not lost): the next kick goes on from there.
  tx_unsent_ = ::send(fd_, nullptr, 0, MSG_DONTWAIT) < 0;
  if (tx_unsent_) af_.tx_kick_retry.inc();
}

}  // namespace sn
