// A statistics counter written by one shard thread and read by any thread (the
// control socket). Relaxed atomics: on x86 an increment is a plain load and store.
#pragma once

#include <atomic>
#include <cstdint>

namespace sn {

class Counter {
 public:
  void inc(uint64_t by = 1) {
    v_.store(v_.load(std::memory_order_relaxed) + by, std::memory_order_relaxed);
  }
  void set(uint64_t v) { v_.store(v, std::memory_order_relaxed); }
  uint64_t get() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> v_{0};
};

}  // namespace sn
