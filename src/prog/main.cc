// The `shardnet` command: run the engine, read its counters, or take the tour.
#include <fmt/format.h>
#include <pthread.h>
#include <signal.h>
#include <CLI/CLI.hpp>

#include <cstdio>
#include <thread>

#include "engine/control.h"
#include "engine/engine.h"
#include "prog/bench.h"
#include "prog/demo.h"

namespace sn {
namespace {

bool valid_name(const std::string& n) {
  if (n.empty() || n.size() > 64) return false;
  for (char c : n)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_')) return false;
  return true;
}

// Builds the engine configuration from the command line, or says what is wrong.
bool build_config(const std::vector<std::string>& ifaces, const std::vector<std::string>& ips,
                  const std::string& gateway, const std::vector<std::string>& services,
                  EngineConfig& cfg, std::string& why) {
  if (!valid_name(cfg.name)) {
    why = "--name must be 1-64 letters, digits, '-' or '_'";
    return false;
  }
  if (ifaces.size() != ips.size()) {
    why = fmt::format("give one --ip per --iface ({} --iface, {} --ip)", ifaces.size(), ips.size());
    return false;
  }
  for (size_t i = 0; i < ifaces.size(); ++i) {
    auto spec = parse_iface_spec(ifaces[i]);
    if (!spec) {
      why = fmt::format("--iface {}: {}", ifaces[i], spec.error().message);
      return false;
    }
    auto prefix = Ipv4Prefix::parse(ips[i]);
    if (!prefix || prefix->length > 32 || prefix->address.is_any()) {
      why = fmt::format("--ip {}: expected ADDRESS/PREFIX such as 10.0.0.2/24", ips[i]);
      return false;
    }
    cfg.ifaces.push_back(EngineIface{*spec, *prefix});
  }
  if (!gateway.empty()) {
    auto gw = Ipv4Address::parse(gateway);
    if (!gw) {
      why = "--gateway " + gateway + ": not an IPv4 address";
      return false;
    }
    cfg.gateway = *gw;
  }
  for (const std::string& s : services) {
    std::string reason;
    auto spec = parse_service_spec(s, &reason);
    if (!spec) {
      why = "--service " + s + ": " + reason;
      return false;
    }
    cfg.services.push_back(*spec);
  }
  return true;
}

int run_engine(EngineConfig cfg) {
  // SIGINT and SIGTERM are taken by a thread of their own, which asks the
  // shard loop to stop: no signal handler, no global flag.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);

  std::string why;
  auto engine = Engine::create(cfg, &why);
  if (!engine) {
    fmt::print(stderr, "shardnet run: {}\n", why.empty() ? engine.error().message : why);
    return 1;
  }
  Engine& e = **engine;
  std::thread waiter([&] {
    int sig = 0;
    sigwait(&set, &sig);
    e.stop();
  });
  fmt::print("shardnet: engine '{}' running; counters: shardnet stats --control {}\n", cfg.name,
             (*engine)->control_path());
  std::fflush(stdout);
  e.run();
  waiter.join();
  fmt::print("shardnet: stopped\n");
  return 0;
}

}  // namespace
}  // namespace sn

int main(int argc, char** argv) {
  using namespace sn;
  CLI::App app{"shardnet: a user-space, multi-core TCP/IP engine"};
  app.require_subcommand(1);

  EngineConfig cfg;
  std::vector<std::string> ifaces, ips, services;
  std::string gateway, control;
  auto* run = app.add_subcommand("run", "Run the engine until SIGINT or SIGTERM");
  run->add_option("--iface", ifaces,
                  "tap:NAME[,offload=0|1], afxdp:IFNAME[,bind=copy|zerocopy], afpacket:IFNAME, "
                  "shm:NAME (two engines), dpdk:VDEV[,devargs=K=V;K=V] or mem:NAME; then "
                  "[,mtu=N][,mac=M]"
                  "[,loss=P,dup=P,reorder=P,corrupt=P,delay=D,seed=S][,pcap=FILE]")
      ->required();
  run->add_option("--ip", ips, "Our address and subnet on the matching --iface, e.g. 10.0.0.2/24")
      ->required();
  run->add_option("--gateway", gateway, "Default gateway");
  run->add_option("--service", services,
                  "A built-in service: udp-echo:PORT, tcp-echo:PORT, discard:PORT, source:PORT, "
                  "http:PORT:DIR");
  run->add_option("--name", cfg.name, "Engine name (picks the default control socket)")
      ->default_val("shardnet");
  run->add_option("--control", control, "Control socket path");
  run->add_option("--seed", cfg.seed, "Seed for the engine's randomness (0: random)");
  run->add_option("--shards", cfg.shards,
                  "Shards: one thread and one private stack each, one TAP queue each (0: one per "
                  "core the process may run on, see taskset; 1 with a mem: interface)")
      ->default_val(0);
  std::string steer;
  run->add_option("--steer", steer,
                  "Steering: hash=toeplitz|xor, tcp=/udp=/frag=/other=FIELD+FIELD[/LEN|:MASK], "
                  "table=N,N,... (see src/shard/steer_config.h)");
  run->add_option("--balance", cfg.balance_threshold,
                  "Queue depth at which a shard's UDP work (for a port served on every shard) "
                  "may go to a less loaded shard (0: never)")
      ->default_val(256);
  run->add_option("--buffer-size", cfg.pool.buffer_size,
                  "Bytes per packet buffer, a multiple of 64 (AF_XDP: 2048 or 4096): a frame, "
                  "mtu + 18 bytes, fits one after its headroom")
      ->check(CLI::Range(1024, 65536))
      ->default_val(cfg.pool.buffer_size);
  run->add_option("--buffers", cfg.pool.count,
                  "Packet buffers per shard: frames received and not yet read, data sent and "
                  "not yet acknowledged, and (AF_XDP) a quarter waiting on the fill ring")
      ->check(CLI::Range(256u, 4'000'000u))
      ->default_val(cfg.pool.count);
  run->add_option("--socket-buffer", cfg.stack.tcp.connection.send_buffer,
                  "Bytes each TCP connection may hold to send, and to read (its window); held "
                  "only while in use")
      ->check(CLI::Range(4096u, 8u << 20))
      ->default_val(cfg.stack.tcp.connection.send_buffer);
  run->add_option("--max-connections", cfg.stack.tcp.max_connections,
                  "TCP connections per shard, TIME-WAIT aside (each costs memory only while open)")
      ->check(CLI::Range(16u, 4'000'000u))
      ->default_val(cfg.stack.tcp.max_connections);
  run->add_option("--tso", cfg.stack.tcp.tso,
                  "Send TCP data as super-segments of up to 64 KiB where the port cuts them "
                  "itself (TAP with offloads)")
      ->default_val(cfg.stack.tcp.tso);
  uint32_t spin_us = 50;
  run->add_option("--spin-us", spin_us,
                  "Microseconds an idle shard keeps polling before it sleeps (0: sleep at once)")
      ->default_val(50);
  std::string tcp_cc = "newreno";
  run->add_option("--tcp-cc", tcp_cc, "TCP congestion control for every connection")
      ->check(CLI::IsMember({"newreno", "cubic"}))
      ->default_val("newreno");

  bool json = false;
  std::string stats_name = "shardnet";
  auto* stats = app.add_subcommand("stats", "Print a running engine's counters");
  stats->add_flag("--json", json, "As JSON");
  stats->add_option("--name", stats_name, "Engine name")->default_val("shardnet");
  stats->add_option("--control", control, "Control socket path");

  DemoOptions demo_opts;
  auto* demo = app.add_subcommand(
      "demo",
      "The tour: ping and UDP echo through the engine (TAP in a namespace as root, "
      "the in-memory wire otherwise)");
  demo->add_flag("--wire", demo_opts.force_wire, "Use the in-memory wire even as root");

  auto* bench = app.add_subcommand(
      "bench",
      "Measure shardnet against Linux on this machine, same run, same load generator (root; "
      "`shardnet bench --help` for the setup and options)");
  bench->prefix_command();  // everything after `bench` is the benchmark's
  bench->set_help_flag();

  CLI11_PARSE(app, argc, argv);
  if (*bench) return run_bench(bench->remaining());

  if (*run) {
    cfg.control_path = control;
    cfg.stack.tcp.connection.recv_buffer = cfg.stack.tcp.connection.send_buffer;
    cfg.idle_spin = Duration::micros(spin_us);
    cfg.stack.tcp.connection.cc = *parse_congestion_algorithm(tcp_cc);  // checked by CLI11
    if (!steer.empty()) {
      auto sc = SteerConfig::parse(steer);
      if (!sc) {
        fmt::print(stderr, "shardnet run: --steer {}: {}\n", steer, sc.error().message);
        return 2;
      }
      cfg.steer = *sc;
    }
    std::string why;
    if (!build_config(ifaces, ips, gateway, services, cfg, why)) {
      fmt::print(stderr, "shardnet run: {}\n", why);
      return 2;
    }
    return run_engine(std::move(cfg));
  }
  if (*stats) {
    std::string path = control.empty() ? default_control_path(stats_name) : control;
    std::string why;
    auto answer = control_request(path, json ? "stats json" : "stats", &why);
    if (!answer) {
      fmt::print(stderr, "shardnet stats: {}\n", why);
      return 1;
    }
    fmt::print("{}", *answer);
    return 0;
  }
  if (*demo) return run_demo(demo_opts, argv[0]);
  return 0;
}
