// The one-shard engine: building it from its configuration, the shard loop on
// the real clock, and its counters as text and JSON.
#include "engine/engine.h"

#include <fmt/format.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <random>

#include "engine/clock.h"
#include "engine/control.h"
#include "engine/stats.h"
#include "port/fault_port.h"
#include "port/mem_wire.h"
#include "port/pcap_port.h"
#include "port/tap_port.h"

namespace sn {

struct Engine::Shard {
  explicit Shard(const PoolConfig& pool_config) : pool(pool_config) {}
  PacketPool pool;
  std::vector<std::unique_ptr<Port>> ports;  // devices and their wrappers, outermost last
  std::vector<Port*> ifaces;                 // the outermost port of each interface
  std::vector<FaultPort*> faults;
  std::unique_ptr<MemWire> wire;  // for mem: interfaces (a loopback-less lab wire)
  std::unique_ptr<Stack> stack;
  std::vector<std::unique_ptr<Service>> services;
};

std::string default_control_path(const std::string& name) {
  if (::geteuid() == 0) return "/run/shardnet/" + name + ".sock";
  if (const char* dir = std::getenv("XDG_RUNTIME_DIR"); dir && *dir)
    return std::string(dir) + "/shardnet-" + name + ".sock";
  return "/tmp/shardnet-" + name + ".sock";
}

namespace {

MacAddress random_local_mac(uint64_t r) {
  MacAddress m;
  for (int i = 0; i < 6; ++i)
    m.b[i] = static_cast<uint8_t>(r >> (8 * i));
  m.b[0] = static_cast<uint8_t>((m.b[0] & 0xfe) | 0x02);  // unicast, locally administered
  return m;
}

}  // namespace

Result<std::unique_ptr<Engine>> Engine::create(const EngineConfig& config, std::string* why) {
  std::unique_ptr<Engine> e(new Engine());
  e->wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (e->wake_fd_ < 0) {
    *why = std::string("eventfd: ") + std::strerror(errno);
    return Error{Errc::kIo, "engine"};
  }
  e->name_ = config.name;
  e->control_path_ =
      config.control_path.empty() ? default_control_path(config.name) : config.control_path;
  uint64_t seed = config.seed;
  if (seed == 0) seed = (uint64_t{std::random_device{}()} << 32) | std::random_device{}();
  Rng rng(seed);
  auto fail = [&](std::string msg) -> Result<std::unique_ptr<Engine>> {
    *why = std::move(msg);
    return Error{Errc::kInvalidArgument, "engine"};
  };
  if (config.ifaces.empty()) return fail("at least one --iface is needed");

  auto shard = std::make_unique<Shard>(config.pool);
  const Instant now = steady_now();
  StackConfig stack_config = config.stack;
  for (auto& b : stack_config.tcp.isn_secret)
    b = static_cast<uint8_t>(rng.next());  // RFC 6528
  shard->stack = std::make_unique<Stack>(stack_config, shard->pool, now, rng.next());
  for (const EngineIface& ifc : config.ifaces) {
    const IfaceSpec& spec = ifc.spec;
    // A frame travels in one packet buffer: the MTU must fit one.
    const uint32_t room = config.pool.buffer_size - config.pool.headroom;
    if (spec.mtu + kMaxLinkHeader > room)
      return fail(fmt::format("{}:{}: mtu={} does not fit a {}-byte packet buffer (at most {})",
                              spec.kind, spec.name, spec.mtu, room, room - kMaxLinkHeader));
    if (spec.queues > 1)
      return fail("queues=" + std::to_string(spec.queues) +
                  ": a multi-queue TAP needs the multi-shard engine, which is not built yet");
    MacAddress mac = spec.mac.value_or(random_local_mac(rng.next()));
    Port* port = nullptr;
    if (spec.kind == "tap") {
      auto tap = TapPort::open(spec.name, mac, spec.mtu);
      if (!tap)
        return fail(std::string("cannot open tap:") + spec.name + ": " + tap.error().message);
      port = tap->get();
      shard->ports.push_back(std::move(*tap));
    } else if (spec.kind == "mem") {
      if (!shard->wire) shard->wire = std::make_unique<MemWire>();
      port = &shard->wire->attach(mac, spec.mtu);
    } else {
      return fail("unknown interface kind '" + spec.kind + "' (known: tap, mem)");
    }
    if (spec.fault.any()) {
      auto f = std::make_unique<FaultPort>(*port, shard->pool, spec.fault);
      shard->faults.push_back(f.get());
      port = f.get();
      shard->ports.push_back(std::move(f));
    }
    if (!spec.pcap_path.empty()) {
      auto p = PcapPort::open(*port, spec.pcap_path);
      if (!p) return fail("cannot capture to " + spec.pcap_path + ": " + p.error().message);
      port = p->get();
      shard->ports.push_back(std::move(*p));
    }
    shard->ifaces.push_back(port);
    shard->stack->add_interface(*port, ifc.address);
  }
  if (config.gateway) {
    if (auto r = shard->stack->set_gateway(*config.gateway); !r)
      return fail("--gateway " + config.gateway->to_string() + ": " + r.error().message);
  }
  for (const ServiceSpec& s : config.services) {
    auto svc = start_service(*shard->stack, s);
    if (!svc)
      return fail("cannot start " + s.kind + ":" + std::to_string(s.port.v) + ": " +
                  svc.error().message);
    shard->services.push_back(std::move(*svc));
  }
  e->shard_ = std::move(shard);
  Engine* raw = e.get();
  auto control = ControlServer::start(
      e->control_path_,
      [raw](const std::string& cmd) -> std::string {
        if (cmd == "stats") return raw->stats_text();
        if (cmd == "stats json") return raw->stats_json();
        return "unknown command '" + cmd + "' (known: stats, stats json)\n";
      },
      why);
  if (!control) return control.error();
  e->control_ = std::move(*control);
  e->shard_->stack->start(now);
  return e;
}

Engine::~Engine() {
  control_.reset();  // stop serving before the counters go away
  if (wake_fd_ >= 0) ::close(wake_fd_);
}

void Engine::run() {
  shard_->pool.set_owner_thread();  // frees on this thread take the fast path
  Stack& stack = *shard_->stack;
  std::vector<pollfd> fds;
  for (Port* p : shard_->ifaces)
    if (p->wait_fd() >= 0) fds.push_back(pollfd{p->wait_fd(), POLLIN, 0});
  fds.push_back(pollfd{wake_fd_, POLLIN, 0});
  while (!stop_.load(std::memory_order_acquire)) {
    Instant now = steady_now();
    if (stack.poll(now) > 0) continue;  // busy: poll again at once
    // Idle: sleep until a port has input, the next timer is due, or stop().
    Instant next = stack.next_event();
    timespec ts{};
    timespec* timeout = nullptr;
    if (next != Instant::never()) {
      Duration wait = next - now;
      if (wait.ns() <= 0) continue;
      ts = timespec{static_cast<time_t>(wait.ns() / 1'000'000'000),
                    static_cast<long>(wait.ns() % 1'000'000'000)};
      timeout = &ts;
    }
    ::ppoll(fds.data(), fds.size(), timeout, nullptr);
  }
  stack.flush();
}

void Engine::stop() {
  stop_.store(true, std::memory_order_release);
  uint64_t one = 1;
  (void)!::write(wake_fd_, &one, sizeof(one));
}

namespace {

template <typename F>
void for_each_port_counter(const PortCounters& c, F&& f) {
  f("rx_frames", c.rx_frames.get());
  f("rx_bytes", c.rx_bytes.get());
  f("tx_frames", c.tx_frames.get());
  f("tx_bytes", c.tx_bytes.get());
  f("drop_rx_no_buffer", c.rx_no_buffer.get());
  f("drop_rx_errors", c.rx_errors.get());
  f("drop_tx_errors", c.tx_errors.get());
  f("drop_tx_oversize", c.tx_oversize.get());
}

template <typename F>
void for_each_fault_counter(const FaultPort& p, F&& f) {
  const auto& c = p.faults();
  f("dropped", c.dropped.get());
  f("duplicated", c.duplicated.get());
  f("reordered", c.reordered.get());
  f("corrupted", c.corrupted.get());
  f("delayed", c.delayed.get());
  f("hold_full", c.hold_full.get());
}

}  // namespace

std::string Engine::stats_text() const {
  std::string out = fmt::format("engine {}: 1 shard\nshard 0\n", name_);
  out += counters_text(shard_->stack->counters(), 2);
  out += fmt::format("  {:<28} {}\n", "pool_exhausted", shard_->pool.exhausted.get());
  for (size_t i = 0; i < shard_->ifaces.size(); ++i) {
    out += fmt::format("  iface {}\n", i);
    for_each_port_counter(shard_->ifaces[i]->counters(), [&](const char* name, uint64_t v) {
      out += fmt::format("    {:<26} {}\n", name, v);
    });
  }
  for (FaultPort* f : shard_->faults) {
    out += "  faults injected\n";
    for_each_fault_counter(
        *f, [&](const char* name, uint64_t v) { out += fmt::format("    {:<26} {}\n", name, v); });
  }
  return out;
}

std::string Engine::stats_json() const {
  std::string out =
      fmt::format("{{\"engine\":\"{}\",\"shards\":[{{\"shard\":0,\"counters\":{{", name_);
  bool first = true;
  auto field = [&](const char* name, uint64_t v) {
    out += fmt::format("{}\"{}\":{}", first ? "" : ",", name, v);
    first = false;
  };
  shard_->stack->counters().for_each(field);
  field("pool_exhausted", shard_->pool.exhausted.get());
  out += "},\"ifaces\":[";
  for (size_t i = 0; i < shard_->ifaces.size(); ++i) {
    out += i ? ",{" : "{";
    first = true;
    for_each_port_counter(shard_->ifaces[i]->counters(), field);
    out += "}";
  }
  out += "],\"faults\":[";
  for (size_t i = 0; i < shard_->faults.size(); ++i) {
    out += i ? ",{" : "{";
    first = true;
    for_each_fault_counter(*shard_->faults[i], field);
    out += "}";
  }
  out += "]}]}\n";
  return out;
}

}  // namespace sn
