// Test helpers for the port layer: frames with a sequence number in them, a
// scripted fake port, and byte snapshots of received packets.
#pragma once

#include <cstdint>
#include <deque>
#include <span>
#include <vector>

#include "buf/pool.h"
#include "port/port.h"
#include "wire/address.h"
#include "wire/bytes.h"

namespace sn::testing {

inline constexpr uint16_t kTestEtherType = 0x88b5;  // IEEE 802 local experimental

inline MacAddress mac(uint8_t last) {
  return MacAddress{{0x02, 0, 0, 0, 0, last}};
}

// An Ethernet frame dst <- src, ethertype kTestEtherType, payload: `seq` as
// four bytes and then `extra` bytes of pattern.
inline PacketPtr make_frame(PacketPool& pool, MacAddress dst, MacAddress src, uint32_t seq,
                            uint32_t extra = 46) {
  PacketPtr p = pool.alloc();
  if (!p) return p;
  std::byte* b = p->append(14 + 4 + extra);
  dst.store(b);
  src.store(b + 6);
  store16(b + 12, kTestEtherType);
  store32(b + 14, seq);
  for (uint32_t i = 0; i < extra; ++i)
    b[18 + i] = std::byte(uint8_t(seq * 7 + i));
  return p;
}

inline uint32_t seq_of(const Packet& p) {
  return load32(p.data() + 14);
}

inline std::vector<std::byte> bytes_of(const Packet& p) {
  return {p.data(), p.data() + p.size()};
}

// A port whose receive side replays queued frames and whose transmit side
// records what it was given.
class FakePort final : public Port {
 public:
  size_t rx_burst(PacketPool&, std::span<PacketPtr> out, Instant) override {
    size_t n = 0;
    while (n < out.size() && !rx.empty()) {
      out[n++] = std::move(rx.front());
      rx.pop_front();
    }
    return n;
  }
  size_t tx_burst(std::span<PacketPtr> frames, Instant now) override {
    for (PacketPtr& f : frames) {
      if (!f) continue;
      sent.push_back(std::move(f));
      sent_at.push_back(now);
    }
    return frames.size();
  }
  MacAddress mac() const override { return testing::mac(1); }
  uint32_t mtu() const override { return mtu_value; }
  bool tx_l4_csum_offload() const override { return csum_offload; }
  uint32_t tx_tso_max() const override { return tso_max; }
  const PortCounters& counters() const override { return counters_; }

  uint32_t mtu_value = 1500;
  bool csum_offload = false;
  uint32_t tso_max = 0;
  std::deque<PacketPtr> rx;
  std::vector<PacketPtr> sent;
  std::vector<Instant> sent_at;

 private:
  PortCounters counters_;
};

}  // namespace sn::testing
