// Tests of the TAP port against the real kernel: the device comes up with our
// MTU, and frames cross in both directions (checked with an AF_PACKET socket on
// the Linux side). They need root; without it they are skipped, loudly.
#include "port/tap_port.h"

#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "port/port_testing.h"
#include "wire/bytes.h"

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

  std::unique_ptr<TapPort> open_tap(const std::string& name, uint32_t mtu = 1500) {
    auto r = TapPort::open(name, mac(1), mtu);
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

TEST_F(TapPortTest, EngineToLinux) {
  const std::string name = unique_name();
  auto tap = open_tap(name);
  ASSERT_NE(tap, nullptr);
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

TEST_F(TapPortTest, LinuxToEngine) {
  const std::string name = unique_name();
  auto tap = open_tap(name);
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
  for (uint32_t i = 0; i < 3; ++i)
    EXPECT_EQ((*r)[i]->queue_index(), i);
  EXPECT_NE((*r)[0]->wait_fd(), (*r)[1]->wait_fd());
  // A single-queue open of a multi-queue device is refused with a reason.
  auto single = TapPort::open(name, mac(1), 1500);
  ASSERT_FALSE(single.ok());
  EXPECT_NE(std::string(single.error().message).find("multi-queue"), std::string::npos)
      << single.error().message;
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
