// A hash table from TCP 4-tuples to V: the connection table's sockets and the
// TIME-WAIT table's index. Open addressing with linear probing over a
// power-of-two array of slots, at most half full: it doubles past that (an
// allocation only at a new high of entries; reserve() makes the room up
// front). Deletion shifts the entries behind back (Knuth, TAOCP vol. 3,
// 6.4 Algorithm R), so there are no tombstones and probe runs stay short.
//
// The key is mixed with a per-table secret (one 64x64->128-bit multiply),
// as Linux's inet_ehashfn mixes in its net_secret: a peer cannot choose
// 4-tuples that pile onto one probe run. A lookup of a live connection
// touches one slot, usually one cache line; the table is as large as the
// connections it holds, not as its configured maximum, so with few
// connections it stays in cache.
#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

#include "base/check.h"

namespace sn {

// A connection's 4-tuple from this host's side.
struct TcpKey {
  uint32_t local, remote;
  uint16_t lport, rport;
  bool operator==(const TcpKey&) const = default;
};

template <typename V>
class TcpKeyTable {
 public:
  explicit TcpKeyTable(uint64_t secret) : secret_(secret) { resize(kMinSlots); }

  // Room for `entries` without growing.
  void reserve(size_t entries) {
    if (2 * entries > slots_.size()) resize(slots_for(entries));
  }

  V* find(const TcpKey& k) {
    for (size_t i = home(k);; i = (i + 1) & mask_) {
      Slot& s = slots_[i];
      if (!s.used) return nullptr;
      if (s.key == k) return &s.value;
    }
  }
  const V* find(const TcpKey& k) const { return const_cast<TcpKeyTable*>(this)->find(k); }

  // Inserts k, or overwrites its value.
  void put(const TcpKey& k, V v) {
    if (V* have = find(k)) {
      *have = std::move(v);
      return;
    }
    if (2 * (size_ + 1) > slots_.size()) resize(2 * slots_.size());
    size_t i = home(k);
    while (slots_[i].used)
      i = (i + 1) & mask_;
    slots_[i].key = k;
    slots_[i].value = std::move(v);
    slots_[i].used = true;
    ++size_;
  }

  // Removes k and returns its value (V{} if absent).
  V take(const TcpKey& k) {
    size_t i = home(k);
    for (;; i = (i + 1) & mask_) {
      if (!slots_[i].used) return V{};
      if (slots_[i].key == k) break;
    }
    V out = std::move(slots_[i].value);
    // Algorithm R: an entry further on moves into the hole unless its home
    // lies cyclically in (hole, its place], where the hole does not cut it
    // off from its home.
    for (size_t j = (i + 1) & mask_; slots_[j].used; j = (j + 1) & mask_) {
      const size_t h = home(slots_[j].key);
      if (((j - h) & mask_) >= ((j - i) & mask_)) {
        slots_[i].key = slots_[j].key;
        slots_[i].value = std::move(slots_[j].value);
        i = j;
      }
    }
    slots_[i].used = false;
    slots_[i].value = V{};
    --size_;
    return out;
  }
  bool erase(const TcpKey& k) {
    if (find(k) == nullptr) return false;
    take(k);
    return true;
  }

  size_t size() const { return size_; }
  size_t slots() const { return slots_.size(); }

  // f(key, value) for every entry; f must not change the table.
  template <typename F>
  void for_each(F&& f) {
    for (Slot& s : slots_)
      if (s.used) f(s.key, s.value);
  }

 private:
  static constexpr size_t kMinSlots = 64;
  struct Slot {
    TcpKey key{};
    bool used = false;
    V value{};
  };

  static size_t slots_for(size_t entries) {
    size_t n = kMinSlots;
    while (n < 2 * entries)
      n *= 2;
    return n;
  }
  size_t home(const TcpKey& k) const {
    const uint64_t a = (uint64_t{k.local} << 32 | k.remote) ^ secret_;
    const uint64_t b = (uint64_t{k.lport} << 16 | k.rport) ^ 0xe7037ed1a0b428dbULL;
    const unsigned __int128 m = static_cast<unsigned __int128>(a) * (b ^ (secret_ >> 7));
    return static_cast<size_t>(static_cast<uint64_t>(m) ^ static_cast<uint64_t>(m >> 64)) & mask_;
  }
  void resize(size_t n) {
    SN_CHECK(n >= kMinSlots && (n & (n - 1)) == 0 && n >= 2 * size_);
    std::vector<Slot> old(n);
    old.swap(slots_);
    mask_ = n - 1;
    size_ = 0;
    for (Slot& s : old)
      if (s.used) put(s.key, std::move(s.value));
  }

  uint64_t secret_;
  std::vector<Slot> slots_;
  size_t mask_ = 0;
  size_t size_ = 0;
};

}  // namespace sn
