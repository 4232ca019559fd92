// Tests of the DPDK port on DPDK's software devices, under the EAL the port
// starts (no huge pages, no PCI). net_ring is a loopback in memory (what a
// queue sends comes back on the same queue), net_null a sink; these run
// without root. The net_tap tests exchange frames with Linux through the TAP
// interface DPDK makes, in a network namespace of their own: they need root
// and are skipped, loudly, without it.
#include "port/dpdk/dpdk_port.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "port/device.h"
#include "port/iface_spec.h"
#include "port/port_testing.h"
#include "wire/bytes.h"

namespace sn {
namespace {

using testing::bytes_of;
using testing::kTestEtherType;
using testing::mac;
using testing::make_frame;
using testing::seq_of;
using Bytes = std::vector<std::byte>;

std::vector<std::unique_ptr<DpdkPort>> open_ports(const char* device, const char* devargs,
                                                  uint32_t queues, uint32_t mtu = 1500,
                                                  std::optional<MacAddress> m = mac(1)) {
  auto r = DpdkPort::open(device, devargs, queues, m, mac(7), mtu);
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
  return r.ok() ? std::move(r.value()) : std::vector<std::unique_ptr<DpdkPort>>{};
}

// What `port` receives (the frames `keep` accepts, when given) until `want`
// came or it stayed quiet a while.
std::vector<PacketPtr> drain(Port& port, PacketPool& pool, size_t want = SIZE_MAX,
                             const std::function<bool(const Packet&)>& keep = nullptr) {
  std::vector<PacketPtr> got;
  for (int idle = 0; got.size() < want && idle < 50;) {
    if (port.wait_fd() >= 0) {
      pollfd p{port.wait_fd(), POLLIN, 0};
      if (::poll(&p, 1, 10) <= 0) ++idle;
    } else {
      ::usleep(1000);
      ++idle;
    }
    PacketPtr out[16];
    const size_t k = port.rx_burst(pool, out, Instant{});
    for (size_t j = 0; j < k; ++j)
      if (!keep || keep(*out[j])) got.push_back(std::move(out[j]));
  }
  return got;
}

class DpdkPortTest : public ::testing::Test {
 protected:
  PacketPool pool_{PoolConfig{.count = 256}};
};

TEST_F(DpdkPortTest, RingSendsFramesBackOnTheSameQueueByteExact) {
  auto ports = open_ports("net_ring_sn0", "", 2);
  ASSERT_EQ(ports.size(), 2u);
  DpdkPort& a = *ports[0];
  EXPECT_EQ(a.driver(), "net_ring");
  EXPECT_EQ(a.mac(), mac(1));
  EXPECT_EQ(a.mtu(), 1500u);
  EXPECT_EQ(a.wait_fd(), -1);  // net_ring polls
  // Quiet for long: the next poll is kIdlePollMax away.
  const Instant t = Instant{} + Duration::seconds(1);
  PacketPtr none[1];
  EXPECT_EQ(a.rx_burst(pool_, none, t), 0u);
  EXPECT_EQ(a.next_event(), t + DpdkPort::kIdlePollMax);

  // Single buffers, the largest untagged frame, and a chain (copied link by link).
  std::vector<PacketPtr> frames;
  frames.push_back(make_frame(pool_, mac(2), mac(1), 1));
  frames.push_back(make_frame(pool_, mac(2), mac(1), 2, 1496));
  PacketPtr chain = make_frame(pool_, mac(2), mac(1), 3, 100);
  PacketPtr tail = pool_.alloc();
  for (int i = 0; i < 300; ++i)
    tail->append(1)[0] = std::byte(i);
  chain->append_chain(std::move(tail));
  frames.push_back(std::move(chain));
  std::vector<Bytes> sent;
  for (const PacketPtr& f : frames) {
    Bytes b(f->chain_size());
    chain_copy_out(*f, 0, b);
    sent.push_back(b);
  }
  EXPECT_EQ(a.tx_burst(frames, Instant{}), 3u);
  EXPECT_EQ(a.counters().tx_frames.get(), 3u);
  EXPECT_EQ(a.counters().tx_bytes.get(), 64u + 1514u + 418u);

  PacketPtr got[4];
  ASSERT_EQ(a.rx_burst(pool_, got, t), 3u);
  EXPECT_EQ(a.next_event(), t + DpdkPort::kIdlePoll);  // frames just came: poll again soon
  EXPECT_EQ(a.rx_burst(pool_, std::span(got).subspan(3), t + Duration::millis(4)), 0u);
  EXPECT_EQ(a.next_event(), t + Duration::millis(4) + Duration::micros(500));  // backing off
  for (size_t i = 0; i < 3; ++i)
    EXPECT_EQ(bytes_of(*got[i]), sent[i]) << "frame " << i;
  EXPECT_EQ(a.counters().rx_frames.get(), 3u);
  EXPECT_EQ(a.counters().rx_bytes.get(), 64u + 1514u + 418u);
  EXPECT_TRUE(drain(*ports[1], pool_).empty());  // the other queue saw nothing
}

TEST_F(DpdkPortTest, ABurstLargerThanDpdksIsSentAndReceivedWhole) {
  auto ports = open_ports("net_ring_sn1", "", 1);
  ASSERT_EQ(ports.size(), 1u);
  std::vector<PacketPtr> frames;
  for (uint32_t i = 0; i < 100; ++i)
    frames.push_back(make_frame(pool_, mac(2), mac(1), i));
  EXPECT_EQ(ports[0]->tx_burst(frames, Instant{}), 100u);
  PacketPtr out[100];
  size_t n = ports[0]->rx_burst(pool_, out, Instant{});
  ASSERT_EQ(n, 100u);
  for (uint32_t i = 0; i < 100; ++i)
    EXPECT_EQ(seq_of(*out[i]), i);
}

TEST_F(DpdkPortTest, EmptyPoolAndSmallBuffersAreCounted) {
  auto ports = open_ports("net_ring_sn2", "", 1);
  ASSERT_EQ(ports.size(), 1u);
  DpdkPort& p = *ports[0];
  std::vector<PacketPtr> frames;
  for (uint32_t i = 0; i < 8; ++i)
    frames.push_back(make_frame(pool_, mac(2), mac(1), i));
  frames.push_back(make_frame(pool_, mac(2), mac(1), 99, 1496 + 5));  // over mtu + 18
  EXPECT_EQ(p.tx_burst(frames, Instant{}), 8u);
  EXPECT_EQ(p.counters().tx_oversize.get(), 1u);

  PacketPool small{PoolConfig{.count = 3}};
  PacketPtr out[16];
  EXPECT_EQ(p.rx_burst(small, out, Instant{}), 3u);
  EXPECT_EQ(p.counters().rx_no_buffer.get(), 5u);  // DPDK's mbufs cannot wait: dropped, counted

  // A frame larger than the pool's buffers.
  PacketPool tiny{PoolConfig{.count = 4, .buffer_size = 256, .headroom = 128}};
  std::vector<PacketPtr> big;
  big.push_back(make_frame(pool_, mac(2), mac(1), 7, 500));
  EXPECT_EQ(p.tx_burst(big, Instant{}), 1u);
  EXPECT_EQ(p.rx_burst(tiny, out, Instant{}), 0u);
  EXPECT_EQ(p.dpdk_counters().rx_oversize.get(), 1u);
  EXPECT_EQ(p.counters().rx_errors.get(), 1u);
  const auto named = p.device_counters();
  ASSERT_EQ(named.size(), 6u);
  EXPECT_STREQ(named[2].name, "dpdk_rx_oversize");
  EXPECT_EQ(named[2].counter->get(), 1u);
}

TEST_F(DpdkPortTest, NullDeviceConsumesWhatIsSent) {
  auto ports = open_ports("net_null_sn0", "no-rx=1", 2);
  ASSERT_EQ(ports.size(), 2u);
  EXPECT_EQ(ports[1]->driver(), "net_null");
  std::vector<PacketPtr> frames;
  for (uint32_t i = 0; i < 50; ++i)
    frames.push_back(make_frame(pool_, mac(2), mac(1), i));
  EXPECT_EQ(ports[1]->tx_burst(frames, Instant{}), 50u);
  EXPECT_EQ(ports[1]->counters().tx_frames.get(), 50u);
  EXPECT_EQ(ports[1]->counters().tx_errors.get(), 0u);
  EXPECT_TRUE(drain(*ports[1], pool_).empty());
  EXPECT_EQ(pool_.available(), pool_.capacity());  // every packet released
}

TEST_F(DpdkPortTest, NullDeviceReceivesItsFrames) {
  // Without no-rx, net_null receives frames of `size` bytes, as many as asked.
  auto ports = open_ports("net_null_sn1", "size=64", 1);
  ASSERT_EQ(ports.size(), 1u);
  PacketPtr out[40];
  EXPECT_EQ(ports[0]->rx_burst(pool_, out, Instant{}), 40u);  // more than one DPDK burst
  EXPECT_EQ(out[39]->size(), 64u);
  EXPECT_FALSE(out[0]->l4_csum_ok);
}

TEST_F(DpdkPortTest, OpenThroughTheIfaceSpecAndTheDevice) {
  auto spec = parse_iface_spec("dpdk:net_null_sn2,devargs=no-rx=1;size=128,mtu=9000");
  ASSERT_TRUE(spec.ok()) << spec.error().message;
  EXPECT_EQ(spec->kind, "dpdk");
  EXPECT_EQ(spec->name, "net_null_sn2");
  EXPECT_EQ(spec->devargs, "no-rx=1,size=128");
  PacketPool second{PoolConfig{.count = 8}};
  PacketPool* pools[] = {&pool_, &second};
  auto ports = open_device(*spec, pools, Ipv4Address(0x0a090002), mac(7));
  ASSERT_TRUE(ports.ok()) << ports.error().message;
  ASSERT_EQ(ports->size(), 2u);
  EXPECT_EQ((*ports)[1]->mtu(), 9000u);
  EXPECT_NE((*ports)[0]->mac(), mac(7));  // no mac=: net_null's own

  // The same device twice.
  auto again = open_device(*spec, pools, Ipv4Address(0), mac(7));
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code, Errc::kAddressInUse) << again.error().message;

  // What the parser refuses.
  for (const char* bad : {"dpdk:net_tap0,devargs=", "dpdk:net_tap0,devargs=iface",
                          "tap:sn0,devargs=iface=x", "dpdk:net tap", "dpdk:net_tap0,iface=x"})
    EXPECT_FALSE(parse_iface_spec(bad).ok()) << bad;
  EXPECT_TRUE(parse_iface_spec("dpdk:" + std::string(63, 'n')).ok());
  EXPECT_FALSE(parse_iface_spec("dpdk:" + std::string(64, 'n')).ok());
}

TEST_F(DpdkPortTest, OpenErrorsSayWhat) {
  auto unknown = DpdkPort::open("sn_no_such_driver0", "", 1, mac(1), mac(7), 1500);
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(std::string(unknown.error().message).find("virtual device"), std::string::npos);
  auto queues = DpdkPort::open("net_ring_sn3", "", 64, mac(1), mac(7), 1500);
  ASSERT_FALSE(queues.ok());
  EXPECT_NE(std::string(queues.error().message).find("queues"), std::string::npos)
      << queues.error().message;
  auto mtu = DpdkPort::open("net_ring_sn4", "", 1, mac(1), mac(7), 65500);
  ASSERT_FALSE(mtu.ok());
  EXPECT_NE(std::string(mtu.error().message).find("mtu"), std::string::npos) << mtu.error().message;
  // A failed open leaves nothing behind: the name can be used again.
  EXPECT_EQ(open_ports("net_ring_sn3", "", 1).size(), 1u);
}

// --- net_tap: Linux on the other side -----------------------------------

void sh(const std::string& cmd) {
  ASSERT_EQ(std::system((cmd + " >/dev/null 2>&1").c_str()), 0) << cmd;
}

class DpdkTapTest : public DpdkPortTest {
 protected:
  void SetUp() override {
    if (::geteuid() != 0)
      GTEST_SKIP() << "\n\n*** DPDK net_tap tests SKIPPED: they need root (a network namespace, "
                      "/dev/net/tun, packet sockets). Run dpdk_port_test as root. ***\n";
    home_ = ::open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    ASSERT_GE(home_, 0);
    ASSERT_EQ(::unshare(CLONE_NEWNET), 0) << std::strerror(errno);
    sh("ip link set lo up");
  }
  void TearDown() override {
    for (int fd : fds_)
      ::close(fd);
    if (home_ >= 0) {
      EXPECT_EQ(::setns(home_, CLONE_NEWNET), 0) << std::strerror(errno);
      ::close(home_);
    }
  }
  // A packet socket on the TAP, Linux's end: sends any frame, receives
  // frames of `protocol` (0: none).
  int peer_socket(uint16_t protocol = 0) {
    int s = ::socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(protocol));
    EXPECT_GE(s, 0) << std::strerror(errno);
    sockaddr_ll sll{};
    sll.sll_family = AF_PACKET;
    sll.sll_protocol = htons(protocol);
    sll.sll_ifindex = static_cast<int>(::if_nametoindex("sndpdk0"));
    EXPECT_EQ(::bind(s, reinterpret_cast<sockaddr*>(&sll), sizeof sll), 0) << std::strerror(errno);
    fds_.push_back(s);
    return s;
  }
  static int linux_mtu() {
    int s = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ifreq ifr{};
    std::strcpy(ifr.ifr_name, "sndpdk0");
    const int r = ::ioctl(s, SIOCGIFMTU, &ifr);
    ::close(s);
    return r == 0 ? ifr.ifr_mtu : -1;
  }

  int home_ = -1;
  std::vector<int> fds_;
};

TEST_F(DpdkTapTest, FramesCrossBetweenLinuxAndThePortByteExact) {
  auto ports = open_ports("net_tap_sn0", "iface=sndpdk0", 2, 1500, std::nullopt);
  ASSERT_EQ(ports.size(), 2u);
  EXPECT_EQ(ports[0]->driver(), "net_tap");
  EXPECT_EQ(ports[0]->mac(), mac(7));  // no mac=: the fallback, not the Linux side's
  EXPECT_GE(ports[0]->wait_fd(), 0);   // the queue's receive interrupt
  EXPECT_NE(ports[0]->wait_fd(), ports[1]->wait_fd());
  EXPECT_EQ(ports[0]->next_event(), Instant::never());
  EXPECT_EQ(linux_mtu(), 1500);

  // Linux to the port: on either queue (the kernel picks it by flow).
  int s = peer_socket();
  std::vector<Bytes> sent;
  sent.push_back(bytes_of(*make_frame(pool_, mac(7), mac(2), 1)));
  sent.push_back(bytes_of(*make_frame(pool_, mac(7), mac(2), 2, 1496)));
  sent.push_back(bytes_of(*make_frame(pool_, MacAddress::broadcast(), mac(2), 3)));
  for (const Bytes& f : sent)
    ASSERT_EQ(::send(s, f.data(), f.size(), 0), static_cast<ssize_t>(f.size()))
        << std::strerror(errno);
  std::vector<Bytes> got;
  for (int round = 0; round < 100 && got.size() < sent.size(); ++round) {
    pollfd fds[] = {{ports[0]->wait_fd(), POLLIN, 0}, {ports[1]->wait_fd(), POLLIN, 0}};
    ::poll(fds, 2, 20);
    for (auto& port : ports) {
      PacketPtr out[16];
      const size_t k = port->rx_burst(pool_, out, Instant{});
      for (size_t j = 0; j < k; ++j)
        if (load16(out[j]->data() + 12) == kTestEtherType) got.push_back(bytes_of(*out[j]));
    }
  }
  std::sort(got.begin(), got.end(), [](const Bytes& x, const Bytes& y) {
    return load32(x.data() + 14) < load32(y.data() + 14);
  });
  EXPECT_EQ(got, sent);

  // The port to Linux.
  int r = peer_socket(kTestEtherType);
  std::vector<PacketPtr> frames;
  frames.push_back(make_frame(pool_, mac(2), mac(7), 10));
  frames.push_back(make_frame(pool_, mac(2), mac(7), 11, 1496));
  std::vector<Bytes> out;
  for (const PacketPtr& f : frames)
    out.push_back(bytes_of(*f));
  EXPECT_EQ(ports[1]->tx_burst(frames, Instant{}), 2u);
  std::vector<Bytes> back;
  while (back.size() < out.size()) {
    pollfd p{r, POLLIN, 0};
    if (::poll(&p, 1, 2000) != 1) break;
    Bytes b(2048);
    const ssize_t n = ::recv(r, b.data(), b.size(), 0);
    ASSERT_GT(n, 0);
    b.resize(static_cast<size_t>(n));
    back.push_back(b);
  }
  EXPECT_EQ(back, out);
}

TEST_F(DpdkTapTest, LinuxUdpIsVouchedForAndTheMtuReachesLinux) {
  // net_tap takes frames of 1522 bytes at most: an MTU of 1504.
  auto too_big = DpdkPort::open("net_tap_sn1", "iface=sndpdk0", 1, mac(1), mac(7), 1505);
  ASSERT_FALSE(too_big.ok());
  EXPECT_NE(std::string(too_big.error().message).find("mtu"), std::string::npos);
  auto ports = open_ports("net_tap_sn1", "iface=sndpdk0", 1, 1400);
  ASSERT_EQ(ports.size(), 1u);
  EXPECT_EQ(linux_mtu(), 1400);
  sh("ip addr add 10.9.0.1/24 dev sndpdk0");
  sh("ip neigh add 10.9.0.2 lladdr 02:00:00:00:00:01 dev sndpdk0 nud permanent");
  int u = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(u, 0);
  fds_.push_back(u);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(9);
  to.sin_addr.s_addr = htonl(0x0a090002);
  const std::string msg(1000, 'x');
  ASSERT_EQ(::sendto(u, msg.data(), msg.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to),
            static_cast<ssize_t>(msg.size()))
      << std::strerror(errno);
  const auto got =
      drain(*ports[0], pool_, 1, [](const Packet& p) { return load16(p.data() + 12) == 0x0800; });
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0]->size(), 14u + 20 + 8 + 1000);
  // net_tap checks TCP and UDP checksums when asked (the port asks): this
  // one is the kernel's, correct.
  EXPECT_TRUE(got[0]->l4_csum_ok);
}

TEST(DpdkEnvTest, TheEalLeavesTheCallersCpuAffinityAlone) {
  cpu_set_t before, after;
  ASSERT_EQ(::sched_getaffinity(0, sizeof before, &before), 0);
  auto ports = open_ports("net_ring_sn9", "", 1);
  ASSERT_EQ(ports.size(), 1u);
  ASSERT_EQ(::sched_getaffinity(0, sizeof after, &after), 0);
  EXPECT_TRUE(CPU_EQUAL(&before, &after));
}

}  // namespace
}  // namespace sn
