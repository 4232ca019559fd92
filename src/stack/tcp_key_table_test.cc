// The 4-tuple table against std::unordered_map: random puts, overwrites,
// takes and lookups (deletion by backward shift leaves every remaining key
// findable), growth, reserve(), and values that own something.
#include "stack/tcp_key_table.h"

#include <gtest/gtest.h>

#include <memory>
#include <unordered_map>
#include <vector>

#include "base/rng.h"

namespace sn {
namespace {

struct KeyHash {
  size_t operator()(const TcpKey& k) const {
    return std::hash<uint64_t>{}(uint64_t{k.local} << 32 | k.remote) ^ (k.lport * 31u + k.rport);
  }
};

// Keys from a small space, so that puts, overwrites and takes meet.
TcpKey random_key(Rng& rng) {
  return TcpKey{0x0a000001, 0x0a000000u + static_cast<uint32_t>(rng.below(4)),
                static_cast<uint16_t>(7 + rng.below(2)),
                static_cast<uint16_t>(40000 + rng.below(600))};
}

TEST(TcpKeyTable, MatchesAReferenceMapThroughRandomOperations) {
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    SCOPED_TRACE(seed);
    Rng rng(seed);
    TcpKeyTable<uint32_t> t(seed * 0x9e3779b97f4a7c15ULL);
    std::unordered_map<TcpKey, uint32_t, KeyHash> ref;
    for (int op = 0; op < 20000; ++op) {
      const TcpKey k = random_key(rng);
      switch (rng.below(4)) {
        case 0:
        case 1: {
          const auto v = static_cast<uint32_t>(rng.next());
          t.put(k, v);
          ref[k] = v;
          break;
        }
        case 2: {
          auto it = ref.find(k);
          EXPECT_EQ(t.erase(k), it != ref.end());
          if (it != ref.end()) ref.erase(it);
          break;
        }
        default: {
          const uint32_t* v = t.find(k);
          auto it = ref.find(k);
          ASSERT_EQ(v != nullptr, it != ref.end());
          if (v) {
            EXPECT_EQ(*v, it->second);
          }
        }
      }
      ASSERT_EQ(t.size(), ref.size());
    }
    // Every key the reference holds is found, and nothing else is there.
    for (const auto& [k, v] : ref) {
      const uint32_t* got = t.find(k);
      ASSERT_NE(got, nullptr);
      EXPECT_EQ(*got, v);
    }
    size_t seen = 0;
    t.for_each([&](const TcpKey& k, uint32_t v) {
      ++seen;
      EXPECT_EQ(ref.at(k), v);
    });
    EXPECT_EQ(seen, ref.size());
    EXPECT_LE(2 * t.size(), t.slots());  // at most half full
  }
}

TEST(TcpKeyTable, GrowsPastItsRoomAndReserveMakesRoomAhead) {
  TcpKeyTable<uint32_t> t(42);
  const size_t start = t.slots();
  for (uint32_t i = 0; i < 10000; ++i)
    t.put(TcpKey{1, i, 80, static_cast<uint16_t>(i)}, i);
  EXPECT_EQ(t.size(), 10000u);
  EXPECT_GT(t.slots(), start);
  EXPECT_LE(2 * t.size(), t.slots());
  for (uint32_t i = 0; i < 10000; ++i)
    ASSERT_EQ(*t.find(TcpKey{1, i, 80, static_cast<uint16_t>(i)}), i);
  TcpKeyTable<uint32_t> r(42);
  r.reserve(5000);
  const size_t reserved = r.slots();
  EXPECT_GE(reserved, 10000u);
  for (uint32_t i = 0; i < 5000; ++i)
    r.put(TcpKey{1, i, 80, 1}, i);
  EXPECT_EQ(r.slots(), reserved);  // no growth within the reservation
}

TEST(TcpKeyTable, TakeHandsOverWhatAValueOwns) {
  TcpKeyTable<std::unique_ptr<int>> t(7);
  for (int i = 0; i < 100; ++i)
    t.put(TcpKey{1, 2, 3, static_cast<uint16_t>(i)}, std::make_unique<int>(i));
  std::unique_ptr<int> got = t.take(TcpKey{1, 2, 3, 50});
  ASSERT_NE(got, nullptr);
  EXPECT_EQ(*got, 50);
  EXPECT_EQ(t.take(TcpKey{1, 2, 3, 50}), nullptr);  // gone
  EXPECT_EQ(t.size(), 99u);
  for (int i = 0; i < 100; ++i) {
    if (i == 50) continue;
    auto* v = t.find(TcpKey{1, 2, 3, static_cast<uint16_t>(i)});
    ASSERT_NE(v, nullptr);
    EXPECT_EQ(**v, i);
  }
}

TEST(TcpKeyTable, TheSecretDecidesWhereKeysLand) {
  // Two tables with different secrets order the same keys differently: a
  // peer that does not know the secret cannot aim 4-tuples at one run.
  TcpKeyTable<uint32_t> a(1), b(2);
  for (uint16_t i = 0; i < 20; ++i) {
    a.put(TcpKey{1, 2, 80, i}, i);
    b.put(TcpKey{1, 2, 80, i}, i);
  }
  std::vector<uint32_t> order_a, order_b;
  a.for_each([&](const TcpKey&, uint32_t v) { order_a.push_back(v); });
  b.for_each([&](const TcpKey&, uint32_t v) { order_b.push_back(v); });
  EXPECT_NE(order_a, order_b);
}

}  // namespace
}  // namespace sn
