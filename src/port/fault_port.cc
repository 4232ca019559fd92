// The seeded fault injector; see fault_port.h.
#include "port/fault_port.h"

#include <algorithm>

#include "base/check.h"

namespace sn {
namespace {

// The transmit direction draws from its own stream, so the faults on one side
// do not depend on how much traffic went the other way.
constexpr uint64_t kTxSeedSalt = 0x5bd1e9955bd1e995ULL;

bool valid_probability(double p) {
  return p >= 0 && p <= 1;
}

}  // namespace

FaultPort::FaultPort(Port& inner, PacketPool& dup_pool, const FaultConfig& config)
    : inner_(inner),
      dup_pool_(dup_pool),
      config_(config),
      rx_(config.seed, config.hold_capacity),
      tx_(config.seed ^ kTxSeedSalt, config.hold_capacity),
      rx_scratch_(new PacketPtr[kBurst]),
      tx_batch_(new PacketPtr[kBurst]) {
  SN_CHECK(valid_probability(config.loss) && valid_probability(config.duplicate));
  SN_CHECK(valid_probability(config.reorder) && valid_probability(config.corrupt));
  SN_CHECK(config.delay >= Duration{} && config.reorder_delay >= Duration{});
}

// Held frames go back to their pools, which must outlive this port.
FaultPort::~FaultPort() = default;

Instant FaultPort::next_event() const {
  return std::min({inner_.next_event(), rx_.hold.earliest(), tx_.hold.earliest()});
}

size_t FaultPort::rx_burst(PacketPool& pool, std::span<PacketPtr> out, Instant now) {
  release_tx_due(now);
  size_t n = 0;
  while (n < out.size()) {
    PacketPtr p = rx_.hold.pop_due(now);
    if (!p) break;
    out[n++] = std::move(p);
  }
  // Read new frames only once nothing due is left held, so frames due at the
  // same time keep their order.
  if (n == out.size()) return n;
  const size_t want = std::min(out.size() - n, kBurst);
  const size_t got = inner_.rx_burst(pool, {rx_scratch_.get(), want}, now);
  Sink sink{out, n};
  for (size_t i = 0; i < got; ++i)
    inject(rx_, std::move(rx_scratch_[i]), now, sink);
  return sink.n;
}

size_t FaultPort::tx_burst(std::span<PacketPtr> frames, Instant now) {
  Sink batch{{tx_batch_.get(), kBurst}, 0};
  while (PacketPtr p = tx_.hold.pop_due(now)) {
    if (batch.n == kBurst) flush_tx(batch, now);
    batch.buf[batch.n++] = std::move(p);
  }
  for (PacketPtr& f : frames) {
    if (!f) continue;
    if (batch.n + 2 > kBurst) flush_tx(batch, now);  // room for a frame and its copy
    inject(tx_, std::move(f), now, batch);
  }
  flush_tx(batch, now);
  return frames.size();
}

void FaultPort::release_tx_due(Instant now) {
  if (tx_.hold.earliest() > now) return;
  tx_burst({}, now);
}

void FaultPort::flush_tx(Sink& batch, Instant now) {
  if (batch.n == 0) return;
  inner_.tx_burst(batch.buf.first(batch.n), now);
  for (size_t i = 0; i < batch.n; ++i)
    batch.buf[i].reset();  // the inner port should have
  batch.n = 0;
}

// The draws happen in a fixed order (loss, duplicate, corrupt, reorder), and a
// fault whose probability is zero draws nothing, so a given seed and call
// sequence always give the same faults.
void FaultPort::inject(Direction& d, PacketPtr p, Instant now, Sink& sink) {
  if (d.rng.chance(config_.loss)) {
    faults_.dropped.inc();
    return;
  }
  // The copy is taken before corruption: like netem, each copy is its own frame.
  PacketPtr dup;
  if (d.rng.chance(config_.duplicate)) {
    dup = copy(*p);
    if (dup) faults_.duplicated.inc();
  }
  if (d.rng.chance(config_.corrupt)) corrupt(d, *p);
  Instant due = now + config_.delay;
  if (config_.delay > Duration{}) faults_.delayed.inc();
  if (d.rng.chance(config_.reorder)) {
    due += config_.reorder_delay;
    faults_.reordered.inc();
  }
  place(d, p, due, now, sink);
  if (dup) place(d, dup, due, now, sink);
}

void FaultPort::place(Direction& d, PacketPtr& p, Instant due, Instant now, Sink& sink) {
  if (due <= now && sink.n < sink.buf.size()) {
    sink.buf[sink.n++] = std::move(p);
    return;
  }
  if (!d.hold.push(due, p)) {
    faults_.hold_full.inc();
    p.reset();
  }
}

// Flips one bit of one byte, anywhere in the frame (chains included).
void FaultPort::corrupt(Direction& d, Packet& p) {
  const uint32_t total = p.chain_size();
  if (total == 0) return;
  uint32_t at = static_cast<uint32_t>(d.rng.below(total));
  const auto bit = static_cast<unsigned>(d.rng.below(8));
  Packet* q = &p;
  while (at >= q->size()) {
    at -= q->size();
    q = q->next();
  }
  q->data()[at] ^= std::byte(1u << bit);
  p.l4_csum_ok = false;  // what the device vouched for is no longer what it saw
  faults_.corrupted.inc();
}

// A copy of the whole frame in one packet from the duplicate pool, or null when
// the pool is empty (counted there) or its buffers are too small.
PacketPtr FaultPort::copy(const Packet& p) {
  const uint32_t len = p.chain_size();
  PacketPtr c = dup_pool_.alloc();
  if (!c || c->tailroom() < len) return nullptr;
  chain_copy_out(p, 0, {c->append(len), len});
  c->iface = p.iface;
  return c;
}

}  // namespace sn
