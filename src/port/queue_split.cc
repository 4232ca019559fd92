// A port split into receive queues.
#include "port/queue_split.h"

#include <array>

#include "base/check.h"

namespace sn {

class QueueSplitter::Queue final : public Port {
 public:
  explicit Queue(QueueSplitter& s) : s_(s) {}

  size_t rx_burst(PacketPool& pool, std::span<PacketPtr> out, Instant now) override {
    s_.fill(pool, now);
    size_t n = 0;
    while (n < out.size() && !rx_.empty()) {
      out[n++] = std::move(rx_.front());
      rx_.pop_front();
    }
    for (size_t i = 0; i < n; ++i) {
      counters_.rx_frames.inc();
      counters_.rx_bytes.inc(out[i]->size());
    }
    return n;
  }
  size_t tx_burst(std::span<PacketPtr> frames, Instant now) override {
    for (const PacketPtr& f : frames) {
      counters_.tx_frames.inc();
      counters_.tx_bytes.inc(f->size());
    }
    return s_.under_.tx_burst(frames, now);
  }
  MacAddress mac() const override { return s_.under_.mac(); }
  uint32_t mtu() const override { return s_.under_.mtu(); }
  // Frames already spread to this queue are work now (the earliest time the
  // stack can be handed: never-past; Instant{} is the origin).
  Instant next_event() const override {
    return rx_.empty() ? s_.under_.next_event() : Instant::from_ns(0);
  }
  const PortCounters& counters() const override { return counters_; }

  std::deque<PacketPtr> rx_;

 private:
  QueueSplitter& s_;
  PortCounters counters_;
};

QueueSplitter::QueueSplitter(Port& under, uint32_t queues, Spread spread)
    : under_(under), spread_(spread) {
  SN_CHECK(queues >= 1);
  for (uint32_t i = 0; i < queues; ++i)
    queues_.push_back(std::make_unique<Queue>(*this));
}

QueueSplitter::~QueueSplitter() = default;

Port& QueueSplitter::queue(uint32_t i) {
  return *queues_.at(i);
}

void QueueSplitter::fill(PacketPool& pool, Instant now) {
  std::array<PacketPtr, 32> burst;
  for (;;) {
    const size_t n = under_.rx_burst(pool, burst, now);
    for (size_t i = 0; i < n; ++i) {
      const uint64_t q = spread_ == Spread::kFirst ? 0 : next_++ % queues_.size();
      queues_[q]->rx_.push_back(std::move(burst[i]));
    }
    if (n < burst.size()) return;
  }
}

}  // namespace sn
