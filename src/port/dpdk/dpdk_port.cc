// The DPDK port; see dpdk_port.h. DPDK's side: the ethdev API
// (doc/guides/prog_guide/poll_mode_drv.rst), the EAL's command line
// (doc/guides/linux_gsg/linux_eal_parameters.rst) and the virtual devices'
// guides (doc/guides/nics/tap.rst, ring.rst, null.rst, af_packet.rst).
#include "port/dpdk/dpdk_port.h"

#include <pthread.h>
#include <rte_dev.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <sched.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <mutex>

#include "base/check.h"
#include "port/partial_csum.h"

namespace sn {
namespace {

constexpr uint16_t kBurst = 32;      // mbufs per rte_eth_rx_burst / tx_burst call
constexpr uint16_t kRxDescs = 1024;  // per queue, before the driver's adjustment
constexpr uint16_t kTxDescs = 1024;
constexpr uint32_t kMinMbufs = 8192;  // in the device's pool
constexpr const char* kEalMemoryMb = "512";

Error io(const char* message) {
  return Error{Errc::kIo, message};
}

// The EAL, once per process. Its arguments: no huge pages (anonymous memory,
// -m MiB of it), no PCI scan, no shared files or multi-process channel (so
// several engines run side by side; the EAL still makes its runtime
// directory, empty), no telemetry socket, only errors logged, IOVA as
// virtual addresses (without huge pages there are no physical ones), and one
// lcore: the CPU the caller runs on. Devices are added later, one per open.
Result<void> start_eal() {
  cpu_set_t saved;
  const bool have_affinity = ::pthread_getaffinity_np(::pthread_self(), sizeof saved, &saved) == 0;
  int cpu = ::sched_getcpu();
  if (cpu < 0) cpu = 0;
  std::string args[] = {
      "shardnet",      "-l",       std::to_string(cpu), "--no-huge",      "-m",
      kEalMemoryMb,    "--no-pci", "--no-shconf",       "--no-telemetry", "--log-level=error",
      "--iova-mode=va"};
  char* argv[std::size(args) + 1] = {};
  for (size_t i = 0; i < std::size(args); ++i)
    argv[i] = args[i].data();
  const int r = ::rte_eal_init(static_cast<int>(std::size(args)), argv);
  // The EAL pins the calling thread to its lcore's CPU; the engine decides
  // where its threads run (and counts the CPUs it may use) by itself.
  if (have_affinity) (void)::pthread_setaffinity_np(::pthread_self(), sizeof saved, &saved);
  if (r < 0)
    return rte_errno == EALREADY
               ? io("DPDK's environment (EAL) was set up before, not by the DPDK port")
               : io("cannot start DPDK's environment (EAL); its message above says why");
  return ok();
}

Result<void> init_eal() {
  // The EAL is process-wide state by DPDK's design and can be set up only
  // once; so is this flag.
  static std::once_flag once;
  static Result<void> result;
  std::call_once(once, [] { result = start_eal(); });
  return result;
}

MacAddress mac_of(const rte_ether_addr& a) {
  MacAddress m;
  std::copy(std::begin(a.addr_bytes), std::end(a.addr_bytes), m.b.begin());
  return m;
}

}  // namespace

// The device and what its queues share. Set up by DpdkPort::open, torn down
// when the last queue's port goes.
class DpdkDevice {
 public:
  explicit DpdkDevice(std::string name) : name(std::move(name)) {}
  ~DpdkDevice() {
    if (started) (void)::rte_eth_dev_stop(port);
    if (has_port) (void)::rte_eth_dev_close(port);
    if (added) (void)::rte_eal_hotplug_remove("vdev", name.c_str());
    if (pool) ::rte_mempool_free(pool);  // after the queues gave their mbufs back
  }
  DpdkDevice(const DpdkDevice&) = delete;
  DpdkDevice& operator=(const DpdkDevice&) = delete;

  std::string name;
  std::string driver;
  uint16_t port = 0;
  bool added = false, has_port = false, started = false;
  rte_mempool* pool = nullptr;
};

Result<std::vector<std::unique_ptr<DpdkPort>>> DpdkPort::open(
    std::string_view device, std::string_view devargs, uint32_t queues,
    std::optional<MacAddress> mac, MacAddress fallback_mac, uint32_t mtu) {
  if (queues == 0) return Error{Errc::kInvalidArgument, "no queue to open"};
  if (queues > RTE_MAX_QUEUES_PER_PORT)
    return Error{Errc::kInvalidArgument, "more shards than DPDK has queues per device"};
  if (auto r = init_eal(); !r) return r.error();

  auto dev = std::make_shared<DpdkDevice>(std::string(device));
  uint16_t port = 0;
  if (::rte_eth_dev_get_port_by_name(dev->name.c_str(), &port) == 0)
    return Error{Errc::kAddressInUse, "this DPDK device is open already"};
  if (::rte_eal_hotplug_add("vdev", dev->name.c_str(), std::string(devargs).c_str()) != 0)
    return io(
        "cannot create the DPDK device: its name must start with a virtual device's driver "
        "(net_tap, net_af_packet, net_ring, net_null...) and devargs= hold that driver's "
        "arguments; DPDK's message above says more");
  dev->added = true;
  if (::rte_eth_dev_get_port_by_name(dev->name.c_str(), &port) != 0)
    return Error{Errc::kInvalidArgument, "the DPDK device is not an Ethernet device"};
  dev->port = port;
  dev->has_port = true;

  rte_eth_dev_info info{};
  if (::rte_eth_dev_info_get(port, &info) != 0) return io("cannot read the DPDK device's limits");
  dev->driver = info.driver_name ? info.driver_name : "";
  const bool tap = dev->driver == "net_tap";
  if (queues > info.max_rx_queues || queues > info.max_tx_queues)
    return Error{Errc::kInvalidArgument,
                 "the DPDK device has fewer queues than the engine has shards (give fewer "
                 "--shards)"};
  // The largest frame the device takes, less its link overhead, as
  // rte_eth_dev_configure() reckons it (net_tap: 1522 bytes, 18 of them overhead).
  const uint32_t overhead = info.max_mtu != UINT16_MAX && info.max_rx_pktlen > info.max_mtu
                                ? info.max_rx_pktlen - info.max_mtu
                                : RTE_ETHER_HDR_LEN + RTE_ETHER_CRC_LEN;
  if (mtu < info.min_mtu || mtu > info.max_mtu || mtu + overhead > info.max_rx_pktlen)
    return Error{Errc::kInvalidArgument,
                 "mtu= is outside the DPDK device's MTU range (net_tap: 1504 at most)"};

  // One frame per mbuf on transmit: room for the MTU and the link header.
  const uint32_t room =
      std::max<uint32_t>(RTE_MBUF_DEFAULT_DATAROOM, mtu + kMaxLinkHeader) + RTE_PKTMBUF_HEADROOM;
  if (room > UINT16_MAX)
    return Error{Errc::kInvalidArgument, "mtu= is too large for a DPDK mbuf (at most 65389)"};
  uint16_t rx_descs = kRxDescs, tx_descs = kTxDescs;

  rte_eth_conf conf{};
  conf.rxmode.mtu = mtu;
  // Spread flows over the queues where the device can (the engine's
  // dispatcher takes each frame to its owner shard whatever queue it came in on).
  if (queues > 1 && info.flow_type_rss_offloads != 0) {
    conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
    conf.rx_adv_conf.rss_conf.rss_hf =
        info.flow_type_rss_offloads & (RTE_ETH_RSS_IP | RTE_ETH_RSS_TCP | RTE_ETH_RSS_UDP);
  }
  // A device that checks TCP and UDP checksums says so per mbuf.
  conf.rxmode.offloads =
      info.rx_offload_capa & (RTE_ETH_RX_OFFLOAD_TCP_CKSUM | RTE_ETH_RX_OFFLOAD_UDP_CKSUM);
  // net_tap's receive interrupt is its queue's file descriptor itself,
  // readable while frames wait: a shard can sleep on it as it is. (Other
  // drivers' interrupts must be re-armed before each sleep, which the
  // engine's loop does not do: they poll.)
  conf.intr_conf.rxq = tap ? 1 : 0;
  const auto q = static_cast<uint16_t>(queues);
  if (::rte_eth_dev_configure(port, q, q, &conf) != 0)
    return io("cannot configure the DPDK device; DPDK's message above says why");
  // net_tap sets the Linux interface's MTU; a device without an MTU of its
  // own (net_ring, net_null) has nothing to set.
  if (int r = ::rte_eth_dev_set_mtu(port, static_cast<uint16_t>(mtu)); r != 0 && r != -ENOTSUP)
    return io("cannot set the DPDK device's MTU");
  if (::rte_eth_dev_adjust_nb_rx_tx_desc(port, &rx_descs, &tx_descs) != 0)
    return io("cannot size the DPDK device's queues");

  // The mbufs: every receive descriptor filled, every transmit descriptor
  // holding a frame, and bursts in flight. No per-lcore cache: the shard
  // threads are not EAL lcores and would not use one.
  static std::atomic<uint32_t> pools_made{0};
  const std::string pool_name = "sn_mbufs_" + std::to_string(pools_made.fetch_add(1));
  const uint32_t mbufs = std::max(kMinMbufs, queues * (rx_descs + tx_descs + 2u * kBurst) + 1024);
  const int socket = ::rte_eth_dev_socket_id(port);
  dev->pool = ::rte_pktmbuf_pool_create(pool_name.c_str(), mbufs, 0, 0, static_cast<uint16_t>(room),
                                        socket < 0 ? SOCKET_ID_ANY : socket);
  if (!dev->pool)
    return io(
        "cannot allocate the DPDK device's mbufs (the EAL has 512 MiB: fewer shards or a "
        "smaller mtu=)");
  for (uint16_t i = 0; i < q; ++i) {
    if (::rte_eth_rx_queue_setup(port, i, rx_descs, static_cast<unsigned>(socket), nullptr,
                                 dev->pool) != 0)
      return io("cannot set up a receive queue of the DPDK device");
    if (::rte_eth_tx_queue_setup(port, i, tx_descs, static_cast<unsigned>(socket), nullptr) != 0)
      return io("cannot set up a transmit queue of the DPDK device");
  }
  if (::rte_eth_dev_start(port) != 0)
    return io("cannot start the DPDK device; DPDK's message above says why");
  dev->started = true;

  rte_ether_addr own{};
  if (::rte_eth_macaddr_get(port, &own) != 0) return io("cannot read the DPDK device's MAC");
  const MacAddress engine_mac = mac ? *mac : tap ? fallback_mac : mac_of(own);
  if (engine_mac != mac_of(own))
    if (int r = ::rte_eth_promiscuous_enable(port); r != 0 && r != -ENOTSUP)
      return io("cannot put the DPDK device in promiscuous mode (for the engine's MAC)");

  std::vector<std::unique_ptr<DpdkPort>> ports;
  for (uint16_t i = 0; i < q; ++i) {
    const int fd = tap ? ::rte_eth_dev_rx_intr_ctl_q_get_fd(port, i) : -1;
    ports.push_back(std::unique_ptr<DpdkPort>(new DpdkPort(dev, i, engine_mac, mtu, fd)));
  }
  return ports;
}

DpdkPort::DpdkPort(std::shared_ptr<DpdkDevice> dev, uint16_t queue, MacAddress mac, uint32_t mtu,
                   int wait_fd)
    : dev_(std::move(dev)),
      queue_(queue),
      mac_(mac),
      mtu_(mtu),
      wait_fd_(wait_fd < 0 ? -1 : wait_fd),
      // Frames from senders on this host, whose checksum a device would
      // complete: net_af_packet on a veth hands them over as they are.
      partial_csums_(dev_->driver == "net_tap" || dev_->driver == "net_af_packet") {}

DpdkPort::~DpdkPort() = default;

const std::string& DpdkPort::driver() const {
  return dev_->driver;
}

Instant DpdkPort::next_event() const {
  if (wait_fd_ >= 0) return Instant::never();
  return last_poll_ + std::clamp((last_poll_ - last_frame_) / 8, kIdlePoll, kIdlePollMax);
}

size_t DpdkPort::rx_burst(PacketPool& pool, std::span<PacketPtr> out, Instant now) {
  last_poll_ = now;
  if (queue_ == 0 && now >= next_stats_) read_device_stats(now);
  size_t n = 0, taken = 0;
  rte_mbuf* mbufs[kBurst];
  while (taken < out.size()) {
    const auto want = static_cast<uint16_t>(std::min<size_t>(out.size() - taken, kBurst));
    const uint16_t got = ::rte_eth_rx_burst(dev_->port, queue_, mbufs, want);
    for (uint16_t i = 0; i < got; ++i)
      if (PacketPtr p = copy_in(*mbufs[i], pool)) out[n++] = std::move(p);
    ::rte_pktmbuf_free_bulk(mbufs, got);
    taken += got;
    if (got < want) break;
  }
  if (taken > 0) last_frame_ = now;
  return n;
}

PacketPtr DpdkPort::copy_in(const rte_mbuf& m, PacketPool& pool) {
  PacketPtr p = pool.alloc();
  if (!p) {
    counters_.rx_no_buffer.inc();  // the frame is dropped: its mbuf goes back to the device
    return p;
  }
  const uint32_t len = m.pkt_len;
  if (len > p->tailroom()) {
    dpdk_.rx_oversize.inc();
    counters_.rx_errors.inc();
    return nullptr;
  }
  std::byte* to = p->append(len);
  uint32_t at = 0;
  for (const rte_mbuf* s = &m; s && at < len; s = s->next) {
    const uint32_t part = std::min<uint32_t>(s->data_len, len - at);
    std::memcpy(to + at, static_cast<const std::byte*>(s->buf_addr) + s->data_off, part);
    at += part;
  }
  if (at < len) {  // segments shorter than pkt_len says: a driver bug, but not ours to pass on
    counters_.rx_errors.inc();
    return nullptr;
  }
  // GOOD: checked by the device. NONE: "not correct in the packet, but the
  // integrity of the L4 data is verified" (rte_mbuf_core.h): a partial
  // checksum from a sender on the host. Else, on drivers that pass partial
  // checksums on unmarked, recognise them by their form.
  const uint64_t l4 = m.ol_flags & RTE_MBUF_F_RX_L4_CKSUM_MASK;
  p->l4_csum_ok = l4 == RTE_MBUF_F_RX_L4_CKSUM_GOOD || l4 == RTE_MBUF_F_RX_L4_CKSUM_NONE ||
                  (partial_csums_ && has_partial_l4_checksum(p->bytes()));
  counters_.rx_frames.inc();
  counters_.rx_bytes.inc(len);
  return p;
}

size_t DpdkPort::tx_burst(std::span<PacketPtr> frames, Instant) {
  size_t handed = 0;
  size_t i = 0;
  while (i < frames.size()) {
    PacketPtr batch[kBurst];
    uint16_t k = 0;
    for (; i < frames.size() && k < kBurst; ++i) {
      PacketPtr p = std::move(frames[i]);
      if (!p) continue;
      if (p->chain_size() > mtu_ + kMaxLinkHeader) {
        counters_.tx_oversize.inc();
        continue;
      }
      batch[k++] = std::move(p);
    }
    if (k == 0) continue;
    rte_mbuf* mbufs[kBurst];
    uint16_t have = k;
    if (::rte_pktmbuf_alloc_bulk(dev_->pool, mbufs, k) != 0) {
      // All or nothing: take what is left one by one.
      have = 0;
      while (have < k && (mbufs[have] = ::rte_pktmbuf_alloc(dev_->pool)) != nullptr)
        ++have;
      dpdk_.mbuf_alloc_failed.inc(k - have);
      counters_.tx_errors.inc(k - have);
    }
    uint32_t lens[kBurst];
    for (uint16_t j = 0; j < have; ++j) {
      lens[j] = batch[j]->chain_size();
      // The pool's data room holds mtu + kMaxLinkHeader (open()).
      char* to = ::rte_pktmbuf_append(mbufs[j], static_cast<uint16_t>(lens[j]));
      SN_CHECK(to != nullptr);
      chain_copy_out(*batch[j], 0, {reinterpret_cast<std::byte*>(to), lens[j]});
    }
    const uint16_t sent = ::rte_eth_tx_burst(dev_->port, queue_, mbufs, have);
    for (uint16_t j = 0; j < sent; ++j) {
      counters_.tx_frames.inc();
      counters_.tx_bytes.inc(lens[j]);
    }
    if (sent < have) {
      ::rte_pktmbuf_free_bulk(mbufs + sent, have - sent);
      dpdk_.tx_refused.inc(have - sent);
      counters_.tx_errors.inc(have - sent);
    }
    handed += sent;
  }
  return handed;
}

void DpdkPort::read_device_stats(Instant now) {
  next_stats_ = now + kStatsEvery;
  rte_eth_stats st{};
  if (::rte_eth_stats_get(dev_->port, &st) != 0) return;
  // The device's counts since the last read (a reset elsewhere: from zero).
  auto delta = [](uint64_t v, uint64_t& seen) {
    const uint64_t d = v >= seen ? v - seen : v;
    seen = v;
    return d;
  };
  const uint64_t missed = delta(st.imissed, seen_imissed_);
  const uint64_t ierrors = delta(st.ierrors, seen_ierrors_);
  const uint64_t oerrors = delta(st.oerrors, seen_oerrors_);
  dpdk_.imissed.inc(missed);
  dpdk_.ierrors.inc(ierrors);
  dpdk_.oerrors.inc(oerrors);
  counters_.rx_errors.inc(missed + ierrors);
  counters_.tx_errors.inc(oerrors);
}

}  // namespace sn
