// The tour, on a real TAP device in a namespace of its own, or on the wire.
#include "prog/demo.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <thread>
#include <vector>

#include "base/rng.h"
#include "engine/engine.h"
#include "engine/services.h"
#include "engine/stats.h"
#include "stack/sim.h"
#include "wire/icmp.h"

namespace sn {
namespace {

constexpr const char* kLinuxAddress = "10.213.0.1";
constexpr const char* kEngineAddress = "10.213.0.2";
constexpr uint16_t kEchoPort = 7;

// The datagram sizes the tour echoes: edges around one frame, then fragments.
std::vector<size_t> udp_sizes() {
  std::vector<size_t> sizes = {1, 64, 1472, 1473, 2960, 4000, 8000};
  Rng rng(2026);
  while (sizes.size() < 20)
    sizes.push_back(1 + rng.below(8000));
  return sizes;
}

std::vector<std::byte> pattern(size_t n, uint64_t seed) {
  Rng rng(seed);
  std::vector<std::byte> v(n);
  for (auto& b : v)
    b = static_cast<std::byte>(rng.next());
  return v;
}

int shell(const std::string& cmd) {
  int rc = std::system((cmd + " >/dev/null 2>&1").c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

// Runs `cmd`, returns its output.
std::string capture(const std::string& cmd) {
  std::string out;
  if (FILE* f = ::popen((cmd + " 2>&1").c_str(), "r")) {
    char buf[512];
    while (size_t n = std::fread(buf, 1, sizeof(buf), f))
      out.append(buf, n);
    ::pclose(f);
  }
  return out;
}

bool ping_linux(int payload) {
  fmt::print("\n$ ping -c 5 -s {} {}\n", payload, kEngineAddress);
  std::string out =
      capture(fmt::format("ping -n -c 5 -i 0.2 -W 2 -s {} {}", payload, kEngineAddress));
  // The summary: the last two lines.
  auto end = out.find_last_not_of('\n');
  auto cut = out.rfind('\n', out.rfind('\n', end) - 1);
  fmt::print("{}\n", out.substr(cut == std::string::npos ? 0 : cut + 1, end - cut));
  return out.find(" 5 received") != std::string::npos;
}

bool udp_echo_linux() {
  fmt::print("\n$ UDP echo to {}:{} from a Linux socket\n", kEngineAddress, kEchoPort);
  int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(kEchoPort);
  ::inet_pton(AF_INET, kEngineAddress, &to.sin_addr);
  ::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof(to));
  timeval tv{2, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  int good = 0;
  auto sizes = udp_sizes();
  std::vector<std::byte> back(65536);
  for (size_t i = 0; i < sizes.size(); ++i) {
    auto data = pattern(sizes[i], i);
    ::send(fd, data.data(), data.size(), 0);
    ssize_t n = ::recv(fd, back.data(), back.size(), 0);
    bool same = n == static_cast<ssize_t>(data.size()) &&
                std::memcmp(back.data(), data.data(), data.size()) == 0;
    good += same;
  }
  ::close(fd);
  fmt::print("{} of {} datagrams (1 to 8000 bytes) came back byte-exact\n", good, sizes.size());
  return good == static_cast<int>(sizes.size());
}

int demo_tap() {
  const std::string ns = fmt::format("sn-demo-{}", ::getpid());
  const std::string tap = "sndemo0";
  fmt::print("shardnet demo: as root, on a TAP device in network namespace {}\n", ns);
  if (shell("ip netns add " + ns) != 0) {
    fmt::print(stderr, "cannot create network namespace {} (is iproute2 installed?)\n", ns);
    return 1;
  }
  struct Cleanup {
    std::string ns;
    ~Cleanup() { shell("ip netns del " + ns); }
  } cleanup{ns};
  int nsfd = ::open(("/run/netns/" + ns).c_str(), O_RDONLY | O_CLOEXEC);
  if (nsfd < 0 || ::setns(nsfd, CLONE_NEWNET) != 0) {
    fmt::print(stderr, "cannot enter namespace {}: {}\n", ns, std::strerror(errno));
    return 1;
  }
  ::close(nsfd);
  shell("ip link set lo up");

  EngineConfig cfg;
  cfg.name = fmt::format("demo-{}", ::getpid());
  IfaceSpec spec;
  spec.kind = "tap";
  spec.name = tap;
  cfg.ifaces.push_back(EngineIface{spec, *Ipv4Prefix::parse(std::string(kEngineAddress) + "/24")});
  cfg.services.push_back(ServiceSpec{"udp-echo", L4Port(kEchoPort), ""});
  std::string why;
  auto engine = Engine::create(cfg, &why);
  if (!engine) {
    fmt::print(stderr, "cannot start the engine: {}\n", why);
    return 1;
  }
  std::thread shard([&] { (*engine)->run(); });
  fmt::print("engine {}/24 on {}; Linux side {}/24\n", kEngineAddress, tap, kLinuxAddress);
  shell(fmt::format("ip addr add {}/24 dev {}", kLinuxAddress, tap));

  bool ok = ping_linux(56);
  ok = ping_linux(4000) && ok;
  ok = udp_echo_linux() && ok;

  (*engine)->stop();
  shard.join();
  fmt::print("\nthe engine's counters (shardnet stats):\n{}", (*engine)->stats_text());
  engine->reset();
  fmt::print("\nremoved namespace {} and TAP {}\n{}\n", ns, tap,
             ok ? "demo: all checks passed" : "demo: SOME CHECKS FAILED");
  return ok ? 0 : 1;
}

int demo_wire(bool asked) {
  fmt::print(
      "shardnet demo: {}, so the tour runs on the in-memory wire between two engines\n"
      "(virtual time{})\n",
      asked ? "--wire given" : "not root",
      asked ? "" : "; run as root for the real thing on a TAP device");
  Simulation sim;
  SimNodeConfig a, b;
  a.address = *Ipv4Prefix::parse(std::string(kLinuxAddress) + "/24");
  a.mac = *MacAddress::parse("02:00:00:00:00:01");
  a.seed = 1;
  b.address = *Ipv4Prefix::parse(std::string(kEngineAddress) + "/24");
  b.mac = *MacAddress::parse("02:00:00:00:00:02");
  b.seed = 2;
  Stack& client = *sim.add_node(a).stack;
  Stack& server = *sim.add_node(b).stack;
  auto echo = start_service(server, ServiceSpec{"udp-echo", L4Port(kEchoPort), ""});
  if (!echo) return 1;
  const Ipv4Address engine_ip = *Ipv4Address::parse(kEngineAddress);

  bool ok = true;
  int replies = 0;
  client.icmp().set_echo_reply_handler(
      [](void* arg, const Ipv4Meta&, const Packet&) { ++*static_cast<int*>(arg); }, &replies);
  for (int payload : {56, 4000}) {
    replies = 0;
    Instant start = sim.now();
    for (uint16_t seq = 1; seq <= 5; ++seq) {
      (void)client.icmp().send_echo_request(engine_ip, 1, seq, pattern(payload, seq));
      sim.run_until([&] { return replies == seq; }, Duration::seconds(1));
    }
    fmt::print("\nping -c 5 -s {} {}: 5 transmitted, {} received ({} us of virtual time)\n",
               payload, kEngineAddress, replies, (sim.now() - start).us());
    ok = ok && replies == 5;
  }

  auto sock = client.udp().bind(Ipv4Address::any(), L4Port(0));
  auto sizes = udp_sizes();
  int good = 0;
  for (size_t i = 0; i < sizes.size(); ++i) {
    auto data = pattern(sizes[i], i);
    (void)(*sock)->send_to(engine_ip, L4Port(kEchoPort), data);
    sim.run_until([&] { return (*sock)->queued() > 0; }, Duration::seconds(1));
    if (auto d = (*sock)->recv()) {
      std::vector<std::byte> back(d->data->chain_size());
      chain_copy_out(*d->data, 0, back);
      good += back == data;
    }
  }
  fmt::print("\nUDP echo: {} of {} datagrams (1 to 8000 bytes) came back byte-exact\n", good,
             sizes.size());
  ok = ok && good == static_cast<int>(sizes.size());
  fmt::print("\nthe engine's counters:\n{}", counters_text(server.counters(), 2));
  fmt::print("\n{}\n", ok ? "demo: all checks passed" : "demo: SOME CHECKS FAILED");
  return ok ? 0 : 1;
}

}  // namespace

int run_demo(const DemoOptions& options, const char* /*argv0*/) {
  if (::geteuid() == 0 && !options.force_wire) return demo_tap();
  return demo_wire(options.force_wire);
}

}  // namespace sn
