// The socket module on a simulated stack, with a host played by the test
// through the region's rings (the library is tested on its own in src/lib):
// replicated-listen answers, accepted connections, data both ways, the
// back-pressure of outbound frames, detach, and hostile hosts, each of which
// is detached without disturbing another host.
#include "engine/socket_module.h"

#include <gtest/gtest.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cstring>
#include <map>

#include "engine/socket_module_testing.h"
#include "stack/stack_testing.h"

namespace sn {
namespace {

using namespace sn::testing;
using host::Command;
using host::Event;
using host::FrameHeader;
using testing::ModuleActor;
using testing::TestHost;

constexpr L4Port kPort{7};

class SocketModuleTest : public ::testing::Test {
 protected:
  Simulation sim_;
  Simulation::Node& peer_ = sim_.add_node(sim_node(1));
  Simulation::Node& engine_ = sim_.add_node(sim_node(2));
  ModuleActor actor_{*engine_.stack};
  void SetUp() override { sim_.add_actor(actor_); }
  uint32_t listen(TestHost& h, L4Port port = kPort, uint32_t user = 77) {
    EXPECT_TRUE(h.send(Command::kListen, 0, {}, 0, port.v, user, 16));
    EXPECT_TRUE(sim_.run_until([&] { return h.find(Event::kListening).has_value(); }));
    auto e = h.find(Event::kListening);
    EXPECT_EQ(e->user, user);
    EXPECT_EQ(e->status, 0);
    return e->handle;
  }
};

TEST_F(SocketModuleTest, ListenAcceptEchoAndClose) {
  TestHost h(1);
  actor_.attach(h);
  listen(h);
  auto c = peer_.stack->tcp().connect(kServerIp, kPort);
  ASSERT_TRUE(c.ok());
  const auto out = pattern(100'000, 3);
  std::vector<std::byte> back;
  size_t sent = 0;
  auto pump = [&] {
    while (sent < out.size()) {
      const uint32_t w = (*c)->write(std::span(out).subspan(sent));
      if (w == 0) break;
      sent += w;
    }
    std::array<std::byte, 4096> buf;
    while (uint32_t r = (*c)->read(buf))
      back.insert(back.end(), buf.begin(), buf.begin() + r);
  };
  ASSERT_TRUE(sim_.run_until([&] { return h.find(Event::kAccepted).has_value(); }));
  const FrameHeader acc = *h.find(Event::kAccepted);
  EXPECT_EQ(acc.user, 77u);
  EXPECT_EQ(acc.addr, kClientIp.v);
  EXPECT_EQ(acc.port, (*c)->local_port().v);
  // Echo what arrives, a frame's worth at a time, as the host's frames allow.
  size_t echoed = 0;
  ASSERT_TRUE(sim_.run_until(
      [&] {
        pump();
        auto& d = h.data[acc.handle];
        while (echoed < d.size()) {
          const size_t n = std::min<size_t>(d.size() - echoed, h.layout.payload_max());
          if (!h.send(Command::kSend, acc.handle, std::span(d).subspan(echoed, n))) break;
          echoed += n;
        }
        return back.size() == out.size();
      },
      Duration::seconds(30)));
  EXPECT_TRUE(back == out);
  (*c)->close();
  ASSERT_TRUE(sim_.run_until([&] { return h.find(Event::kEof).has_value(); }));
  ASSERT_TRUE(h.send(Command::kClose, acc.handle));
  ASSERT_TRUE(sim_.run_until([&] { return actor_.module.sockets() == 1; }));  // the listener
  EXPECT_TRUE(actor_.violations.empty());
  EXPECT_EQ(actor_.module.counters().host_violations.get(), 0u);
}

TEST_F(SocketModuleTest, OptionsReachTheConnection) {
  TestHost h(1);
  actor_.attach(h);
  listen(h);
  auto c = peer_.stack->tcp().connect(kServerIp, kPort);
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE(sim_.run_until([&] { return h.find(Event::kAccepted).has_value(); }));
  const uint32_t conn = h.find(Event::kAccepted)->handle;
  ASSERT_TRUE(h.send(Command::kSetOption, conn, {}, 1, 0, 0,
                     static_cast<uint32_t>(host::Option::kNoDelay)));
  ASSERT_TRUE(h.send(Command::kSetOption, conn, {}, 1, 0, 0,
                     static_cast<uint32_t>(host::Option::kKeepAlive)));
  sim_.run_for(Duration::millis(1));
  EXPECT_TRUE(actor_.violations.empty());
  EXPECT_EQ(actor_.module.counters().host_commands.get(), 3u);
  // An option the protocol does not have is a violation.
  ASSERT_TRUE(h.send(Command::kSetOption, conn, {}, 1, 0, 0, 77));
  sim_.run_for(Duration::millis(1));
  ASSERT_EQ(actor_.violations.size(), 1u);
  EXPECT_EQ(actor_.violations[0].second, "an unknown option");
}

// A host's sockets on a shard are bounded: past the limit a listen gets
// EMFILE and a connection for it is reset.
TEST_F(SocketModuleTest, SocketsPerHostAreBounded) {
  actor_.module.set_max_sockets_per_host(2);
  TestHost h(1);
  actor_.attach(h);
  listen(h);  // one
  auto c1 = peer_.stack->tcp().connect(kServerIp, kPort);
  ASSERT_TRUE(sim_.run_until([&] { return h.find(Event::kAccepted).has_value(); }));  // two
  auto c2 = peer_.stack->tcp().connect(kServerIp, kPort);
  ASSERT_TRUE(sim_.run_until([&] { return (*c2)->state() == TcpState::kClosed; }));
  EXPECT_EQ((*c2)->error(), TcpError::kReset);
  EXPECT_EQ((*c1)->state(), TcpState::kEstablished);
  h.events.clear();
  ASSERT_TRUE(h.send(Command::kListen, 0, {}, 0, 8, 5, 16));
  ASSERT_TRUE(sim_.run_until([&] { return h.find(Event::kListening).has_value(); }));
  EXPECT_EQ(h.find(Event::kListening)->status, -EMFILE);
  EXPECT_EQ(actor_.module.counters().host_socket_limit.get(), 2u);
  EXPECT_TRUE(actor_.violations.empty());
}

TEST_F(SocketModuleTest, ASecondListenOnAPortGetsAddressInUse) {
  TestHost h(1);
  actor_.attach(h);
  listen(h);
  h.events.clear();
  ASSERT_TRUE(h.send(Command::kListen, 0, {}, 0, kPort.v, 78, 16));
  ASSERT_TRUE(sim_.run_until([&] { return h.find(Event::kListening).has_value(); }));
  EXPECT_EQ(h.find(Event::kListening)->status, -EADDRINUSE);
  EXPECT_EQ(h.find(Event::kListening)->user, 78u);
}

// A host that holds every outbound frame gets no more data: it waits in the
// connection (whose window closes), and all of it comes once frames return.
TEST_F(SocketModuleTest, OutboundFramesAreTheReceiveBackPressure) {
  TestHost h(1, 16, 4);
  actor_.attach(h);
  listen(h);
  auto c = peer_.stack->tcp().connect(kServerIp, kPort);
  ASSERT_TRUE(c.ok());
  const auto out = pattern(60'000, 4);
  size_t sent = 0;
  ASSERT_TRUE(sim_.run_until([&] { return h.find(Event::kAccepted).has_value(); }));
  const uint32_t conn = h.find(Event::kAccepted)->handle;
  h.hold = true;
  h.give_back();  // (the accept frame)
  sim_.run_for(Duration::millis(200));
  while (sent < out.size()) {
    const uint32_t w = (*c)->write(std::span(out).subspan(sent));
    if (w == 0) break;
    sent += w;
    sim_.run_for(Duration::millis(5));
  }
  sim_.run_for(Duration::seconds(1));
  EXPECT_EQ(h.held.size(), 4u);
  EXPECT_EQ(h.data[conn].size(), 4 * size_t{h.layout.payload_max()});
  EXPECT_GT(actor_.module.counters().host_out_of_frames.get(), 0u);
  h.hold = false;
  h.give_back();
  ASSERT_TRUE(sim_.run_until(
      [&] {
        while (sent < out.size()) {
          const uint32_t w = (*c)->write(std::span(out).subspan(sent));
          if (w == 0) break;
          sent += w;
        }
        return h.data[conn].size() == out.size();
      },
      Duration::seconds(30)));
  EXPECT_TRUE(h.data[conn] == out);
}

// Detaching a host ends its connections (FIN: it left nothing unread) and
// frees its listener's port.
TEST_F(SocketModuleTest, DetachClosesTheHostsSockets) {
  TestHost h(1);
  actor_.attach(h);
  listen(h);
  auto c = peer_.stack->tcp().connect(kServerIp, kPort);
  ASSERT_TRUE(sim_.run_until([&] { return h.find(Event::kAccepted).has_value(); }));
  actor_.module.detach(1);
  actor_.hosts.clear();
  ASSERT_TRUE(sim_.run_until([&] { return (*c)->eof(); }));
  EXPECT_EQ(actor_.module.sockets(), 0u);
  EXPECT_EQ(actor_.module.hosts(), 0u);
  // The port is free again: a new host may listen on it.
  TestHost h2(2);
  actor_.attach(h2);
  listen(h2);
}

// Each hostile act detaches its host (counted, with a reason) and leaves the
// other host's echo running.
struct Hostile {
  const char* name;
  void (*act)(TestHost& h, uint32_t listener);
};

class SocketModuleHostileTest : public SocketModuleTest,
                                public ::testing::WithParamInterface<Hostile> {};

TEST_P(SocketModuleHostileTest, IsDetachedAndOthersCarryOn) {
  TestHost good(1), bad(2);
  actor_.attach(good);
  actor_.attach(bad);
  listen(good);
  const uint32_t bad_listener = listen(bad, L4Port(9), 5);
  GetParam().act(bad, bad_listener);
  sim_.run_for(Duration::millis(10));
  ASSERT_EQ(actor_.violations.size(), 1u) << GetParam().name;
  EXPECT_EQ(actor_.violations[0].first, 2u);
  EXPECT_EQ(actor_.module.counters().host_violations.get(), 1u);
  actor_.module.detach(2);  // what the engine does next
  std::erase(actor_.hosts, &bad);
  // The good host still echoes.
  auto c = peer_.stack->tcp().connect(kServerIp, kPort);
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE(sim_.run_until([&] { return good.find(Event::kAccepted).has_value(); }));
  const uint32_t conn = good.find(Event::kAccepted)->handle;
  const auto msg = pattern(1000, 9);
  ASSERT_TRUE(good.send(Command::kSend, conn, msg));
  std::vector<std::byte> back(1000);
  size_t got = 0;
  ASSERT_TRUE(sim_.run_until([&] {
    got += (*c)->read(std::span(back).subspan(got));
    return got == msg.size();
  }));
  EXPECT_TRUE(back == msg);
}

void post_raw(TestHost& h, uint32_t offset) {
  ASSERT_TRUE(h.in_post.push(offset));
}

INSTANTIATE_TEST_SUITE_P(
    Acts, SocketModuleHostileTest,
    ::testing::Values(
        Hostile{"offset outside its frames", [](TestHost& h, uint32_t) { post_raw(h, 12); }},
        Hostile{"offset inside a frame",
                [](TestHost& h, uint32_t) { post_raw(h, h.layout.in_frames(0).offset(1) + 8); }},
        Hostile{"an outbound frame as a command",
                [](TestHost& h, uint32_t) { post_raw(h, h.layout.out_frames(0).offset(0)); }},
        Hostile{"a frame posted twice",
                [](TestHost& h, uint32_t l) {
                  uint32_t off;
                  ASSERT_TRUE(h.in_free.pop(off));
                  FrameHeader f{};
                  f.kind = static_cast<uint16_t>(Command::kShutdown);
                  f.handle = l;
                  std::memcpy(h.region.at(off), &f, sizeof(f));
                  post_raw(h, off);
                  post_raw(h, off);
                }},
        Hostile{"a length past the frame",
                [](TestHost& h, uint32_t l) {
                  uint32_t off;
                  ASSERT_TRUE(h.in_free.pop(off));
                  FrameHeader f{};
                  f.kind = static_cast<uint16_t>(Command::kSend);
                  f.handle = l;
                  f.length = h.layout.config.frame_size;
                  std::memcpy(h.region.at(off), &f, sizeof(f));
                  post_raw(h, off);
                }},
        Hostile{"an unknown command",
                [](TestHost& h, uint32_t) { ASSERT_TRUE(h.send(static_cast<Command>(999), 0)); }},
        Hostile{"a handle it never had",
                [](TestHost& h, uint32_t l) { ASSERT_TRUE(h.send(Command::kClose, l + 1)); }},
        Hostile{"another host's handle",
                [](TestHost& h, uint32_t) {
                  // The good host's listener is the module's first socket.
                  ASSERT_TRUE(h.send(Command::kClose, (1u << 20) | 1));
                }},
        Hostile{"send on a listener",
                [](TestHost& h, uint32_t l) { ASSERT_TRUE(h.send(Command::kSend, l)); }},
        Hostile{"a frame returned that it never got",
                [](TestHost& h, uint32_t) {
                  ASSERT_TRUE(h.out_free.push(h.layout.out_frames(0).offset(3)));
                }},
        Hostile{"a ring index out of bounds",
                [](TestHost& h, uint32_t) {
                  auto* hdr =
                      reinterpret_cast<ShmRingHeader*>(h.region.at(h.layout.queues[0].in_post));
                  hdr->tail.store(hdr->tail.load() + 100'000);
                }}),
    [](const auto& info) {
      std::string n = info.param.name;
      for (char& ch : n)
        if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
      return n;
    });

}  // namespace
}  // namespace sn
