// The simulator's event loop.
#include "stack/sim.h"

namespace sn {

namespace {
constexpr Duration kStallStep = Duration::millis(1);  // the timer wheel's tick
}

Simulation::Simulation(const MemWireConfig& wire, Instant start) : wire_(wire), now_(start) {}

Simulation::Node& Simulation::add_node(const SimNodeConfig& config) {
  auto node = std::make_unique<Node>(config.pool);
  node->wire_port = &wire_.attach(config.mac, config.mtu);
  Port* port = node->wire_port;
  if (config.fault) {
    node->fault = std::make_unique<FaultPort>(*port, node->pool, *config.fault);
    port = node->fault.get();
  }
  node->stack = std::make_unique<Stack>(config.stack, node->pool, now_, config.seed);
  node->stack->add_interface(*port, config.address);
  node->stack->start(now_);
  nodes_.push_back(std::move(node));
  return *nodes_.back();
}

Instant Simulation::next_event() const {
  Instant next = wire_.next_event();
  for (const auto& n : nodes_)
    next = std::min(next, n->stack->next_event());
  for (const SimActor* a : actors_)
    next = std::min(next, a->next_event());
  return next;
}

bool Simulation::step(Instant deadline) {
  size_t work = 0;
  for (auto& n : nodes_)
    work += n->stack->poll(now_);
  for (SimActor* a : actors_)
    work += a->poll(now_);
  if (work > 0) return true;
  Instant next = next_event();
  if (next <= now_) {
    // Work is due that no node could take (its pool is empty): nothing moves
    // until a timer frees buffers or a held frame comes due. Timers stay
    // exact; anything else is looked at again a tick later.
    next = now_ + kStallStep;
    for (const auto& n : nodes_)
      next = std::min(next, n->stack->timers().next_deadline());
  }
  // At least one nanosecond on, so a clock rounding cannot stall the loop;
  // and never past the deadline.
  next = std::max(next, now_ + Duration::nanos(1));
  if (next == Instant::never() || next > deadline) {
    if (next != Instant::never()) now_ = deadline;
    return false;
  }
  now_ = next;
  return true;
}

bool Simulation::run_until_idle(Duration limit) {
  const Instant deadline = now_ + limit;
  while (step(deadline)) {
  }
  return next_event() == Instant::never();
}

void Simulation::run_for(Duration d) {
  const Instant end = now_ + d;
  while (step(end)) {
  }
  now_ = end;
  for (auto& n : nodes_)
    n->stack->poll(now_);
  for (SimActor* a : actors_)
    a->poll(now_);
}

}  // namespace sn
