// Tests of the in-memory wire: switching, virtual-time latency, FIFO order and
// the counted outcomes when the wire or the receiving pool is full.
#include "port/mem_wire.h"

#include <gtest/gtest.h>

#include <vector>

#include "port/port_testing.h"

namespace sn {
namespace {

using testing::bytes_of;
using testing::mac;
using testing::make_frame;
using testing::seq_of;

constexpr Instant kT0 = Instant::from_ns(1'000'000);

class MemWireTest : public ::testing::Test {
 protected:
  size_t send(MemPort& from, MacAddress dst, uint32_t seq, Instant now) {
    PacketPtr f[1] = {make_frame(pool_, dst, from.mac(), seq)};
    return from.tx_burst(f, now);
  }
  std::vector<PacketPtr> receive(MemPort& port, Instant now, size_t max = 64) {
    std::vector<PacketPtr> out(max);
    out.resize(port.rx_burst(pool_, out, now));
    return out;
  }

  PacketPool pool_{PoolConfig{.count = 256}};
};

TEST_F(MemWireTest, UnicastReachesOnlyTheDestination) {
  MemWire wire;
  MemPort& a = wire.attach(mac(1));
  MemPort& b = wire.attach(mac(2));
  MemPort& c = wire.attach(mac(3));
  PacketPtr f[1] = {make_frame(pool_, mac(2), mac(1), 7)};
  const std::vector<std::byte> sent = bytes_of(*f[0]);
  EXPECT_EQ(a.tx_burst(f, kT0), 1u);
  EXPECT_EQ(f[0], nullptr);

  const Instant due = kT0 + wire.config().latency;
  auto got = receive(b, due);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(bytes_of(*got[0]), sent);
  EXPECT_TRUE(receive(a, due).empty());
  EXPECT_TRUE(receive(c, due).empty());
  EXPECT_EQ(a.counters().tx_frames.get(), 1u);
  EXPECT_EQ(a.counters().tx_bytes.get(), sent.size());
  EXPECT_EQ(b.counters().rx_frames.get(), 1u);
  EXPECT_EQ(b.counters().rx_bytes.get(), sent.size());
  EXPECT_TRUE(wire.idle());
}

TEST_F(MemWireTest, BroadcastAndMulticastReachEveryOtherPort) {
  MemWire wire;
  MemPort& a = wire.attach(mac(1));
  MemPort& b = wire.attach(mac(2));
  MemPort& c = wire.attach(mac(3));
  send(a, MacAddress::broadcast(), 1, kT0);
  send(a, MacAddress{{0x01, 0x00, 0x5e, 0, 0, 1}}, 2, kT0);
  EXPECT_EQ(wire.in_flight(), 2u);  // one slot per frame, shared by its receivers

  const Instant due = kT0 + wire.config().latency;
  for (MemPort* p : {&b, &c}) {
    auto got = receive(*p, due);
    ASSERT_EQ(got.size(), 2u);
    EXPECT_EQ(seq_of(*got[0]), 1u);
    EXPECT_EQ(seq_of(*got[1]), 2u);
  }
  EXPECT_TRUE(receive(a, due).empty());
  EXPECT_TRUE(wire.idle());
}

TEST_F(MemWireTest, UnclaimedUnicastIsCounted) {
  MemWire wire;
  MemPort& a = wire.attach(mac(1));
  wire.attach(mac(2));
  send(a, mac(9), 1, kT0);
  EXPECT_EQ(wire.dropped_no_listener.get(), 1u);
  EXPECT_TRUE(wire.idle());
}

TEST_F(MemWireTest, LatencyIsHonouredOnVirtualTime) {
  MemWire wire(MemWireConfig{.latency = Duration::micros(50)});
  MemPort& a = wire.attach(mac(1));
  MemPort& b = wire.attach(mac(2));
  EXPECT_EQ(wire.next_event(), Instant::never());
  send(a, mac(2), 1, kT0);
  const Instant due = kT0 + Duration::micros(50);
  EXPECT_EQ(wire.next_event(), due);
  EXPECT_EQ(b.next_event(), due);
  EXPECT_EQ(a.next_event(), Instant::never());
  EXPECT_TRUE(receive(b, due - Duration::nanos(1)).empty());
  EXPECT_FALSE(wire.idle());
  EXPECT_EQ(receive(b, due).size(), 1u);
  EXPECT_EQ(wire.next_event(), Instant::never());
}

TEST_F(MemWireTest, DeliveryIsFifoBySendTime) {
  MemWire wire;
  MemPort& a = wire.attach(mac(1));
  MemPort& b = wire.attach(mac(2));
  for (uint32_t i = 0; i < 100; ++i)
    send(a, mac(2), i, kT0 + Duration::nanos(i * 100));
  // Halfway through, only the frames due so far arrive, in order.
  const Instant mid = kT0 + wire.config().latency + Duration::nanos(49 * 100);
  auto first = receive(b, mid, 100);
  ASSERT_EQ(first.size(), 50u);
  auto rest = receive(b, Instant::never(), 100);
  ASSERT_EQ(rest.size(), 50u);
  for (uint32_t i = 0; i < 50; ++i) {
    EXPECT_EQ(seq_of(*first[i]), i);
    EXPECT_EQ(seq_of(*rest[i]), 50 + i);
  }
}

TEST_F(MemWireTest, BurstSizeLimitsEachReceive) {
  MemWire wire;
  MemPort& a = wire.attach(mac(1));
  MemPort& b = wire.attach(mac(2));
  for (uint32_t i = 0; i < 10; ++i)
    send(a, mac(2), i, kT0);
  EXPECT_EQ(receive(b, Instant::never(), 4).size(), 4u);
  EXPECT_EQ(b.queued(), 6u);
}

TEST_F(MemWireTest, FullWireDropsAndCounts) {
  MemWire wire(MemWireConfig{.capacity = 4});
  MemPort& a = wire.attach(mac(1));
  MemPort& b = wire.attach(mac(2));
  for (uint32_t i = 0; i < 6; ++i)
    send(a, mac(2), i, kT0);
  EXPECT_EQ(wire.dropped_full.get(), 2u);
  EXPECT_EQ(wire.in_flight(), 4u);
  auto got = receive(b, Instant::never());
  ASSERT_EQ(got.size(), 4u);
  EXPECT_EQ(seq_of(*got[3]), 3u);
  // The slots are free again.
  send(a, mac(2), 6, kT0);
  EXPECT_EQ(wire.dropped_full.get(), 2u);
}

TEST_F(MemWireTest, EmptyPoolIsCountedAndTheFrameKept) {
  MemWire wire;
  MemPort& a = wire.attach(mac(1));
  MemPort& b = wire.attach(mac(2));
  send(a, mac(2), 42, kT0);

  PacketPool tiny(PoolConfig{.count = 1});
  PacketPtr hog = tiny.alloc();
  PacketPtr out[4];
  EXPECT_EQ(b.rx_burst(tiny, out, Instant::never()), 0u);
  EXPECT_EQ(b.counters().rx_no_buffer.get(), 1u);
  EXPECT_EQ(b.queued(), 1u);

  hog.reset();
  ASSERT_EQ(b.rx_burst(tiny, out, Instant::never()), 1u);
  EXPECT_EQ(seq_of(*out[0]), 42u);
  EXPECT_TRUE(wire.idle());
}

TEST_F(MemWireTest, OversizeAndRuntFramesAreCounted) {
  MemWire wire;
  MemPort& a = wire.attach(mac(1), 576);
  wire.attach(mac(2));
  // make_frame adds 18 bytes (header and sequence number) to `extra`.
  PacketPtr f[2] = {make_frame(pool_, mac(2), mac(1), 1, 577), pool_.alloc()};
  f[1]->append(10);
  EXPECT_EQ(a.tx_burst(f, kT0), 0u);
  EXPECT_EQ(a.counters().tx_oversize.get(), 1u);
  EXPECT_EQ(a.counters().tx_errors.get(), 1u);
  EXPECT_TRUE(wire.idle());
  // Exactly MTU + 18 bytes passes.
  PacketPtr ok[1] = {make_frame(pool_, mac(2), mac(1), 2, 576)};
  EXPECT_EQ(ok[0]->size(), 576u + 18);
  EXPECT_EQ(a.tx_burst(ok, kT0), 1u);
}

TEST_F(MemWireTest, ChainsAreSentWhole) {
  MemWire wire;
  MemPort& a = wire.attach(mac(1));
  MemPort& b = wire.attach(mac(2));
  PacketPtr head = make_frame(pool_, mac(2), mac(1), 5, 0);
  PacketPtr tail = pool_.alloc();
  for (std::byte& x : std::span(tail->append(100), 100))
    x = std::byte{0xab};
  head->append_chain(std::move(tail));
  PacketPtr f[1] = {std::move(head)};
  a.tx_burst(f, kT0);
  auto got = receive(b, Instant::never());
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0]->size(), 118u);
  EXPECT_EQ(got[0]->data()[117], std::byte{0xab});
}

}  // namespace
}  // namespace sn
