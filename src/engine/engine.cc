// The engine: building its shards from the configuration, a loop per shard on
// the real clock, and the counters as text and JSON.
#include "engine/engine.h"

#include <fmt/format.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <random>

#include "engine/clock.h"
#include "engine/control.h"
#include "engine/hosts.h"
#include "engine/socket_module.h"
#include "engine/stats.h"
#include "port/device.h"
#include "port/fault_port.h"
#include "port/mem_wire.h"
#include "port/pcap_port.h"

namespace sn {

// What one shard has beyond its stack: its ports (devices and their
// wrappers), the services running on it, and the eventfd that wakes it.
struct Engine::ShardIo {
  std::vector<std::unique_ptr<Port>> ports;  // devices and their wrappers, outermost last
  std::vector<Port*> ifaces;                 // the outermost port of each interface
  std::vector<FaultPort*> faults;
  std::vector<std::unique_ptr<Service>> services;
  std::unique_ptr<SocketModule> sockets;  // the hosts' sockets on this shard
  SpscRing<HostOp> host_ops{64};          // from the control thread
  int wake_fd = -1;
  std::atomic<bool> sleeping{false};
  ~ShardIo() {
    if (wake_fd >= 0) ::close(wake_fd);
  }
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

namespace {

// The CPUs this process may run on (taskset decides), in order.
std::vector<int> allowed_cpus() {
  std::vector<int> cpus;
  cpu_set_t set;
  CPU_ZERO(&set);
  if (::sched_getaffinity(0, sizeof(set), &set) == 0)
    for (int c = 0; c < CPU_SETSIZE; ++c)
      if (CPU_ISSET(c, &set)) cpus.push_back(c);
  if (cpus.empty()) cpus.push_back(0);
  return cpus;
}

}  // namespace

Result<std::unique_ptr<Engine>> Engine::create(const EngineConfig& config, std::string* why) {
  std::unique_ptr<Engine> e(new Engine());
  auto fail = [&](std::string msg) -> Result<std::unique_ptr<Engine>> {
    *why = std::move(msg);
    return Error{Errc::kInvalidArgument, "engine"};
  };
  e->name_ = config.name;
  e->idle_spin_ = config.idle_spin;
  e->control_path_ =
      config.control_path.empty() ? default_control_path(config.name) : config.control_path;
  uint64_t seed = config.seed;
  if (seed == 0) seed = (uint64_t{std::random_device{}()} << 32) | std::random_device{}();
  Rng rng(seed);
  if (config.ifaces.empty()) return fail("at least one --iface is needed");
  // Shards: as asked, else one per core we may run on; an interface with a
  // single queue and no kernel to spread it (mem:) makes that one.
  bool single_queue = false;
  for (const EngineIface& ifc : config.ifaces)
    single_queue |= ifc.spec.kind == "mem";
  const uint32_t n = config.shards != 0 ? config.shards
                     : single_queue     ? 1
                                        : static_cast<uint32_t>(allowed_cpus().size());
  if (n > 64) return fail("--shards " + std::to_string(n) + ": at most 64");
  if (auto v = config.steer.validate(n); !v)
    return fail(std::string("--steer: ") + v.error().message);

  const Instant now = steady_now();
  ShardGroupConfig gc;
  gc.shards = n;
  gc.steer = config.steer;
  gc.stack = config.stack;
  for (auto& b : gc.stack.tcp.isn_secret)
    b = static_cast<uint8_t>(rng.next());  // RFC 6528: one secret for every shard
  gc.pool = config.pool;
  gc.balance_threshold = config.balance_threshold;
  gc.seed = rng.next();
  e->group_ = std::make_unique<ShardGroup>(gc, now);
  for (uint32_t i = 0; i < n; ++i) {
    auto io = std::make_unique<ShardIo>();
    io->wake_fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (io->wake_fd < 0) return fail(std::string("eventfd: ") + std::strerror(errno));
    e->io_.push_back(std::move(io));
  }

  for (const EngineIface& ifc : config.ifaces) {
    const IfaceSpec& spec = ifc.spec;
    // A frame travels in one packet buffer: the MTU must fit one.
    const uint32_t room = config.pool.buffer_size - config.pool.headroom;
    if (spec.mtu + kMaxLinkHeader > room)
      return fail(fmt::format("{}:{}: mtu={} does not fit a {}-byte packet buffer (at most {})",
                              spec.kind, spec.name, spec.mtu, room, room - kMaxLinkHeader));
    if (spec.queues != 1 && spec.queues != n)
      return fail(fmt::format("{}:{}: queues={} with {} shards: a device has one queue per shard",
                              spec.kind, spec.name, spec.queues, n));
    std::vector<Port*> ports(n);
    if (spec.kind == "mem") {
      if (n != 1) return fail("mem: interfaces work with one shard only (--shards 1)");
      if (!e->wire_) e->wire_ = std::make_unique<MemWire>();
      ports[0] = &e->wire_->attach(spec.mac.value_or(random_local_mac(rng.next())), spec.mtu);
    } else {
      std::vector<PacketPool*> pools(n);
      for (uint32_t i = 0; i < n; ++i)
        pools[i] = &e->group_->shard(i).pool();
      auto dev = open_device(spec, pools, ifc.address.address, random_local_mac(rng.next()));
      if (!dev)
        return fail(fmt::format("cannot open {}:{}{}: {}", spec.kind, spec.name,
                                n == 1 ? "" : fmt::format(" with {} queues", n),
                                dev.error().message));
      for (uint32_t i = 0; i < n; ++i) {
        ports[i] = (*dev)[i].get();
        e->io_[i]->ports.push_back(std::move((*dev)[i]));
      }
    }
    for (uint32_t i = 0; i < n; ++i) {
      ShardIo& io = *e->io_[i];
      Port* port = ports[i];
      if (spec.fault.any()) {
        FaultConfig fc = spec.fault;
        fc.seed += i;  // each shard's queue its own fault sequence
        auto f = std::make_unique<FaultPort>(*port, e->group_->shard(i).pool(), fc);
        io.faults.push_back(f.get());
        port = f.get();
        io.ports.push_back(std::move(f));
      }
      if (!spec.pcap_path.empty()) {
        const std::string path =
            n == 1 ? spec.pcap_path : spec.pcap_path + ".shard" + std::to_string(i);
        auto p = PcapPort::open(*port, path);
        if (!p) return fail("cannot capture to " + path + ": " + p.error().message);
        port = p->get();
        io.ports.push_back(std::move(*p));
      }
      io.ifaces.push_back(port);
      e->group_->shard(i).stack().add_interface(*port, ifc.address);
    }
  }
  for (uint32_t i = 0; i < n; ++i) {
    Stack& stack = e->group_->shard(i).stack();
    if (config.gateway) {
      if (auto r = stack.set_gateway(*config.gateway); !r)
        return fail("--gateway " + config.gateway->to_string() + ": " + r.error().message);
    }
    // Replicated listeners (Fig. 9A/9B): every service runs on every shard,
    // and each shard serves the connections and datagrams it owns.
    for (const ServiceSpec& s : config.services) {
      auto svc = start_service(stack, s);
      if (!svc)
        return fail("cannot start " + s.kind + ":" + std::to_string(s.port.v) + ": " +
                    svc.error().message);
      e->io_[i]->services.push_back(std::move(*svc));
    }
  }
  // A UDP service is bound on every shard: its datagrams may be balanced.
  for (const ServiceSpec& s : config.services)
    if (s.kind == "udp-echo") e->group_->set_udp_replicated(s.port, true);
  e->group_->set_wake(&Engine::wake, e.get());
  Engine* raw = e.get();
  // The host interface: a socket module on every shard, and the attached
  // hosts on the control thread.
  std::vector<Hosts::ShardLink> links;
  for (uint32_t i = 0; i < n; ++i)
    links.push_back({&e->io_[i]->host_ops, e->io_[i]->wake_fd});
  e->hosts_ = std::make_unique<Hosts>(std::move(links), config.host_region);
  for (uint32_t i = 0; i < n; ++i)
    e->io_[i]->sockets = std::make_unique<SocketModule>(
        e->group_->shard(i).stack(), i,
        [](void* arg, uint32_t host, const char* why) {
          static_cast<Hosts*>(arg)->violation(host, why);
        },
        e->hosts_.get());
  Hosts* hosts = e->hosts_.get();
  auto control = ControlServer::start(
      e->control_path_,
      [raw](const std::string& cmd) -> std::string {
        if (cmd == "stats") return raw->stats_text();
        if (cmd == "stats json") return raw->stats_json();
        return "unknown command '" + cmd + "' (known: stats, stats json, attach)\n";
      },
      why,
      ControlServer::HostHooks{[hosts](ControlServer& c, int fd, const ucred& peer) {
                                 return hosts->attach(c, fd, peer);
                               },
                               [hosts](ControlServer& c, int fd) { hosts->hangup(c, fd); },
                               [hosts](ControlServer& c) { hosts->tick(c); }});
  if (!control) return control.error();
  e->control_ = std::move(*control);
  e->hosts_->set_control(e->control_.get());
  e->group_->start(now);
  return e;
}

Engine::~Engine() {
  control_.reset();  // stop serving before the counters go away
  // Services and socket modules hold sockets of the stacks; ports and the
  // wire hold packets of the pools: all go before the shards. The hosts'
  // regions go once no socket module can touch them.
  for (auto& io : io_) {
    io->services.clear();
    io->sockets.reset();
  }
  hosts_.reset();
  for (auto& io : io_)
    io->ports.clear();
  wire_.reset();
  group_.reset();
}

// After a message is pushed to `shard`: wake it if it sleeps. The fence
// pairs with the sleeper's store of `sleeping` before it looks at its rings
// (a store then a load on each side: both must be ordered).
void Engine::wake(void* arg, uint32_t shard) {
  auto* e = static_cast<Engine*>(arg);
  ShardIo& io = *e->io_[shard];
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (io.sleeping.load(std::memory_order_relaxed)) {
    uint64_t one = 1;
    (void)!::write(io.wake_fd, &one, sizeof(one));
  }
}

void Engine::shard_loop(uint32_t i) {
  Shard& shard = group_->shard(i);
  ShardIo& io = *io_[i];
  shard.pool().set_owner_thread();  // frees on this thread take the fast path
  const std::vector<int> cpus = allowed_cpus();
  if (group_->size() > 1) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpus[i % cpus.size()], &set);
    (void)::pthread_setaffinity_np(::pthread_self(), sizeof(set), &set);
  }
  std::vector<pollfd> fds;
  for (Port* p : io.ifaces)
    if (p->wait_fd() >= 0) fds.push_back(pollfd{p->wait_fd(), POLLIN, 0});
  fds.push_back(pollfd{io.wake_fd, POLLIN, 0});
  // The performance monitor: the time from one poll to the next is busy if
  // the first found work, else idle (sleep included).
  Instant last = steady_now();
  Instant idle_since = last;
  bool busy = false;
  SocketModule& sockets = *io.sockets;
  while (!stop_.load(std::memory_order_acquire)) {
    Instant now = steady_now();
    shard.account(busy, now - last);
    last = now;
    size_t work = 0;
    for (HostOp op; io.host_ops.pop(op); ++work) {
      if (op.kind == HostOp::Kind::kAttach) {
        sockets.attach(op.host, op.base, *op.layout, op.wake_fd);
      } else {
        sockets.detach(op.host);
        hosts_->released(op.host);
      }
    }
    work += shard.poll(now);
    work += sockets.poll();
    shard.stack().flush();
    busy = work > 0;
    if (busy) idle_since = now;
    if (busy || now - idle_since < idle_spin_) continue;  // poll again at once
    // Idle: sleep until a port has input, a ring or a host has a message,
    // the next timer is due, or stop().
    io.sleeping.store(true, std::memory_order_seq_cst);
    sockets.set_sleeping(true);
    std::atomic_thread_fence(std::memory_order_seq_cst);  // pairs with wake()'s and hosts'
    if (!shard.inbox_empty() || !io.host_ops.empty() || sockets.has_input() ||
        stop_.load(std::memory_order_acquire)) {
      io.sleeping.store(false, std::memory_order_relaxed);
      sockets.set_sleeping(false);
      continue;
    }
    Instant next = shard.stack().next_event();
    timespec ts{};
    timespec* timeout = nullptr;
    if (next != Instant::never()) {
      Duration wait = next - now;
      if (wait.ns() <= 0) {
        io.sleeping.store(false, std::memory_order_relaxed);
        sockets.set_sleeping(false);
        continue;
      }
      ts = timespec{static_cast<time_t>(wait.ns() / 1'000'000'000),
                    static_cast<long>(wait.ns() % 1'000'000'000)};
      timeout = &ts;
    }
    ::ppoll(fds.data(), fds.size(), timeout, nullptr);
    io.sleeping.store(false, std::memory_order_relaxed);
    sockets.set_sleeping(false);
    uint64_t drained;
    (void)!::read(io.wake_fd, &drained, sizeof(drained));
  }
  shard.stack().flush();
}

void Engine::run() {
  std::vector<std::thread> threads;
  for (uint32_t i = 1; i < group_->size(); ++i)
    threads.emplace_back([this, i] { shard_loop(i); });
  shard_loop(0);
  for (auto& t : threads)
    t.join();
}

void Engine::stop() {
  stop_.store(true, std::memory_order_release);
  uint64_t one = 1;
  for (auto& io : io_)
    (void)!::write(io->wake_fd, &one, sizeof(one));
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
  const uint32_t n = group_->size();
  std::string out = fmt::format("engine {}: {} shard{}\n", name_, n, n == 1 ? "" : "s");
  out += hosts_->stats_text();
  if (n > 1) {
    out += fmt::format("steer: {}\n", group_->dispatcher().describe());
    const uint32_t t = group_->balance_threshold();
    out += t == 0 ? std::string("balance: off\n")
                  : fmt::format(
                        "balance: UDP for ports served on every shard, from a queue of {}\n", t);
  }
  for (uint32_t i = 0; i < n; ++i) {
    const Shard& shard = group_->shard(i);
    const ShardIo& io = *io_[i];
    out += fmt::format("shard {}\n", i);
    out += counters_text(shard.stack().counters(), 2);
    out += fmt::format("  {:<28} {}\n", "pool_exhausted", shard.pool().exhausted.get());
    out += fmt::format("  {:<28} {}\n", "pool_remote_frees", shard.pool().remote_frees.get());
    if (n > 1) {
      out += fmt::format("  {:<28} {}\n", "queue_depth", group_->queue_depth(i));
      shard.counters().for_each(
          [&](const char* name, uint64_t v) { out += fmt::format("  {:<28} {}\n", name, v); });
      for (uint32_t from = 0; from < n; ++from)
        if (from != i)
          out += fmt::format("  {:<28} {}\n", fmt::format("ring_from_{}", from),
                             group_->ring(from, i).size());
    }
    io.sockets->counters().for_each([&](const char* name, uint64_t v) {
      if (v != 0) out += fmt::format("  {:<28} {}\n", name, v);
    });
    for (size_t k = 0; k < io.ifaces.size(); ++k) {
      out += fmt::format("  iface {}\n", k);
      for_each_port_counter(io.ifaces[k]->counters(), [&](const char* name, uint64_t v) {
        out += fmt::format("    {:<26} {}\n", name, v);
      });
      for (const DeviceCounter& d : io.ifaces[k]->device_counters())
        out += fmt::format("    {:<26} {}\n", d.name, d.counter->get());
    }
    for (FaultPort* f : io.faults) {
      out += "  faults injected\n";
      for_each_fault_counter(*f, [&](const char* name, uint64_t v) {
        out += fmt::format("    {:<26} {}\n", name, v);
      });
    }
  }
  return out;
}

std::string Engine::stats_json() const {
  const uint32_t n = group_->size();
  std::string out = fmt::format("{{\"engine\":\"{}\",\"shards\":[", name_);
  bool first = true;
  auto field = [&](const char* name, uint64_t v) {
    out += fmt::format("{}\"{}\":{}", first ? "" : ",", name, v);
    first = false;
  };
  for (uint32_t i = 0; i < n; ++i) {
    const Shard& shard = group_->shard(i);
    const ShardIo& io = *io_[i];
    out += fmt::format("{}{{\"shard\":{},\"counters\":{{", i ? "," : "", i);
    first = true;
    shard.stack().counters().for_each(field);
    field("pool_exhausted", shard.pool().exhausted.get());
    field("pool_remote_frees", shard.pool().remote_frees.get());
    field("queue_depth", group_->queue_depth(i));
    shard.counters().for_each(field);
    io.sockets->counters().for_each(field);
    out += "},\"rings_in\":[";
    for (uint32_t from = 0; from < n; ++from)
      out += fmt::format("{}{}", from ? "," : "", from == i ? 0 : group_->ring(from, i).size());
    out += "],\"ifaces\":[";
    for (size_t k = 0; k < io.ifaces.size(); ++k) {
      out += k ? ",{" : "{";
      first = true;
      for_each_port_counter(io.ifaces[k]->counters(), field);
      for (const DeviceCounter& d : io.ifaces[k]->device_counters())
        field(d.name, d.counter->get());
      out += "}";
    }
    out += "],\"faults\":[";
    for (size_t k = 0; k < io.faults.size(); ++k) {
      out += k ? ",{" : "{";
      first = true;
      for_each_fault_counter(*io.faults[k], field);
      out += "}";
    }
    out += "]}";
  }
  out += fmt::format("],\"steer\":\"{}\",\"balance_threshold\":{},\"hosts\":{}}}\n",
                     group_->dispatcher().describe(), group_->balance_threshold(),
                     hosts_->stats_json());
  return out;
}

}  // namespace sn
