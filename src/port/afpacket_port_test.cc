// Tests of the AF_PACKET port against the real kernel, each in a network
// namespace of its own with a veth pair: the port on one end (snq0), packet
// and UDP/TCP sockets of Linux on the other (snq1). They need root; without
// it they are skipped, loudly.
#include "port/afpacket_port.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "port/device.h"
#include "port/iface_spec.h"
#include "port/partial_csum.h"
#include "port/port_testing.h"
#include "wire/bytes.h"
#include "wire/checksum.h"

namespace sn {
namespace {

using testing::bytes_of;
using testing::kTestEtherType;
using testing::mac;
using testing::make_frame;
using testing::seq_of;
using Bytes = std::vector<std::byte>;

void sh(const std::string& cmd) {
  ASSERT_EQ(std::system((cmd + " >/dev/null 2>&1").c_str()), 0) << cmd;
}

bool wait_readable(int fd, int ms = 2000) {
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, ms) == 1;
}

uint16_t ethertype_of(const Bytes& f) {
  return f.size() >= 14 ? load16(f.data() + 12) : 0;
}

// An Ethernet frame to `dst` carrying IPv4/UDP from 10.9.0.1:sport to
// 10.9.0.2:9, with no UDP checksum.
Bytes udp_frame(MacAddress dst, uint16_t sport, uint32_t payload) {
  Bytes f(14 + 28 + payload, std::byte{0});
  dst.store(f.data());
  mac(2).store(f.data() + 6);
  store16(f.data() + 12, 0x0800);
  std::byte* ip = f.data() + 14;
  store8(ip, 0x45);
  store16(ip + 2, static_cast<uint16_t>(28 + payload));
  store8(ip + 8, 64);
  store8(ip + 9, 17);
  store32(ip + 12, 0x0a090001);
  store32(ip + 16, 0x0a090002);
  store16(ip + 10, Checksum().add({ip, 20}).finish());
  store16(ip + 20, sport);
  store16(ip + 22, 9);
  store16(ip + 24, static_cast<uint16_t>(8 + payload));
  return f;
}

class AfPacketPortTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0)
      GTEST_SKIP() << "\n\n*** AF_PACKET tests SKIPPED: they need root (a network namespace, a "
                      "veth pair, packet sockets). Run port_test as root to cover "
                      "afpacket_port.cc. ***\n";
    // This thread (and the `ip` commands it starts) moves to a fresh network
    // namespace; TearDown() brings it back.
    home_ = ::open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    ASSERT_GE(home_, 0);
    ASSERT_EQ(::unshare(CLONE_NEWNET), 0) << std::strerror(errno);
    sh("ip link set lo up");
    sh("ip link add snq0 numtxqueues 2 numrxqueues 2 type veth peer name snq1 numtxqueues 2 "
       "numrxqueues 2");
    sh("ip link set snq1 up");
  }

  void TearDown() override {
    for (int fd : fds_)
      ::close(fd);
    if (home_ >= 0) {
      EXPECT_EQ(::setns(home_, CLONE_NEWNET), 0) << std::strerror(errno);
      ::close(home_);
    }
  }

  std::vector<std::unique_ptr<AfPacketPort>> open_ports(uint32_t queues, MacAddress m,
                                                        uint32_t mtu = 1500) {
    auto dev = open_netdev("snq0");
    EXPECT_TRUE(dev.ok()) << (dev.ok() ? "" : dev.error().message);
    if (!dev.ok()) return {};
    auto r = AfPacketPort::open(*dev, queues, m, mtu);
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
    return r.ok() ? std::move(r.value()) : std::vector<std::unique_ptr<AfPacketPort>>{};
  }
  std::unique_ptr<AfPacketPort> open_port(MacAddress m = mac(1), uint32_t mtu = 1500) {
    auto v = open_ports(1, m, mtu);
    return v.empty() ? nullptr : std::move(v[0]);
  }

  // A packet socket on snq1, Linux's end: sends any frame, receives frames
  // of `protocol` (0: none).
  int peer_socket(uint16_t protocol = 0) {
    int s = ::socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(protocol));
    EXPECT_GE(s, 0) << std::strerror(errno);
    sockaddr_ll sll{};
    sll.sll_family = AF_PACKET;
    sll.sll_protocol = htons(protocol);
    sll.sll_ifindex = static_cast<int>(::if_nametoindex("snq1"));
    EXPECT_EQ(::bind(s, reinterpret_cast<sockaddr*>(&sll), sizeof sll), 0) << std::strerror(errno);
    fds_.push_back(s);
    return s;
  }
  static void send_frame(int s, const Bytes& f) {
    ASSERT_EQ(::send(s, f.data(), f.size(), 0), static_cast<ssize_t>(f.size()))
        << std::strerror(errno);
  }

  // Receives from the ports until `want` frames that `keep` accepts have
  // arrived, or nothing has come for a while. Returns the kept frames' bytes,
  // and the packets themselves in `packets` if given.
  static std::vector<Bytes> receive(std::span<AfPacketPort* const> ports, PacketPool& pool,
                                    size_t want, const std::function<bool(const Bytes&)>& keep,
                                    std::vector<PacketPtr>* packets = nullptr,
                                    std::vector<size_t>* per_port = nullptr) {
    std::vector<Bytes> got;
    if (per_port) per_port->assign(ports.size(), 0);
    for (int idle = 0; got.size() < want && idle < 40;) {
      std::vector<pollfd> fds;
      for (AfPacketPort* p : ports)
        fds.push_back(pollfd{p->wait_fd(), POLLIN, 0});
      if (::poll(fds.data(), fds.size(), 50) <= 0) ++idle;
      for (size_t i = 0; i < ports.size(); ++i) {
        PacketPtr out[16];
        const size_t k = ports[i]->rx_burst(pool, out, Instant{});
        for (size_t j = 0; j < k; ++j) {
          Bytes b = bytes_of(*out[j]);
          if (!keep(b)) continue;
          got.push_back(std::move(b));
          if (per_port) ++(*per_port)[i];
          if (packets) packets->push_back(std::move(out[j]));
        }
      }
    }
    return got;
  }
  static std::vector<Bytes> receive(AfPacketPort& port, PacketPool& pool, size_t want,
                                    const std::function<bool(const Bytes&)>& keep,
                                    std::vector<PacketPtr>* packets = nullptr) {
    AfPacketPort* ports[] = {&port};
    return receive(ports, pool, want, keep, packets);
  }

  int home_ = -1;
  std::vector<int> fds_;
  PacketPool pool_{PoolConfig{.count = 256}};
};

TEST_F(AfPacketPortTest, OpenThroughTheDeviceAndItsErrors) {
  PacketPool second{PoolConfig{.count = 8}};
  PacketPool* pools[] = {&pool_, &second};
  auto spec = parse_iface_spec("afpacket:snq0,mac=02:00:00:00:00:01");
  ASSERT_TRUE(spec.ok());
  auto ports = open_device(*spec, pools, Ipv4Address(0x0a090002), mac(7));
  ASSERT_TRUE(ports.ok()) << ports.error().message;
  ASSERT_EQ(ports->size(), 2u);
  EXPECT_EQ((*ports)[0]->mac(), mac(1));
  EXPECT_EQ((*ports)[1]->mtu(), 1500u);
  EXPECT_GE((*ports)[0]->wait_fd(), 0);
  EXPECT_NE((*ports)[0]->wait_fd(), (*ports)[1]->wait_fd());

  auto missing = open_device(*parse_iface_spec("afpacket:snq9"), pools, Ipv4Address(0), mac(7));
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, Errc::kNotFound) << missing.error().message;

  auto big =
      open_device(*parse_iface_spec("afpacket:snq0,mtu=1600"), pools, Ipv4Address(0), mac(7));
  ASSERT_FALSE(big.ok());
  EXPECT_NE(std::string(big.error().message).find("MTU"), std::string::npos) << big.error().message;
}

TEST_F(AfPacketPortTest, FramesFromLinuxArriveByteExact) {
  auto port = open_port(mac(1));  // not snq0's own MAC: promiscuous
  ASSERT_NE(port, nullptr);
  int s = peer_socket();
  std::vector<Bytes> sent;
  sent.push_back(bytes_of(*make_frame(pool_, mac(1), mac(2), 1)));        // minimum size
  sent.push_back(bytes_of(*make_frame(pool_, mac(1), mac(2), 2, 1496)));  // 1514 bytes
  sent.push_back(bytes_of(*make_frame(pool_, MacAddress::broadcast(), mac(2), 3)));
  // Priority-tagged (802.1Q, priority 5, VLAN 0): the kernel moves the tag
  // into the ring header, the port puts it back.
  Bytes tagged = bytes_of(*make_frame(pool_, mac(1), mac(2), 4, 100));
  const std::byte tag[] = {std::byte{0x81}, std::byte{0x00}, std::byte{0xa0}, std::byte{0x00}};
  tagged.insert(tagged.begin() + 12, std::begin(tag), std::end(tag));
  sent.push_back(tagged);
  for (const Bytes& f : sent)
    send_frame(s, f);
  send_frame(s, bytes_of(*make_frame(pool_, mac(9), mac(2), 5)));  // another host's: filtered

  std::vector<PacketPtr> packets;
  const auto got = receive(
      *port, pool_, 5, [](const Bytes& f) { return MacAddress::load(f.data() + 6) == mac(2); },
      &packets);
  EXPECT_EQ(got, sent);
  for (const PacketPtr& p : packets)
    EXPECT_FALSE(p->l4_csum_ok);  // nothing vouched for these
  EXPECT_EQ(port->counters().rx_frames.get(), sent.size());
  EXPECT_EQ(port->counters().rx_errors.get(), 0u);
}

TEST_F(AfPacketPortTest, FramesToLinuxArriveByteExactAndDoNotComeBack) {
  auto port = open_port(mac(1));
  ASSERT_NE(port, nullptr);
  int s = peer_socket(kTestEtherType);
  std::vector<Bytes> sent;
  PacketPtr f[4] = {make_frame(pool_, mac(2), mac(1), 1),
                    make_frame(pool_, mac(2), mac(1), 2, 1496),  // 1514: the largest untagged
                    make_frame(pool_, MacAddress::broadcast(), mac(1), 3),
                    make_frame(pool_, mac(2), mac(1), 4, 1496 + 5)};  // over mtu + 18
  for (int i = 0; i < 3; ++i)
    sent.push_back(bytes_of(*f[i]));
  EXPECT_EQ(port->tx_burst(f, Instant{}), 3u);
  EXPECT_EQ(port->counters().tx_frames.get(), 3u);
  EXPECT_EQ(port->counters().tx_oversize.get(), 1u);

  std::vector<Bytes> got;
  while (got.size() < sent.size() && wait_readable(s)) {
    Bytes b(2048);
    const ssize_t n = ::recv(s, b.data(), b.size(), 0);
    ASSERT_GT(n, 0);
    b.resize(static_cast<size_t>(n));
    got.push_back(b);
  }
  EXPECT_EQ(got, sent);
  // The broadcast is not looped back to the port's own ring.
  const auto back = receive(
      *port, pool_, 1, [](const Bytes& b) { return MacAddress::load(b.data() + 6) == mac(1); });
  EXPECT_TRUE(back.empty());
}

TEST_F(AfPacketPortTest, EmptyPoolCountsNoBufferAndLosesNothing) {
  auto port = open_port(mac(1));
  ASSERT_NE(port, nullptr);
  int s = peer_socket();
  constexpr uint32_t kFrames = 40;
  for (uint32_t i = 0; i < kFrames; ++i)
    send_frame(s, bytes_of(*make_frame(pool_, mac(1), mac(2), i, 200)));

  PacketPool small{PoolConfig{.count = 8}};
  std::vector<PacketPtr> held;
  while (PacketPtr p = small.alloc())
    held.push_back(std::move(p));
  ASSERT_TRUE(wait_readable(port->wait_fd()));
  PacketPtr out[8];
  EXPECT_EQ(port->rx_burst(small, out, Instant{}), 0u);
  EXPECT_GE(port->counters().rx_no_buffer.get(), 1u);
  held.clear();

  // Eight buffers at a time, given back after each burst: every frame, in order.
  std::vector<uint32_t> seqs;
  for (int idle = 0; seqs.size() < kFrames && idle < 40;) {
    if (!wait_readable(port->wait_fd(), 50)) ++idle;
    const size_t k = port->rx_burst(small, out, Instant{});
    for (size_t i = 0; i < k; ++i) {
      if (load16(out[i]->data() + 12) == kTestEtherType) seqs.push_back(seq_of(*out[i]));
      out[i].reset();
    }
  }
  ASSERT_EQ(seqs.size(), kFrames);
  for (uint32_t i = 0; i < kFrames; ++i)
    EXPECT_EQ(seqs[i], i);
  EXPECT_EQ(port->afpacket_counters().kernel_drops.get(), 0u);
}

TEST_F(AfPacketPortTest, PartialChecksumFromALinuxUdpSocketIsVouchedFor) {
  auto port = open_port(mac(1));
  ASSERT_NE(port, nullptr);
  // Linux at 10.9.0.1 sends to the engine at 10.9.0.2; veth offloads the UDP
  // checksum, so the datagram leaves with only its pseudo-header sum.
  sh("ip addr add 10.9.0.1/24 dev snq1");
  sh("ip neigh add 10.9.0.2 lladdr 02:00:00:00:00:01 dev snq1 nud permanent");
  int u = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(u, 0);
  fds_.push_back(u);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(9);
  to.sin_addr.s_addr = htonl(0x0a090002);
  const char msg[] = "partial checksum";
  ASSERT_EQ(::sendto(u, msg, sizeof msg, 0, reinterpret_cast<sockaddr*>(&to), sizeof to),
            static_cast<ssize_t>(sizeof msg))
      << std::strerror(errno);

  std::vector<PacketPtr> packets;
  const auto got = receive(
      *port, pool_, 1, [](const Bytes& f) { return ethertype_of(f) == 0x0800; }, &packets);
  ASSERT_EQ(packets.size(), 1u);
  EXPECT_TRUE(has_partial_l4_checksum(packets[0]->bytes()));
  EXPECT_TRUE(packets[0]->l4_csum_ok);

  // A datagram with a complete checksum, hand-built on a packet socket: the
  // kernel says nothing about it, nor does the port.
  send_frame(peer_socket(), udp_frame(mac(1), 7, 10));
  packets.clear();
  receive(
      *port, pool_, 1, [](const Bytes& f) { return ethertype_of(f) == 0x0800; }, &packets);
  ASSERT_EQ(packets.size(), 1u);
  EXPECT_FALSE(packets[0]->l4_csum_ok);
}

TEST_F(AfPacketPortTest, TwoQueuesShareTheFlowsAndEachFrameArrivesOnce) {
  auto ports = open_ports(2, mac(1));
  ASSERT_EQ(ports.size(), 2u);
  int s = peer_socket();
  constexpr uint16_t kFlows = 64;
  for (uint16_t i = 0; i < kFlows; ++i)
    send_frame(s, udp_frame(mac(1), static_cast<uint16_t>(10000 + i), 20));
  AfPacketPort* ps[] = {ports[0].get(), ports[1].get()};
  std::vector<size_t> per_port;
  const auto got = receive(
      ps, pool_, kFlows, [](const Bytes& f) { return ethertype_of(f) == 0x0800; }, nullptr,
      &per_port);
  std::map<uint16_t, int> seen;
  for (const Bytes& f : got)
    ++seen[load16(f.data() + 34)];
  EXPECT_EQ(seen.size(), kFlows);
  for (const auto& [sport, times] : seen)
    EXPECT_EQ(times, 1) << "source port " << sport;
  EXPECT_GT(per_port[0], 0u);
  EXPECT_GT(per_port[1], 0u);
}

TEST_F(AfPacketPortTest, KernelDropsWhenTheRingIsFullAreCounted) {
  auto port = open_port(mac(1));
  ASSERT_NE(port, nullptr);
  int s = peer_socket();
  // 8 blocks of 256 KiB hold about 1,300 frames of 1514 bytes.
  constexpr uint32_t kFrames = 3000;
  for (uint32_t i = 0; i < kFrames; ++i)
    send_frame(s, bytes_of(*make_frame(pool_, mac(1), mac(2), i, 1496)));
  PacketPool big{PoolConfig{.count = 4096}};
  const auto got = receive(*port, big, kFrames,
                           [](const Bytes& f) { return ethertype_of(f) == kTestEtherType; });
  const uint64_t drops = port->afpacket_counters().kernel_drops.get();
  EXPECT_GT(drops, 0u);
  EXPECT_EQ(got.size() + drops, kFrames);
  EXPECT_EQ(port->counters().rx_errors.get(), drops);
}

// Linux's TCP sends through veth with TSO: segments of up to 64 KiB that
// the kernel never cut, seen whole by packet sockets. The port cuts them at
// its MTU. The sender is a real Linux TCP connection from a second namespace
// (a forked child's) to a server in this one.
TEST_F(AfPacketPortTest, TcpSuperFramesAreSplitAtTheMtu) {
  constexpr uint32_t kMtu = 1400;  // below the link's 1500: Linux's segments are cut too
  int ready[2], moved[2];
  ASSERT_EQ(::pipe(ready), 0);
  ASSERT_EQ(::pipe(moved), 0);
  Bytes data(300000);
  for (size_t i = 0; i < data.size(); ++i)
    data[i] = std::byte(uint8_t(i * 131 + (i >> 9)));
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // The client: a namespace of its own, with snq1 moved in by the parent.
    char c = 0;
    if (::unshare(CLONE_NEWNET) != 0 || ::write(ready[1], &c, 1) != 1 ||
        ::read(moved[0], &c, 1) != 1 ||
        std::system("ip link set lo up && ip addr add 10.9.0.1/24 dev snq1 && "
                    "ip link set snq1 up") != 0)
      ::_exit(1);
    const int t = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(5001);
    to.sin_addr.s_addr = htonl(0x0a090002);
    if (::connect(t, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0) ::_exit(2);
    for (size_t at = 0; at < data.size();) {
      const ssize_t w = ::write(t, data.data() + at, data.size() - at);
      if (w <= 0) ::_exit(3);
      at += static_cast<size_t>(w);
    }
    ::shutdown(t, SHUT_WR);
    char drain;
    while (::read(t, &drain, 1) > 0) {
    }
    ::_exit(0);
  }
  ::close(ready[1]);
  ::close(moved[0]);
  fds_.insert(fds_.end(), {ready[0], moved[1]});
  char c;
  ASSERT_EQ(::read(ready[0], &c, 1), 1);
  sh("ip link set snq1 netns " + std::to_string(child));
  sh("ip addr add 10.9.0.2/24 dev snq0");
  auto dev = open_netdev("snq0");
  ASSERT_TRUE(dev.ok());
  auto port = open_port(dev->mac, kMtu);  // the interface's own MAC: the kernel's server
  ASSERT_NE(port, nullptr);
  const int l = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  fds_.push_back(l);
  const int one = 1;
  ::setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in at{};
  at.sin_family = AF_INET;
  at.sin_port = htons(5001);
  at.sin_addr.s_addr = htonl(0x0a090002);
  ASSERT_EQ(::bind(l, reinterpret_cast<sockaddr*>(&at), sizeof at), 0) << std::strerror(errno);
  ASSERT_EQ(::listen(l, 1), 0);
  ASSERT_EQ(::write(moved[1], &c, 1), 1);

  // The kernel's server reads it all while the port watches the segments go by.
  ASSERT_TRUE(wait_readable(l, 10000)) << "the client never connected";
  const int conn = ::accept4(l, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
  ASSERT_GE(conn, 0) << std::strerror(errno);
  std::map<uint32_t, Bytes> by_seq;  // payload by sequence number
  uint32_t isn = 0;
  bool syn_seen = false, eof = false;
  size_t read_total = 0, segments = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  // Until the server has it all and the ring's last block (handed over after
  // its timeout) has been read.
  for (int quiet = 0; quiet < 10 && std::chrono::steady_clock::now() < deadline;) {
    pollfd fds[2] = {{port->wait_fd(), POLLIN, 0}, {conn, POLLIN, 0}};
    ::poll(fds, eof ? 1 : 2, 20);  // (at its end the connection is always readable)
    char buf[65536];
    ssize_t r;
    while ((r = ::read(conn, buf, sizeof buf)) > 0)
      read_total += static_cast<size_t>(r);
    eof = eof || r == 0;
    PacketPtr out[32];
    const size_t k = port->rx_burst(pool_, out, Instant{});
    quiet = eof && k == 0 ? quiet + 1 : 0;
    for (size_t i = 0; i < k; ++i) {
      const Bytes f = bytes_of(*out[i]);
      if (ethertype_of(f) != 0x0800 || load8(f.data() + 23) != 6) continue;
      const std::byte* ip = f.data() + 14;
      if (MacAddress::load(f.data()) != dev->mac) continue;  // the server's own replies
      ++segments;
      EXPECT_LE(load16(ip + 2), kMtu);
      EXPECT_EQ(f.size(), 14u + load16(ip + 2));
      EXPECT_EQ(Checksum().add({ip, 20}).finish(), 0) << "IPv4 header checksum";
      const std::byte* tcp = ip + 20;
      const uint32_t thl = (load8(tcp + 12) >> 4) * 4u;
      const uint32_t len = load16(ip + 2) - 20 - thl;
      if (load8(tcp + 13) & 0x02) {
        syn_seen = true;
        isn = load32(tcp + 4);
      }
      if (len == 0) continue;
      EXPECT_TRUE(out[i]->l4_csum_ok);
      EXPECT_TRUE(has_partial_l4_checksum(out[i]->bytes()));
      by_seq[load32(tcp + 4)] = Bytes(tcp + thl, tcp + thl + len);
    }
  }
  ::close(conn);  // the client waits for this
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "client status " << status;
  EXPECT_EQ(read_total, data.size()) << "the server got everything";
  ASSERT_TRUE(syn_seen);
  // The segments the port delivered, in sequence order, are the data.
  Bytes stream;
  for (const auto& [seq, bytes] : by_seq) {
    const uint32_t off = seq - isn - 1;
    if (off > stream.size()) break;  // a gap: checked below
    if (off + bytes.size() > stream.size())
      stream.insert(stream.end(), bytes.begin() + (stream.size() - off), bytes.end());
  }
  EXPECT_TRUE(stream == data) << stream.size() << " of " << data.size() << " bytes in order";
  EXPECT_GT(port->afpacket_counters().resegmented.get(), 0u) << segments << " segments";
}

}  // namespace
}  // namespace sn
