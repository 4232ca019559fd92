// Time as the stack sees it: a monotonic Instant and a signed Duration, both in
// nanoseconds. Nothing below the engine reads a clock; the shard hands `now` in.
#pragma once

#include <compare>
#include <cstdint>

namespace sn {

class Duration {
 public:
  constexpr Duration() = default;
  static constexpr Duration nanos(int64_t n) { return Duration(n); }
  static constexpr Duration micros(int64_t n) { return Duration(n * 1000); }
  static constexpr Duration millis(int64_t n) { return Duration(n * 1000'000); }
  static constexpr Duration seconds(int64_t n) { return Duration(n * 1000'000'000); }
  static constexpr Duration max() { return Duration(INT64_MAX / 4); }

  constexpr int64_t ns() const { return ns_; }
  constexpr int64_t us() const { return ns_ / 1000; }
  constexpr int64_t ms() const { return ns_ / 1000'000; }

  constexpr Duration operator+(Duration o) const { return Duration(ns_ + o.ns_); }
  constexpr Duration operator-(Duration o) const { return Duration(ns_ - o.ns_); }
  constexpr Duration operator*(int64_t k) const { return Duration(ns_ * k); }
  constexpr Duration operator/(int64_t k) const { return Duration(ns_ / k); }
  constexpr auto operator<=>(const Duration&) const = default;

 private:
  constexpr explicit Duration(int64_t n) : ns_(n) {}
  int64_t ns_ = 0;
};

class Instant {
 public:
  constexpr Instant() = default;
  static constexpr Instant from_ns(int64_t n) { return Instant(n); }
  static constexpr Instant never() { return Instant(INT64_MAX / 2); }

  constexpr int64_t ns() const { return ns_; }
  constexpr Instant operator+(Duration d) const { return Instant(ns_ + d.ns()); }
  constexpr Instant operator-(Duration d) const { return Instant(ns_ - d.ns()); }
  constexpr Duration operator-(Instant o) const { return Duration::nanos(ns_ - o.ns_); }
  constexpr Instant& operator+=(Duration d) {
    ns_ += d.ns();
    return *this;
  }
  constexpr auto operator<=>(const Instant&) const = default;

 private:
  constexpr explicit Instant(int64_t n) : ns_(n) {}
  int64_t ns_ = 0;
};

}  // namespace sn
