// A host played by a test (or a fuzzer) through one shard's queues of a
// region, and the socket module as an actor of the simulation.
#pragma once

#include <sys/eventfd.h>
#include <unistd.h>

#include <cstring>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "base/check.h"
#include "engine/socket_module.h"
#include "stack/sim.h"

namespace sn::testing {

// The host's side of one shard's queues in a region.
using host::Command;
using host::Event;
using host::FrameHeader;

struct TestHost {
  TestHost(uint32_t id, uint32_t in_frames = 16, uint32_t out_frames = 16) : id(id) {
    host::RegionConfig c;
    c.in_frames = in_frames;
    c.out_frames = out_frames;
    layout = host::RegionLayout::compute(c);
    std::string why;
    auto r = host::Region::create(id, layout, &why);
    SN_CHECK(r.ok());
    region = std::move(*r);
    wake_fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    const host::ShardQueues& q = layout.queues[0];
    std::byte* b = region.base();
    in_free = ShmRingConsumer(b + q.in_free, layout.ring_capacity);
    in_post = ShmRingProducer(b + q.in_post, layout.ring_capacity);
    out_post = ShmRingConsumer(b + q.out_post, layout.ring_capacity);
    out_free = ShmRingProducer(b + q.out_free, layout.ring_capacity);
  }
  ~TestHost() { ::close(wake_fd); }

  // Fills a free inbound frame and posts it; false if none is free.
  bool send(Command c, uint32_t handle, std::span<const std::byte> payload = {}, uint32_t addr = 0,
            uint16_t port = 0, uint32_t user = 0, uint32_t arg = 0) {
    uint32_t off;
    if (!in_free.pop(off)) return false;
    FrameHeader h{};
    h.kind = static_cast<uint16_t>(c);
    h.length = static_cast<uint32_t>(payload.size());
    h.handle = handle;
    h.user = user;
    h.addr = addr;
    h.port = port;
    h.arg = arg;
    std::memcpy(region.at(off), &h, sizeof(h));
    if (!payload.empty()) std::memcpy(region.at(off) + sizeof(h), payload.data(), payload.size());
    return in_post.push(off);
  }
  // Takes every event posted; data frames are kept (returned by give_back()).
  void take() {
    uint32_t off;
    while (out_post.pop(off)) {
      // A fuzzer may have scribbled on the ring or frame: check as a library does.
      if (!layout.out_frames(0).index_of(off)) continue;
      FrameHeader h;
      std::memcpy(&h, region.at(off), sizeof(h));
      if (h.length > layout.payload_max()) h.length = 0;
      events.push_back(h);
      if (h.kind == static_cast<uint16_t>(Event::kData)) {
        auto& d = data[h.handle];
        d.insert(d.end(), region.at(off) + sizeof(h), region.at(off) + sizeof(h) + h.length);
      }
      held.push_back(off);
    }
    if (!hold) give_back();
  }
  void give_back() {
    for (uint32_t off : held)
      SN_CHECK(out_free.push(off));
    held.clear();
  }
  std::optional<FrameHeader> find(Event e) const {
    for (const auto& h : events)
      if (h.kind == static_cast<uint16_t>(e)) return h;
    return std::nullopt;
  }
  size_t count(Event e) const {
    size_t n = 0;
    for (const auto& h : events)
      n += h.kind == static_cast<uint16_t>(e);
    return n;
  }

  uint32_t id;
  host::RegionLayout layout;
  host::Region region;
  int wake_fd;
  ShmRingConsumer in_free, out_post;
  ShmRingProducer in_post, out_free;
  std::vector<FrameHeader> events;
  std::map<uint32_t, std::vector<std::byte>> data;  // by handle
  std::vector<uint32_t> held;
  bool hold = false;  // keep outbound frames (back-pressure)
};

// The module as one more actor of the simulation, on the engine node's stack.
struct ModuleActor final : SimActor {
  explicit ModuleActor(Stack& stack)
      : module(
            stack, 0,
            [](void* a, uint32_t host, const char* why) {
              static_cast<ModuleActor*>(a)->violations.push_back({host, why});
            },
            this),
        stack(stack) {}
  size_t poll(Instant) override {
    const size_t n = module.poll();
    stack.flush();
    for (TestHost* h : hosts)
      h->take();
    return n;
  }
  Instant next_event() const override { return Instant::never(); }
  void attach(TestHost& h) {
    module.attach(h.id, h.region.base(), h.layout, h.wake_fd);
    hosts.push_back(&h);
  }
  SocketModule module;
  Stack& stack;
  std::vector<TestHost*> hosts;
  std::vector<std::pair<uint32_t, std::string>> violations;
};

}  // namespace sn::testing
