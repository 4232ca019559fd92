// The latency histogram of the load generators (sn-loadgen, sn-stack-loadgen):
// both record and report latency through this one class, so their
// percentiles mean the same thing.
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>

namespace sn::bench {

// Latencies in nanoseconds, log-linear like HdrHistogram: exact below 128 ns,
// then 128 buckets per power of two (under 0.8% apart) up to 2^35 ns (34 s).
// Fixed size: recording never allocates.
class Histogram {
 public:
  void record(int64_t ns) {
    ++counts_[index(static_cast<uint64_t>(std::max<int64_t>(ns, 0)))];
    ++total_;
  }
  uint64_t total() const { return total_; }
  // The value at quantile q (0..1), in microseconds: its bucket's midpoint.
  double quantile_us(double q) const {
    if (total_ == 0) return 0;
    const uint64_t rank = std::max<uint64_t>(1, static_cast<uint64_t>(q * total_ + 0.999999));
    uint64_t seen = 0;
    for (size_t i = 0; i < kBuckets; ++i) {
      seen += counts_[i];
      if (seen >= rank) return midpoint(i) / 1000.0;
    }
    return midpoint(kBuckets - 1) / 1000.0;
  }

 private:
  static constexpr int kSubBits = 7;  // 128 buckets per power of two
  static constexpr uint64_t kSub = uint64_t{1} << kSubBits;
  static constexpr int kMaxExp = 35;
  static constexpr size_t kBuckets = kSub * (kMaxExp - kSubBits + 1);

  static size_t index(uint64_t v) {
    if (v < kSub) return v;
    const int e = std::min(static_cast<int>(std::bit_width(v)) - 1, kMaxExp - 1);
    if (e == kMaxExp - 1 && v >= (uint64_t{1} << kMaxExp)) return kBuckets - 1;
    const uint64_t sub = (v >> (e - kSubBits)) & (kSub - 1);
    return kSub * (e - kSubBits + 1) + sub;
  }
  static double midpoint(size_t i) {
    if (i < kSub) return static_cast<double>(i);
    const int e = static_cast<int>(i / kSub) + kSubBits - 1;
    const uint64_t sub = i % kSub;
    const uint64_t low = (kSub + sub) << (e - kSubBits);
    return static_cast<double>(low) + static_cast<double>(uint64_t{1} << (e - kSubBits)) / 2;
  }

  std::array<uint64_t, kBuckets> counts_{};
  uint64_t total_ = 0;
};

}  // namespace sn::bench
