// A bounded queue of frames held back until a given time: a binary min-heap
// ordered by (due time, arrival), so frames due at the same moment leave in the
// order they came. Storage is reserved at construction; push never allocates.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "base/check.h"
#include "base/time.h"
#include "buf/packet.h"

namespace sn {

class HoldQueue {
 public:
  explicit HoldQueue(uint32_t capacity) : capacity_(capacity) { heap_.reserve(capacity); }

  // Holds `p` until `due`; returns false (and leaves `p` alone) when full.
  bool push(Instant due, PacketPtr& p) {
    if (heap_.size() >= capacity_) return false;
    heap_.push_back(Held{due, seq_++, std::move(p)});
    std::push_heap(heap_.begin(), heap_.end(), Later{});
    return true;
  }

  // The earliest due time held, or Instant::never().
  Instant earliest() const { return heap_.empty() ? Instant::never() : heap_.front().due; }

  // The first frame due at or before `now`, or null.
  PacketPtr pop_due(Instant now) {
    if (heap_.empty() || heap_.front().due > now) return nullptr;
    std::pop_heap(heap_.begin(), heap_.end(), Later{});
    PacketPtr p = std::move(heap_.back().pkt);
    heap_.pop_back();
    return p;
  }

  uint32_t size() const { return static_cast<uint32_t>(heap_.size()); }
  uint32_t capacity() const { return capacity_; }

 private:
  struct Held {
    Instant due;
    uint64_t seq;
    PacketPtr pkt;
  };
  // std::*_heap build a max-heap; "greater" puts the earliest on top.
  struct Later {
    bool operator()(const Held& a, const Held& b) const {
      return a.due != b.due ? a.due > b.due : a.seq > b.seq;
    }
  };

  uint32_t capacity_;
  uint64_t seq_ = 0;
  std::vector<Held> heap_;
};

}  // namespace sn
