// The in-memory wire: ports joined by a learning-free switch on virtual time.
// A frame sent by one port is delivered, `latency` later, to every other port
// whose MAC is its destination, or to every other port for broadcast and
// multicast. Frames in flight live in slots preallocated at construction, so
// sending and receiving never call the general allocator. Single-threaded: a
// wire and its ports belong to one thread (a simulation, a test, the demo).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "base/counter.h"
#include "base/time.h"
#include "buf/pool.h"
#include "port/port.h"
#include "wire/address.h"

namespace sn {

struct MemWireConfig {
  Duration latency = Duration::micros(10);
  uint32_t capacity = 4096;   // frames in flight, total over every port
  uint32_t max_frame = 2048;  // bytes per frame slot
};

class MemWire;

class MemPort final : public Port {
 public:
  size_t rx_burst(PacketPool& pool, std::span<PacketPtr> out, Instant now) override;
  size_t tx_burst(std::span<PacketPtr> frames, Instant now) override;
  MacAddress mac() const override { return mac_; }
  uint32_t mtu() const override { return mtu_; }
  // When the first frame queued for this port comes due, or never.
  Instant next_event() const override;
  const PortCounters& counters() const override { return counters_; }

  // Frames queued for this port, due or not.
  uint32_t queued() const { return count_; }

 private:
  friend class MemWire;
  MemPort(MemWire& wire, MacAddress mac, uint32_t mtu, uint32_t ring_size);

  void enqueue(uint32_t slot);
  uint32_t front() const { return ring_[head_]; }
  void pop();

  MemWire& wire_;
  MacAddress mac_;
  uint32_t mtu_;
  PortCounters counters_;
  // FIFO of slot indices, in send order. A port receives a given slot at most
  // once, so a ring as large as the wire's capacity never overflows.
  std::unique_ptr<uint32_t[]> ring_;
  uint32_t ring_size_;
  uint32_t head_ = 0;
  uint32_t count_ = 0;
};

class MemWire {
 public:
  explicit MemWire(const MemWireConfig& config = {});
  MemWire(const MemWire&) = delete;
  MemWire& operator=(const MemWire&) = delete;
  ~MemWire();

  // Plugs a new port into the wire. The reference stays valid for the wire's
  // lifetime. REQUIRES: mtu + 18 <= config.max_frame.
  MemPort& attach(MacAddress mac, uint32_t mtu = 1500);

  // The earliest pending delivery to any port, or Instant::never().
  Instant next_event() const;
  // No frame is in flight.
  bool idle() const { return free_.size() == slots_.size(); }
  uint32_t in_flight() const { return static_cast<uint32_t>(slots_.size() - free_.size()); }
  const MemWireConfig& config() const { return config_; }

  Counter dropped_full;         // a frame found every slot in use
  Counter dropped_no_listener;  // a unicast frame whose destination no port has

 private:
  friend class MemPort;
  struct Slot {
    Instant due;
    uint32_t len = 0;
    uint32_t refs = 0;  // receivers that have not taken it yet
  };

  // Puts a copy of `frame` on the wire from `from`.
  void send(const MemPort& from, const Packet& frame, Instant now);
  void unref(uint32_t slot);
  std::byte* slot_data(uint32_t slot) { return data_.get() + size_t(slot) * config_.max_frame; }

  MemWireConfig config_;
  std::unique_ptr<std::byte[]> data_;
  std::vector<Slot> slots_;
  std::vector<uint32_t> free_;
  std::vector<std::unique_ptr<MemPort>> ports_;
};

}  // namespace sn
