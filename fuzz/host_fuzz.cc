// A hostile host: the input is a program of what host A does to its region
// and queues (arbitrary bytes at arbitrary offsets, raw ring entries and
// indices, well-formed commands with fuzzed fields, returned frames) while a
// peer connects and sends, all on the simulated wire. The socket module must
// not crash, hang or touch memory outside A's region (ASan, and the guard
// pages around every region), and host B, attached all along, must still
// echo a connection byte-exact at the end.
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "engine/socket_module_testing.h"
#include "stack/stack_testing.h"

namespace sn {
namespace {

using namespace sn::testing;

constexpr L4Port kGoodPort{9999};

struct Input {
  const uint8_t* p;
  size_t n;
  bool empty() const { return n == 0; }
  uint8_t u8() {
    if (n == 0) return 0;
    --n;
    return *p++;
  }
  uint16_t u16() { return static_cast<uint16_t>(u8() | (u8() << 8)); }
  uint32_t u32() { return u16() | (uint32_t{u16()} << 16); }
};

void run(Input in) {
  Simulation sim;
  Simulation::Node& peer = sim.add_node(sim_node(1));
  Simulation::Node& engine = sim.add_node(sim_node(2));
  ModuleActor actor(*engine.stack);
  sim.add_actor(actor);
  TestHost good(2), bad(1, 8, 8);
  actor.attach(good);
  actor.attach(bad);
  // B listens first: A cannot take its port.
  SN_CHECK(good.send(Command::kListen, 0, {}, 0, kGoodPort.v, 1, 16));
  sim.run_for(Duration::millis(1));
  SN_CHECK(good.find(Event::kListening) && good.find(Event::kListening)->status == 0);

  std::vector<uint32_t> handles{0};
  std::vector<TcpSocket*> peers;
  for (int step = 0; step < 64 && !in.empty(); ++step) {
    for (const auto& e : bad.events)
      handles.push_back(e.handle);
    bad.events.clear();
    switch (in.u8() % 8) {
      case 0: {  // bytes anywhere in the region
        const uint32_t at = in.u32() % bad.layout.size;
        const uint32_t len = std::min<uint32_t>(in.u8() % 16, bad.layout.size - at);
        for (uint32_t i = 0; i < len; ++i)
          bad.region.at(at)[i] = std::byte{in.u8()};
        break;
      }
      case 1:  // a raw entry on a ring
        (void)(in.u8() & 1 ? bad.in_post.push(in.u32()) : bad.out_free.push(in.u32()));
        break;
      case 2:
      case 3: {  // a command with fuzzed fields on a free frame
        const uint16_t kind = in.u8() & 1 ? 1 + in.u8() % 7 : in.u16();
        const uint32_t handle = in.u8() & 1 ? handles[in.u8() % handles.size()] : in.u32();
        std::vector<std::byte> payload(in.u8() % 64, std::byte{in.u8()});
        const uint16_t port = in.u8() & 1 ? 7 : in.u16();
        (void)bad.send(static_cast<Command>(kind), handle, payload, kServerIp.v ^ (in.u8() & 1),
                       port, in.u32(), in.u16());
        break;
      }
      case 4:  // return what it holds, or not
        bad.hold = in.u8() & 1;
        if (!bad.hold) bad.give_back();
        break;
      case 5: {  // the peer opens a connection to A's ports and writes
        auto c = peer.stack->tcp().connect(kServerIp, L4Port(in.u8() & 1 ? 7 : in.u16()));
        if (c) {
          peers.push_back(*c);
          (void)(*c)->write(pattern(in.u8() * 16, in.u8()));
        }
        break;
      }
      case 6:
        if (!peers.empty()) {
          TcpSocket* c = peers[in.u8() % peers.size()];
          if (c->state() != TcpState::kClosed) (void)c->write(pattern(in.u16() % 4096, 1));
        }
        break;
      default:
        sim.run_for(Duration::millis(in.u8()));
        break;
    }
    sim.run_for(Duration::micros(100));
  }
  sim.run_for(Duration::millis(50));
  // What the engine does when a host broke the protocol.
  bool detached = false;
  for (const auto& [host, why] : actor.violations) {
    SN_CHECK(host == 1);
    if (!detached) actor.module.detach(1);
    detached = true;
  }
  if (detached) std::erase(actor.hosts, &bad);

  // B still echoes.
  auto c = peer.stack->tcp().connect(kServerIp, kGoodPort);
  SN_CHECK(c.ok());
  const auto msg = pattern(3000, 5);
  SN_CHECK((*c)->write(msg) == msg.size());
  SN_CHECK(sim.run_until([&] { return good.find(Event::kAccepted).has_value(); }));
  const uint32_t conn = good.find(Event::kAccepted)->handle;
  size_t echoed = 0;
  std::vector<std::byte> back(msg.size());
  size_t got = 0;
  SN_CHECK(sim.run_until(
      [&] {
        auto& d = good.data[conn];
        while (echoed < d.size()) {
          const size_t n = std::min<size_t>(d.size() - echoed, good.layout.payload_max());
          if (!good.send(Command::kSend, conn, std::span(d).subspan(echoed, n))) break;
          echoed += n;
        }
        got += (*c)->read(std::span(back).subspan(got));
        return got == msg.size();
      },
      Duration::seconds(20)));
  SN_CHECK(back == msg);
}

}  // namespace
}  // namespace sn

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  sn::run(sn::Input{data, size});
  return 0;
}
