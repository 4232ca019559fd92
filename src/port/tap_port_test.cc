// Tests of the TAP port against the real kernel: the device comes up with our
// MTU, and frames cross in both directions (checked with an AF_PACKET socket on
// the Linux side), with the virtio-net header and without; a Linux TCP stream
// through two TAP devices the test bridges arrives whole, its super-frames
// split at the MTU. They need root; without it they are skipped, loudly.
#include "port/tap_port.h"

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
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "port/port_testing.h"
#include "wire/bytes.h"
#include "wire/checksum.h"

namespace sn {
namespace {

using testing::bytes_of;
using testing::kTestEtherType;
using testing::mac;
using testing::make_frame;

// A name no other test run uses at the same time: "snt" + pid + a counter.
std::string unique_name() {
  static int n = 0;  // test-only: distinct names within one process
  return "snt" + std::to_string(::getpid() % 1000000) + "x" + std::to_string(n++);
}

class TapPortTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0)
      GTEST_SKIP() << "\n\n*** TAP tests SKIPPED: they need root (CAP_NET_ADMIN) to create a TAP "
                      "device. Run port_test as root to cover tap_port.cc. ***\n";
  }

  std::unique_ptr<TapPort> open_tap(const std::string& name, uint32_t mtu = 1500,
                                    bool offload = true) {
    auto r = TapPort::open(name, mac(1), mtu, 1, 0, offload);
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
    return r.ok() ? std::move(r.value()) : nullptr;
  }

  static ifreq query(const std::string& name, unsigned long request) {
    ifreq ifr{};
    std::strncpy(ifr.ifr_name, name.c_str(), IFNAMSIZ - 1);
    int s = ::socket(AF_INET, SOCK_DGRAM, 0);
    EXPECT_EQ(::ioctl(s, request, &ifr), 0) << std::strerror(errno);
    ::close(s);
    return ifr;
  }

  // A packet socket on the Linux side of the device, for our ethertype only,
  // so the kernel's own chatter (IPv6 neighbour discovery) stays out.
  static int packet_socket(const std::string& name) {
    int s = ::socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(kTestEtherType));
    EXPECT_GE(s, 0) << std::strerror(errno);
    sockaddr_ll sll{};
    sll.sll_family = AF_PACKET;
    sll.sll_protocol = htons(kTestEtherType);
    sll.sll_ifindex = static_cast<int>(::if_nametoindex(name.c_str()));
    EXPECT_EQ(::bind(s, reinterpret_cast<sockaddr*>(&sll), sizeof sll), 0) << std::strerror(errno);
    return s;
  }

  static bool wait_readable(int fd) {
    pollfd p{fd, POLLIN, 0};
    return ::poll(&p, 1, 2000) == 1;
  }

  PacketPool pool_{PoolConfig{.count = 64}};
};

TEST_F(TapPortTest, OpenCreatesTheDeviceUpWithOurMtuAndCloseRemovesIt) {
  const std::string name = unique_name();
  auto tap = open_tap(name, 1400);
  ASSERT_NE(tap, nullptr);
  EXPECT_EQ(tap->name(), name);
  EXPECT_EQ(tap->mac(), mac(1));
  EXPECT_EQ(tap->mtu(), 1400u);
  EXPECT_GE(tap->wait_fd(), 0);
  EXPECT_NE(::if_nametoindex(name.c_str()), 0u);
  EXPECT_TRUE(query(name, SIOCGIFFLAGS).ifr_flags & IFF_UP);
  EXPECT_EQ(query(name, SIOCGIFMTU).ifr_mtu, 1400);
  tap.reset();
  EXPECT_EQ(::if_nametoindex(name.c_str()), 0u);  // not persistent: gone with its last queue
}

// With the virtio-net header (the default) and without.
class TapPortBothWaysTest : public TapPortTest, public ::testing::WithParamInterface<bool> {};
INSTANTIATE_TEST_SUITE_P(Offload, TapPortBothWaysTest, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "On" : "Off"; });

TEST_P(TapPortBothWaysTest, EngineToLinux) {
  const std::string name = unique_name();
  auto tap = open_tap(name, 1500, GetParam());
  ASSERT_NE(tap, nullptr);
  EXPECT_EQ(tap->offload(), GetParam());
  int s = packet_socket(name);
  PacketPtr f[1] = {make_frame(pool_, MacAddress::broadcast(), mac(1), 77, 100)};
  const std::vector<std::byte> sent = bytes_of(*f[0]);
  EXPECT_EQ(tap->tx_burst(f, Instant{}), 1u);
  EXPECT_EQ(tap->counters().tx_frames.get(), 1u);
  ASSERT_TRUE(wait_readable(s)) << "the frame never reached Linux";
  std::vector<std::byte> got(2048);
  ssize_t n = ::recv(s, got.data(), got.size(), 0);
  ASSERT_GT(n, 0);
  got.resize(static_cast<size_t>(n));
  EXPECT_EQ(got, sent);
  ::close(s);
}

TEST_P(TapPortBothWaysTest, LinuxToEngine) {
  const std::string name = unique_name();
  auto tap = open_tap(name, 1500, GetParam());
  ASSERT_NE(tap, nullptr);
  int s = packet_socket(name);
  PacketPtr frame = make_frame(pool_, mac(1), mac(2), 78, 200);
  const std::vector<std::byte> sent = bytes_of(*frame);
  sockaddr_ll to{};
  to.sll_family = AF_PACKET;
  to.sll_ifindex = static_cast<int>(::if_nametoindex(name.c_str()));
  to.sll_halen = 6;
  mac(1).store(reinterpret_cast<std::byte*>(to.sll_addr));
  ASSERT_EQ(::sendto(s, sent.data(), sent.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to),
            static_cast<ssize_t>(sent.size()))
      << std::strerror(errno);

  // Skip whatever else the kernel sends on a fresh link.
  std::vector<std::byte> got;
  for (int tries = 0; tries < 50 && got.empty(); ++tries) {
    if (!wait_readable(tap->wait_fd())) break;
    PacketPtr out[8];
    size_t k = tap->rx_burst(pool_, out, Instant{});
    for (size_t i = 0; i < k; ++i)
      if (out[i]->size() >= 14 && load16(out[i]->data() + 12) == kTestEtherType)
        got = bytes_of(*out[i]);
  }
  EXPECT_EQ(got, sent);
  EXPECT_GE(tap->counters().rx_frames.get(), 1u);
  EXPECT_EQ(tap->tap_counters().gso_frames.get(), 0u);
  ::close(s);
}

TEST_F(TapPortTest, OversizeIsCountedNotWritten) {
  auto tap = open_tap(unique_name(), 576);
  ASSERT_NE(tap, nullptr);
  PacketPtr f[1] = {make_frame(pool_, MacAddress::broadcast(), mac(1), 1, 577)};
  EXPECT_EQ(tap->tx_burst(f, Instant{}), 0u);
  EXPECT_EQ(tap->counters().tx_oversize.get(), 1u);
}

TEST_F(TapPortTest, MultiQueueOpensOnePortPerQueue) {
  const std::string name = unique_name();
  auto r = TapPort::open_queues(name, mac(1), 1500, 3);
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_EQ(r->size(), 3u);
  for (uint32_t i = 0; i < 3; ++i) {
    EXPECT_EQ((*r)[i]->queue_index(), i);
    EXPECT_TRUE((*r)[i]->offload()) << "the same flags on every queue";
  }
  EXPECT_NE((*r)[0]->wait_fd(), (*r)[1]->wait_fd());
  // Every queue frames what it sends with the device's header.
  int s = packet_socket(name);
  for (uint32_t i = 0; i < 3; ++i) {
    PacketPtr f[1] = {make_frame(pool_, MacAddress::broadcast(), mac(1), 90 + i, 100)};
    const std::vector<std::byte> sent = bytes_of(*f[0]);
    EXPECT_EQ((*r)[i]->tx_burst(f, Instant{}), 1u);
    ASSERT_TRUE(wait_readable(s)) << "queue " << i << "'s frame never reached Linux";
    std::vector<std::byte> got(2048);
    const ssize_t n = ::recv(s, got.data(), got.size(), 0);
    got.resize(static_cast<size_t>(std::max<ssize_t>(n, 0)));
    EXPECT_EQ(got, sent) << "queue " << i;
  }
  ::close(s);
  // A single-queue open of a multi-queue device is refused with a reason.
  auto single = TapPort::open(name, mac(1), 1500);
  ASSERT_FALSE(single.ok());
  EXPECT_NE(std::string(single.error().message).find("multi-queue"), std::string::npos)
      << single.error().message;
}

TEST_F(TapPortTest, MultiQueueWithoutOffloadHasItOnNoQueue) {
  auto r = TapPort::open_queues(unique_name(), mac(1), 1500, 2, /*offload=*/false);
  ASSERT_TRUE(r.ok()) << r.error().message;
  for (const auto& p : *r)
    EXPECT_FALSE(p->offload());
}

void sh(const std::string& cmd) {
  ASSERT_EQ(std::system((cmd + " >/dev/null 2>&1").c_str()), 0) << cmd;
}

// Linux's TCP through the port: a client in one network namespace, a server
// in another, each behind a TAP device whose engine side the test holds and
// bridges to the other's. Frames are checked as they cross; checksums the
// port vouched for (left partial by the sender) are completed on the way, as
// the device the sender offloaded them to would have, since the far kernel
// checks them. The parameter: offloads on the client's device.
class TapBridgeTest : public TapPortTest, public ::testing::WithParamInterface<bool> {
 protected:
  void SetUp() override {
    TapPortTest::SetUp();
    if (IsSkipped()) return;
    home_ = ::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    ASSERT_GE(home_, 0);
    for (int* ns : {&client_ns_, &server_ns_}) {
      ASSERT_EQ(::unshare(CLONE_NEWNET), 0) << std::strerror(errno);
      *ns = ::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
      ASSERT_GE(*ns, 0);
      sh("ip link set lo up");
    }
  }
  void TearDown() override {
    if (home_ >= 0) {
      EXPECT_EQ(::setns(home_, CLONE_NEWNET), 0) << std::strerror(errno);
    }
    for (int fd : {home_, client_ns_, server_ns_})
      if (fd >= 0) ::close(fd);
  }

  // What crossed the bridge one way.
  struct Seen {
    size_t tcp_frames = 0;
    size_t data_segments = 0;  // TCP frames with payload
    size_t vouched = 0;        // l4_csum_ok
    uint32_t largest = 0;      // the largest IP datagram
  };

  // Moves what `from` received to `to`.
  void forward(TapPort& from, TapPort& to, Seen& seen) {
    PacketPtr in[32];
    const size_t k = from.rx_burst(bridge_pool_, in, Instant{});
    for (size_t i = 0; i < k; ++i) {
      Packet& p = *in[i];
      if (p.size() < 14 + 40 || load16(p.data() + 12) != 0x0800 || load8(p.data() + 23) != 6)
        continue;
      ++seen.tcp_frames;
      std::byte* ip = p.data() + 14;
      const uint32_t ihl = (load8(ip) & 0x0f) * 4u, total = load16(ip + 2);
      ASSERT_GE(p.size(), 14 + total);
      seen.largest = std::max(seen.largest, total);
      EXPECT_LE(total, 1500u);
      EXPECT_EQ(Checksum().add({ip, ihl}).finish(), 0) << "IPv4 header checksum";
      std::byte* tcp = ip + ihl;
      const auto tcp_len = static_cast<uint16_t>(total - ihl);
      const uint32_t pseudo =
          pseudo_header_sum(Ipv4Address::load(ip + 12), Ipv4Address::load(ip + 16), 6, tcp_len);
      if (tcp_len > (load8(tcp + 12) >> 4) * 4u) ++seen.data_segments;
      if (p.l4_csum_ok) {
        ++seen.vouched;
        store16(tcp + 16, 0);
        store16(tcp + 16, Checksum().add_sum(pseudo).add({tcp, tcp_len}).finish());
      } else {
        EXPECT_EQ(Checksum().add_sum(pseudo).add({tcp, tcp_len}).finish(), 0)
            << "a TCP checksum not vouched for is whole";
      }
    }
    EXPECT_EQ(to.tx_burst({in, k}, Instant{}), k);
  }

  int home_ = -1, client_ns_ = -1, server_ns_ = -1;
  PacketPool bridge_pool_{PoolConfig{.count = 256}};
};
INSTANTIATE_TEST_SUITE_P(Offload, TapBridgeTest, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "On" : "Off"; });

TEST_P(TapBridgeTest, LinuxTcpCrossesByteExactInSegmentsOfTheMtu) {
  const bool offload = GetParam();
  // The client's side: 10.9.0.1 on snc (its namespace), the server's 10.9.0.2 on sns.
  ASSERT_EQ(::setns(client_ns_, CLONE_NEWNET), 0);
  auto c = TapPort::open("snc", mac(1), 1500, 1, 0, offload);
  ASSERT_TRUE(c.ok()) << c.error().message;
  sh("ip addr add 10.9.0.1/24 dev snc");
  const int client = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  ASSERT_EQ(::setns(server_ns_, CLONE_NEWNET), 0);
  auto s = TapPort::open("sns", mac(2), 1500);
  ASSERT_TRUE(s.ok()) << s.error().message;
  sh("ip addr add 10.9.0.2/24 dev sns");
  const int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  ASSERT_EQ(::setns(home_, CLONE_NEWNET), 0);
  TapPort& ct = **c;
  TapPort& st = **s;
  EXPECT_EQ(ct.offload(), offload);

  sockaddr_in at{};
  at.sin_family = AF_INET;
  at.sin_port = htons(5001);
  at.sin_addr.s_addr = htonl(0x0a090002);
  ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&at), sizeof at), 0)
      << std::strerror(errno);
  ASSERT_EQ(::listen(listener, 1), 0);
  ASSERT_TRUE(::connect(client, reinterpret_cast<sockaddr*>(&at), sizeof at) == 0 ||
              errno == EINPROGRESS)
      << std::strerror(errno);

  std::vector<char> data(4 << 20);
  for (size_t i = 0; i < data.size(); ++i)
    data[i] = static_cast<char>(i * 7 + i / 4093);
  std::vector<char> got;
  size_t sent = 0;
  int conn = -1;
  bool eof = false;
  Seen up, down;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!eof && std::chrono::steady_clock::now() < deadline && !HasFatalFailure()) {
    pollfd fds[4] = {{ct.wait_fd(), POLLIN, 0},
                     {st.wait_fd(), POLLIN, 0},
                     {conn >= 0 ? conn : listener, POLLIN, 0},
                     {client, static_cast<short>(sent < data.size() ? POLLOUT : 0), 0}};
    ::poll(fds, 4, 10);
    forward(ct, st, up);
    forward(st, ct, down);
    if (conn < 0) conn = ::accept4(listener, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    while (sent < data.size()) {
      const ssize_t w = ::write(client, data.data() + sent, data.size() - sent);
      if (w <= 0) break;
      sent += static_cast<size_t>(w);
      if (sent == data.size()) ::shutdown(client, SHUT_WR);
    }
    char buf[65536];
    ssize_t r;
    while (conn >= 0 && (r = ::read(conn, buf, sizeof buf)) > 0)
      got.insert(got.end(), buf, buf + r);
    eof = conn >= 0 && r == 0;
  }
  for (int fd : {client, listener, conn})
    if (fd >= 0) ::close(fd);
  EXPECT_TRUE(eof) << "the stream did not end: " << got.size() << " of " << data.size() << " bytes";
  EXPECT_TRUE(got == data) << got.size() << " of " << data.size() << " bytes, byte-exact?";
  EXPECT_GT(up.data_segments, data.size() / 1448);
  EXPECT_EQ(up.largest, 1500u);
  const TapCounters& t = ct.tap_counters();
  if (offload) {
    // The client's kernel handed over super-frames; the port split them.
    EXPECT_GT(t.gso_frames.get(), 0u);
    EXPECT_GT(t.resegmented.get(), t.gso_frames.get());
    EXPECT_GT(t.csum_offloaded.get(), 0u);
    EXPECT_GT(up.vouched, 0u);
    EXPECT_LT(ct.counters().rx_frames.get() - t.resegmented.get() + t.gso_frames.get(),
              up.data_segments)
        << "fewer reads than segments";
  } else {
    EXPECT_EQ(t.gso_frames.get(), 0u);
    EXPECT_EQ(t.resegmented.get(), 0u);
    EXPECT_EQ(t.csum_offloaded.get(), 0u);
    EXPECT_EQ(up.vouched, 0u);
  }
  EXPECT_EQ(t.rx_oversize.get(), 0u);
  EXPECT_EQ(ct.counters().rx_errors.get(), 0u);
  std::printf("offload %d: %zu data segments, %llu super-frames split into %llu segments\n",
              offload, up.data_segments, static_cast<unsigned long long>(t.gso_frames.get()),
              static_cast<unsigned long long>(t.resegmented.get()));
}

TEST(TapPortArgsTest, BadArgumentsAreRefusedBeforeTouchingTheKernel) {
  auto r = TapPort::open("a-name-far-too-long", mac(1), 1500);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(std::string(r.error().message).find("too long"), std::string::npos);
  EXPECT_FALSE(TapPort::open("", mac(1), 1500).ok());
  EXPECT_FALSE(TapPort::open("sn0", mac(1), 1500, 2, 2).ok());
  EXPECT_FALSE(TapPort::open_queues("sn0", mac(1), 1500, 0).ok());
}

}  // namespace
}  // namespace sn
