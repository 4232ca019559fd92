// The patent's table of atomic locks, in software: a small array of 64-bit
// words shared by every shard, with the three primitives its hardware offers:
// test-and-set (here on single bits), compare-and-swap and fetch-and-add. It
// is for the rare resources all shards share (which ports are served on every
// shard; later, host numbers and listening ports), never for the data path:
// a shard that needs one takes it, works, and lets go; a reader on a hot path
// only loads.
//
// Operations are sequentially consistent read-modify-writes (x86's locked
// instructions); loads acquire. Out-of-range indices are a programming error
// (SN_CHECK).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "base/check.h"

namespace sn {

class LockTable {
 public:
  explicit LockTable(size_t words)
      : words_(std::make_unique<std::atomic<uint64_t>[]>(words)), size_(words) {
    for (size_t i = 0; i < size_; ++i)
      words_[i].store(0, std::memory_order_relaxed);
  }

  size_t words() const { return size_; }
  size_t bits() const { return size_ * 64; }

  // Sets bit `bit` (of word bit / 64); returns whether it was set already.
  // False: the caller now holds it.
  bool test_and_set(size_t bit) {
    const uint64_t m = mask(bit);
    return (word(bit / 64).fetch_or(m) & m) != 0;
  }
  void clear(size_t bit) { word(bit / 64).fetch_and(~mask(bit)); }
  bool test(size_t bit) const {
    return (word(bit / 64).load(std::memory_order_acquire) & mask(bit)) != 0;
  }

  // If word `i` holds `expected`, stores `desired` and returns true; else
  // returns false with `expected` set to what it holds.
  bool compare_and_swap(size_t i, uint64_t& expected, uint64_t desired) {
    return word(i).compare_exchange_strong(expected, desired);
  }
  // Adds `delta` (wrapping) to word `i`; returns what it held before.
  uint64_t fetch_and_add(size_t i, uint64_t delta) { return word(i).fetch_add(delta); }
  uint64_t load(size_t i) const { return word(i).load(std::memory_order_acquire); }

 private:
  static uint64_t mask(size_t bit) { return uint64_t{1} << (bit % 64); }
  std::atomic<uint64_t>& word(size_t i) {
    SN_CHECK(i < size_);
    return words_[i];
  }
  const std::atomic<uint64_t>& word(size_t i) const {
    SN_CHECK(i < size_);
    return words_[i];
  }

  std::unique_ptr<std::atomic<uint64_t>[]> words_;
  size_t size_;
};

}  // namespace sn
