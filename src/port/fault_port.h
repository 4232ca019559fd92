// A seeded fault injector that wraps any port: it loses, duplicates, corrupts,
// delays and reorders frames, independently in each direction (frames received
// from the inner port, and frames sent to it). Like netem, but on the virtual
// time the caller hands in, and repeatable: the same seed and the same sequence
// of calls give the same faults.
#pragma once

#include <cstdint>
#include <memory>
#include <span>

#include "base/counter.h"
#include "base/rng.h"
#include "base/time.h"
#include "buf/pool.h"
#include "port/hold_queue.h"
#include "port/port.h"

namespace sn {

struct FaultConfig {
  // Probabilities in [0, 1], drawn per frame.
  double loss = 0;
  double duplicate = 0;
  double reorder = 0;
  double corrupt = 0;
  Duration delay{};                              // added to every frame
  Duration reorder_delay = Duration::millis(2);  // how long a reordered frame is held back
  uint64_t seed = 1;
  uint32_t hold_capacity = 1024;  // frames held per direction; past it, frames are dropped

  // Some fault is switched on.
  bool any() const {
    return loss > 0 || duplicate > 0 || reorder > 0 || corrupt > 0 || delay > Duration{};
  }
};

class FaultPort final : public Port {
 public:
  struct FaultCounters {
    Counter dropped;     // lost on purpose
    Counter duplicated;  // copies made
    Counter reordered;   // held back by reorder_delay
    Counter corrupted;   // had one bit flipped
    Counter delayed;     // held back by delay
    Counter hold_full;   // dropped because the hold queue was full
  };

  // `dup_pool` supplies the copies made by duplication, in both directions.
  FaultPort(Port& inner, PacketPool& dup_pool, const FaultConfig& config);
  ~FaultPort() override;

  // Also releases transmit-side frames that have come due, so a shard that
  // polls rx_burst never strands a delayed outgoing frame.
  size_t rx_burst(PacketPool& pool, std::span<PacketPtr> out, Instant now) override;
  // Takes every frame: faults happen on the simulated wire, out of the
  // sender's sight. Returns frames.size().
  size_t tx_burst(std::span<PacketPtr> frames, Instant now) override;

  MacAddress mac() const override { return inner_.mac(); }
  uint32_t mtu() const override { return inner_.mtu(); }
  int wait_fd() const override { return inner_.wait_fd(); }
  // The earliest of the inner port's next event and every held frame.
  Instant next_event() const override;
  // The inner device's counters.
  const PortCounters& counters() const override { return inner_.counters(); }
  std::span<const DeviceCounter> device_counters() const override {
    return inner_.device_counters();
  }

  const FaultCounters& faults() const { return faults_; }
  const FaultConfig& config() const { return config_; }
  uint32_t held() const { return rx_.hold.size() + tx_.hold.size(); }

 private:
  static constexpr size_t kBurst = 64;

  // One direction's private state: its own generator and its own hold queue.
  struct Direction {
    Direction(uint64_t seed, uint32_t hold_capacity) : rng(seed), hold(hold_capacity) {}
    Rng rng;
    HoldQueue hold;
  };
  // Where frames due now go: a span filled from `n`.
  struct Sink {
    std::span<PacketPtr> buf;
    size_t n;
  };

  // Runs one frame through the faults: frames due now go to `sink` while it
  // has room, the rest are held.
  void inject(Direction& d, PacketPtr p, Instant now, Sink& sink);
  void place(Direction& d, PacketPtr& p, Instant due, Instant now, Sink& sink);
  void corrupt(Direction& d, Packet& p);
  PacketPtr copy(const Packet& p);
  void flush_tx(Sink& batch, Instant now);
  void release_tx_due(Instant now);

  Port& inner_;
  PacketPool& dup_pool_;
  FaultConfig config_;
  FaultCounters faults_;
  Direction rx_;
  Direction tx_;
  std::unique_ptr<PacketPtr[]> rx_scratch_;  // kBurst frames just read from the inner port
  std::unique_ptr<PacketPtr[]> tx_batch_;    // kBurst frames on their way to the inner port
};

}  // namespace sn
