// Tests for the engine shell: building it from a configuration, its loop on
// the real clock, and the control socket serving counters while it runs.
#include "engine/engine.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netpacket/packet.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <set>
#include <thread>

#include "engine/control.h"
#include "stack/sim.h"
#include "wire/arp.h"
#include "wire/checksum.h"
#include "wire/ethernet.h"
#include "wire/icmp.h"
#include "wire/ipv4.h"
#include "wire/udp.h"

namespace sn {
namespace {

EngineConfig mem_config(const std::string& name) {
  EngineConfig cfg;
  cfg.name = name;
  cfg.control_path = ::testing::TempDir() + "/" + name + "-" + std::to_string(::getpid()) + ".sock";
  auto spec = parse_iface_spec("mem:lab0");
  EXPECT_TRUE(spec.ok());
  cfg.ifaces.push_back(EngineIface{*spec, *Ipv4Prefix::parse("10.9.0.2/24")});
  cfg.seed = 5;
  return cfg;
}

TEST(Engine, ServesStatsWhileRunningAndStops) {
  EngineConfig cfg = mem_config("engine-test");
  std::string why;
  std::string why_service;
  auto svc = parse_service_spec("udp-echo:7", &why_service);
  ASSERT_TRUE(svc.ok()) << why_service;
  cfg.services.push_back(*svc);
  auto engine = Engine::create(cfg, &why);
  ASSERT_TRUE(engine.ok()) << why;
  std::thread shard([&] { (*engine)->run(); });

  for (int i = 0; i < 20; ++i) {
    auto text = control_request(cfg.control_path, "stats", &why);
    ASSERT_TRUE(text.ok()) << why;
    EXPECT_NE(text->find("engine engine-test: 1 shard"), std::string::npos);
    // The gratuitous ARP at start went out through the port.
    EXPECT_NE(text->find("arp_tx_requests              1"), std::string::npos) << *text;
    auto json = control_request(cfg.control_path, "stats json", &why);
    ASSERT_TRUE(json.ok()) << why;
    EXPECT_EQ(json->rfind("{\"engine\":\"engine-test\",\"shards\":[{\"shard\":0,", 0), 0u) << *json;
    EXPECT_NE(json->find("\"drop_ip_bad_checksum\":0"), std::string::npos);
  }
  auto unknown = control_request(cfg.control_path, "reboot", &why);
  ASSERT_TRUE(unknown.ok());
  EXPECT_NE(unknown->find("unknown command"), std::string::npos);

  (*engine)->stop();
  shard.join();
  engine->reset();
  // The socket file is gone with the engine.
  EXPECT_FALSE(control_request(cfg.control_path, "stats", &why).ok());
  EXPECT_NE(why.find("no engine answers"), std::string::npos);
}

TEST(Engine, ReportsBadConfigurationClearly) {
  std::string why;
  EngineConfig none;
  none.control_path = ::testing::TempDir() + "/none.sock";
  EXPECT_FALSE(Engine::create(none, &why).ok());
  EXPECT_NE(why.find("--iface"), std::string::npos);

  EngineConfig gw = mem_config("engine-gw");
  gw.gateway = *Ipv4Address::parse("192.0.2.1");  // not on 10.9.0.0/24
  EXPECT_FALSE(Engine::create(gw, &why).ok());
  EXPECT_NE(why.find("gateway"), std::string::npos) << why;

  EngineConfig twice = mem_config("engine-twice");
  std::string w;
  twice.services.push_back(*parse_service_spec("udp-echo:7", &w));
  twice.services.push_back(*parse_service_spec("udp-echo:7", &w));
  EXPECT_FALSE(Engine::create(twice, &why).ok());
  EXPECT_NE(why.find("udp-echo:7"), std::string::npos) << why;
}

TEST(Engine, RefusesWhatItCannotHonour) {
  std::string why;
  EngineConfig big = mem_config("engine-mtu");
  big.ifaces[0].spec.mtu = 4000;  // a 4018-byte frame in a 1920-byte buffer
  EXPECT_FALSE(Engine::create(big, &why).ok());
  EXPECT_NE(why.find("mtu=4000 does not fit"), std::string::npos) << why;

  EngineConfig queues = mem_config("engine-queues");
  queues.ifaces[0].spec.queues = 2;
  EXPECT_FALSE(Engine::create(queues, &why).ok());
  EXPECT_NE(why.find("one queue per shard"), std::string::npos) << why;

  EngineConfig shards = mem_config("engine-shards");
  shards.shards = 2;  // the in-memory wire has no queues to give two shards
  EXPECT_FALSE(Engine::create(shards, &why).ok());
  EXPECT_NE(why.find("one shard only"), std::string::npos) << why;

  EngineConfig steer = mem_config("engine-steer");
  steer.steer = *SteerConfig::parse("table=0,1");  // shard 1 does not exist
  EXPECT_FALSE(Engine::create(steer, &why).ok());
  EXPECT_NE(why.find("--steer"), std::string::npos) << why;
}

TEST(Engine, DoesNotTakeOverALiveControlSocket) {
  std::string why;
  EngineConfig first = mem_config("engine-first");
  auto a = Engine::create(first, &why);
  ASSERT_TRUE(a.ok()) << why;
  EngineConfig second = mem_config("engine-second");
  second.control_path = first.control_path;
  EXPECT_FALSE(Engine::create(second, &why).ok());
  EXPECT_NE(why.find("already serving"), std::string::npos) << why;
  // The first still answers.
  auto text = control_request(first.control_path, "stats", &why);
  ASSERT_TRUE(text.ok()) << why;
  EXPECT_NE(text->find("engine engine-first"), std::string::npos);
}

// The echo service answers ordinary clients, but not the ports of the other
// small services, so two echo servers cannot be set talking for ever.
// A client (10.0.0.1) and a server (10.0.0.2) on the in-memory wire.
struct ClientServer {
  ClientServer() {
    SimNodeConfig a, b;
    a.address = *Ipv4Prefix::parse("10.0.0.1/24");
    a.mac = *MacAddress::parse("02:00:00:00:00:01");
    b.address = *Ipv4Prefix::parse("10.0.0.2/24");
    b.mac = *MacAddress::parse("02:00:00:00:00:02");
    client = sim.add_node(a).stack.get();
    server = sim.add_node(b).stack.get();
  }
  Simulation sim;
  Stack* client = nullptr;
  Stack* server = nullptr;
};

TEST(UdpEchoService, AnswersClientsButNotOtherSmallServices) {
  ClientServer cs;
  Simulation& sim = cs.sim;
  Stack& client = *cs.client;
  Stack& server = *cs.server;
  std::string why;
  auto echo = start_service(server, *parse_service_spec("udp-echo:7", &why));
  ASSERT_TRUE(echo.ok());
  const Ipv4Address to = *Ipv4Address::parse("10.0.0.2");
  const std::vector<std::byte> hello(5, std::byte{'h'});
  for (uint16_t port : {40000, 7, 13, 19, 37}) {
    auto s = client.udp().bind(Ipv4Address::any(), L4Port(port));
    ASSERT_TRUE(s.ok());
    ASSERT_TRUE((*s)->send_to(to, L4Port(7), hello).ok());
    sim.run_until_idle(Duration::seconds(1));
    EXPECT_EQ((*s)->queued(), port == 40000 ? 1u : 0u) << port;
    client.udp().close(*s);
  }
  EXPECT_EQ(server.counters().drop.udp_echo_unanswered.get(), 4u);
  EXPECT_EQ(server.counters().udp_tx_datagrams.get(), 1u);
}

// A reader of the source service over the in-memory wire: reads and checks
// the pattern (byte n is n mod 256), half-closes once it has `want` bytes,
// and closes when the service's FIN has come after what it had queued.
struct SourceReader {
  void attach(TcpSocket& s) {
    sock = &s;
    s.set_on_event([](void* a, TcpSocket&) { static_cast<SourceReader*>(a)->pump(); }, this);
  }
  void pump() {
    if (closed) return;
    std::array<std::byte, 8192> buf;
    while (uint32_t n = sock->read(buf)) {
      for (uint32_t i = 0; i < n; ++i)
        if (buf[i] != static_cast<std::byte>(got + i)) ++wrong;
      got += n;
    }
    if (got >= want && !shut) shut = sock->shutdown().ok();
    if (sock->eof() || sock->state() == TcpState::kClosed) {
      sock->close();
      closed = true;
    }
  }
  TcpSocket* sock = nullptr;
  uint64_t want = 0, got = 0, wrong = 0;
  bool shut = false, closed = false;
};

TEST(SourceService, WritesThePatternUntilThePeerCloses) {
  ClientServer cs;
  Simulation& sim = cs.sim;
  Stack& client = *cs.client;
  Stack& server = *cs.server;
  std::string why;
  auto spec = parse_service_spec("source:19", &why);
  ASSERT_TRUE(spec.ok()) << why;
  auto source = start_service(server, *spec);
  ASSERT_TRUE(source.ok());

  SourceReader reader;
  reader.want = 1 << 20;
  auto c = client.tcp().connect(*Ipv4Address::parse("10.0.0.2"), L4Port(19));
  ASSERT_TRUE(c.ok());
  reader.attach(**c);
  ASSERT_TRUE(sim.run_until([&] { return reader.closed; }, Duration::seconds(60)));
  EXPECT_TRUE(reader.shut);
  EXPECT_GE(reader.got, 1u << 20);  // and what was in flight after our FIN
  EXPECT_EQ(reader.wrong, 0u);
  // Both ends are gone: the service closed on our FIN, nobody was reset.
  ASSERT_TRUE(sim.run_until_idle(Duration::seconds(300)));
  EXPECT_EQ(server.tcp().connections(), 0u);
  EXPECT_EQ(client.tcp().connections(), 0u);
  EXPECT_EQ(server.counters().tcp_tx_resets.get(), 0u);
  EXPECT_EQ(client.counters().tcp_tx_resets.get(), 0u);
}

// The echo service holds no buffer per connection: while the client reads
// nothing, the service's send buffer fills, it stops reading, and the
// client's writes stall on the closed window; once the client reads, every
// byte comes back in order.
TEST(EchoService, AStalledReaderHoldsTheDataInTheWindowsAndLosesNothing) {
  ClientServer cs;
  Simulation& sim = cs.sim;
  Stack& client = *cs.client;
  Stack& server = *cs.server;
  std::string why;
  auto spec = parse_service_spec("tcp-echo:7", &why);
  ASSERT_TRUE(spec.ok()) << why;
  auto echo = start_service(server, *spec);
  ASSERT_TRUE(echo.ok());
  auto c = client.tcp().connect(*Ipv4Address::parse("10.0.0.2"), L4Port(7));
  ASSERT_TRUE(c.ok());
  TcpSocket& s = **c;
  std::vector<std::byte> data(2 << 20);
  for (size_t i = 0; i < data.size(); ++i)
    data[i] = static_cast<std::byte>((i * 7 + i / 251) & 0xff);
  size_t sent = 0;
  // Write without reading until the writes stall: the echo's send buffer and
  // both receive buffers are full.
  for (int round = 0; round < 1000; ++round) {
    sent += s.write(std::span(data).subspan(sent));
    sim.run_until_idle(Duration::millis(50));
    if (sent == data.size() || s.send_space() == 0) break;
  }
  ASSERT_LT(sent, data.size());  // it did stall
  const size_t stalled_at = sent;
  sim.run_until_idle(Duration::seconds(5));
  EXPECT_EQ(sent, stalled_at);
  // Now read (and write the rest) until everything has come back.
  std::vector<std::byte> got;
  std::array<std::byte, 65536> buf;
  ASSERT_TRUE(sim.run_until(
      [&] {
        if (sent < data.size()) sent += s.write(std::span(data).subspan(sent));
        while (uint32_t n = s.read(buf))
          got.insert(got.end(), buf.begin(), buf.begin() + n);
        return got.size() == data.size();
      },
      Duration::seconds(120)));
  EXPECT_TRUE(got == data);
  EXPECT_EQ(server.counters().tcp_tx_resets.get(), 0u);
}

// The peer half-closes while its data still waits unread (the echo's send
// buffer full): the echo finishes reading and echoing it all, then closes
// with a FIN, not a reset.
TEST(EchoService, AHalfCloseBehindUnreadDataIsEchoedInFullThenClosed) {
  ClientServer cs;
  std::string why;
  auto echo = start_service(*cs.server, *parse_service_spec("tcp-echo:7", &why));
  ASSERT_TRUE(echo.ok());
  auto c = cs.client->tcp().connect(*Ipv4Address::parse("10.0.0.2"), L4Port(7));
  ASSERT_TRUE(c.ok());
  TcpSocket& s = **c;
  std::vector<std::byte> data(1 << 20);
  for (size_t i = 0; i < data.size(); ++i)
    data[i] = static_cast<std::byte>((i * 13 + i / 509) & 0xff);
  size_t sent = 0;
  bool shut = false;
  std::vector<std::byte> got;
  std::array<std::byte, 65536> buf;
  int round = 0;
  ASSERT_TRUE(cs.sim.run_until(
      [&] {
        if (sent < data.size()) sent += s.write(std::span(data).subspan(sent));
        if (sent == data.size() && !shut) shut = s.shutdown().ok();
        // Read nothing for a while: the echo's send buffer fills with our
        // FIN already sent behind the unread data.
        if (++round > 200)
          while (uint32_t n = s.read(buf))
            got.insert(got.end(), buf.begin(), buf.begin() + n);
        return s.eof();
      },
      Duration::seconds(120)));
  while (uint32_t n = s.read(buf))
    got.insert(got.end(), buf.begin(), buf.begin() + n);
  EXPECT_TRUE(shut);
  EXPECT_TRUE(got == data);
  EXPECT_EQ(cs.server->counters().tcp_tx_resets.get(), 0u);
  EXPECT_EQ(cs.server->counters().conn.orphan_data_resets.get(), 0u);
}

TEST(ServiceSpec, Parses) {
  std::string why;
  auto s = parse_service_spec("udp-echo:7", &why);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->kind, "udp-echo");
  EXPECT_EQ(s->port, L4Port(7));
  EXPECT_FALSE(parse_service_spec("udp-echo", &why).ok());
  EXPECT_FALSE(parse_service_spec("udp-echo:0", &why).ok());
  EXPECT_FALSE(parse_service_spec("udp-echo:65536", &why).ok());
  EXPECT_FALSE(parse_service_spec("udp-echo:7x", &why).ok());
  EXPECT_TRUE(parse_service_spec("source:19", &why).ok());
  EXPECT_FALSE(parse_service_spec("quic:443", &why).ok());
  EXPECT_NE(why.find("unknown service kind"), std::string::npos);
}

}  // namespace
}  // namespace sn

namespace sn {
namespace {

// Two shard threads on a two-queue TAP, with real traffic crossing between
// them: pings from 64 made-up sources (only this TAP and the engine ever see
// them), written as raw frames on the TAP's Linux side, which the kernel puts
// on either queue; the dispatcher forwards each to its owner, which answers.
// Run under TSan in CI (./dev test). Needs root for the TAP.
TEST(EngineShards, TwoShardThreadsAnswerPingsFromEverywhere) {
  if (::geteuid() != 0) GTEST_SKIP() << "SKIPPED: needs root for a TAP device";
  const std::string tap = "snsh" + std::to_string(::getpid() % 100000);
  EngineConfig cfg;
  cfg.name = "engine-shards";
  cfg.control_path =
      ::testing::TempDir() + "/engine-shards-" + std::to_string(::getpid()) + ".sock";
  auto spec = parse_iface_spec("tap:" + tap + ",mac=02:5e:00:00:00:09");
  ASSERT_TRUE(spec.ok());
  cfg.ifaces.push_back(EngineIface{*spec, *Ipv4Prefix::parse("10.213.0.2/24")});
  cfg.shards = 2;
  cfg.seed = 9;
  // UDP echo on every shard, balanced from the first waiting message: the
  // balancer reads the other shard's rings while it runs (TSan watches).
  cfg.services.push_back(ServiceSpec{"udp-echo", L4Port(7), ""});
  cfg.balance_threshold = 1;
  std::string why;
  auto engine = Engine::create(cfg, &why);
  ASSERT_TRUE(engine.ok()) << why;
  std::thread run([&] { (*engine)->run(); });

  // The Linux side of the TAP: up, no address (nothing is routed), a raw socket.
  ASSERT_EQ(std::system(("ip link set " + tap + " up").c_str()), 0);
  const int ifindex = static_cast<int>(::if_nametoindex(tap.c_str()));
  ASSERT_GT(ifindex, 0);
  const int fd = ::socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
  ASSERT_GE(fd, 0);
  sockaddr_ll sll{};
  sll.sll_family = AF_PACKET;
  sll.sll_protocol = htons(ETH_P_ALL);
  sll.sll_ifindex = ifindex;
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&sll), sizeof(sll)), 0);
  timeval tv{0, 200'000};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));

  const MacAddress engine_mac = *MacAddress::parse("02:5e:00:00:00:09");
  const MacAddress our_mac = *MacAddress::parse("02:5e:00:00:00:01");
  const Ipv4Address engine_ip = *Ipv4Address::parse("10.213.0.2");
  int replies = 0;
  std::set<uint8_t> udp_answered;
  for (int round = 0; round < 3 && (replies < 64 || udp_answered.size() < 64); ++round) {
    for (uint8_t host = 10; host < 74; ++host) {
      std::array<std::byte, 14 + 20 + 8 + 32> f{};
      EthernetHeader eth{engine_mac, our_mac, std::nullopt, kEtherTypeIpv4};
      eth.emit(f);
      Ipv4Header ip;
      ip.total_length = 20 + 8 + 32;
      ip.id = static_cast<uint16_t>(host + 256 * round);
      ip.protocol = kIpProtoIcmp;
      ip.src = Ipv4Address::from_octets(10, 213, 0, host);
      ip.dst = engine_ip;
      ip.emit(std::span(f).subspan(14));
      IcmpHeader::echo_request(host, static_cast<uint16_t>(round))
          .emit(std::span(f).subspan(34), Checksum{}.add(std::span(f).subspan(42)).sum());
      ASSERT_EQ(::send(fd, f.data(), f.size(), 0), static_cast<ssize_t>(f.size()));
      // A UDP datagram to the echo service from the same host.
      std::array<std::byte, 8> payload{std::byte{host}};
      ip.id = static_cast<uint16_t>(ip.id + 1000);
      ip.total_length = 20 + 8 + payload.size();
      ip.protocol = kIpProtoUdp;
      ip.emit(std::span(f).subspan(14));
      UdpHeader{L4Port(1000 + host), L4Port(7), static_cast<uint16_t>(8 + payload.size())}.emit(
          std::span(f).subspan(34, 8), ip.src, ip.dst, Checksum{}.add(payload).sum());
      std::memcpy(f.data() + 42, payload.data(), payload.size());
      const size_t udp_len = 14 + 20 + 8 + payload.size();
      ASSERT_EQ(::send(fd, f.data(), udp_len, 0), static_cast<ssize_t>(udp_len));
    }
    // Echo replies (the engine asks ARP for each host first: answer those).
    for (;;) {
      std::array<std::byte, 2048> in;
      const ssize_t n = ::recv(fd, in.data(), in.size(), 0);
      if (n <= 0) break;
      auto e = EthernetView::parse(std::span(in).first(static_cast<size_t>(n)));
      if (!e || e->src() != engine_mac) continue;
      if (e->ethertype() == kEtherTypeArp) {
        auto a = ArpPacket::parse(e->payload());
        if (!a || a->op != ArpPacket::kRequest) continue;
        ArpPacket reply{ArpPacket::kReply, our_mac, a->tpa, engine_mac, a->spa};
        std::array<std::byte, 60> out{};
        EthernetHeader{engine_mac, our_mac, std::nullopt, kEtherTypeArp}.emit(out);
        reply.emit(std::span(out).subspan(14));
        ASSERT_EQ(::send(fd, out.data(), out.size(), 0), 60);
        continue;
      }
      auto ip = Ipv4View::parse(e->payload());
      if (ip && ip->protocol() == kIpProtoUdp && ip->payload().size() > 8) {
        udp_answered.insert(std::to_integer<uint8_t>(ip->payload()[8]));
        continue;
      }
      if (!ip || ip->protocol() != kIpProtoIcmp) continue;
      auto icmp = IcmpView::parse(ip->payload());
      if (icmp && icmp->type() == kIcmpEchoReply) ++replies;
    }
  }
  ::close(fd);
  auto json = control_request(cfg.control_path, "stats json", &why);
  ASSERT_TRUE(json.ok()) << why;
  (*engine)->stop();
  run.join();
  EXPECT_GE(replies, 64);  // every host answered (a round may repeat some)
  EXPECT_EQ(udp_answered.size(), 64u);
  EXPECT_NE(json->find("\"balanced\":"), std::string::npos);
  // Two shards reported, and the dispatcher moved frames between them.
  EXPECT_NE(json->find("\"shard\":1"), std::string::npos);
  EXPECT_EQ(json->find("\"frames_forwarded\":0,\"frames_received\":0,\"datagrams_forwarded\":0,"
                       "\"datagrams_received\":0,\"arp_updates_sent\":0"),
            std::string::npos)
      << "no shard forwarded or shared anything: " << *json;
}

}  // namespace
}  // namespace sn
