// The Toeplitz hash against the published RSS verification vectors, and the
// lookup table against the bitwise definition.
#include "shard/toeplitz.h"

#include <gtest/gtest.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "base/rng.h"
#include "wire/address.h"
#include "wire/bytes.h"

namespace sn {
namespace {

// Microsoft, "Verifying the RSS Hash Calculation" (learn.microsoft.com/
// windows-hardware/drivers/network/verifying-the-rss-hash-calculation), the
// IPv4 table, with kRssDefaultKey; the same table is the Intel 82599
// datasheet's "RSS Verification Suite" (7.1.2.8.3), which DPDK's
// app/test/test_thash.c carries. Input: source address, destination address,
// and for "with TCP" source port, destination port, in network byte order.
struct RssVector {
  Ipv4Address src;
  L4Port sport;
  Ipv4Address dst;
  L4Port dport;
  uint32_t ipv4;      // hash over the addresses
  uint32_t ipv4_tcp;  // hash over addresses and ports
};

constexpr Ipv4Address ip(uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
  return Ipv4Address::from_octets(a, b, c, d);
}

const RssVector kRssVectors[] = {
    {ip(66, 9, 149, 187), L4Port(2794), ip(161, 142, 100, 80), L4Port(1766), 0x323e8fc2,
     0x51ccc178},
    {ip(199, 92, 111, 2), L4Port(14230), ip(65, 69, 140, 83), L4Port(4739), 0xd718262a, 0xc626b0ea},
    {ip(24, 19, 198, 95), L4Port(12898), ip(12, 22, 207, 184), L4Port(38024), 0xd2d0a5de,
     0x5c2b394a},
    {ip(38, 27, 205, 30), L4Port(48228), ip(209, 142, 163, 6), L4Port(2217), 0x82989176,
     0xafc7327f},
    {ip(153, 39, 163, 191), L4Port(44251), ip(202, 188, 127, 2), L4Port(1303), 0x5d1809c5,
     0x10e828a2},
};

std::array<std::byte, 12> rss_input(const RssVector& v) {
  std::array<std::byte, 12> in{};
  v.src.store(in.data());
  v.dst.store(in.data() + 4);
  store16(in.data() + 8, v.sport.v);
  store16(in.data() + 10, v.dport.v);
  return in;
}

TEST(ToeplitzTest, RssVerificationVectorsBitwise) {
  for (const RssVector& v : kRssVectors) {
    const auto in = rss_input(v);
    EXPECT_EQ(toeplitz_hash(kRssDefaultKey, std::span(in).first(8)), v.ipv4) << v.src.to_string();
    EXPECT_EQ(toeplitz_hash(kRssDefaultKey, in), v.ipv4_tcp) << v.src.to_string();
  }
}

TEST(ToeplitzTest, RssVerificationVectorsByTable) {
  const ToeplitzTable table(kRssDefaultKey, 12);
  for (const RssVector& v : kRssVectors) {
    const auto in = rss_input(v);
    EXPECT_EQ(table.hash(std::span(in).first(8)), v.ipv4) << v.src.to_string();
    EXPECT_EQ(table.hash(in), v.ipv4_tcp) << v.src.to_string();
  }
}

TEST(ToeplitzTest, EmptyInputHashesToZero) {
  EXPECT_EQ(toeplitz_hash(kRssDefaultKey, {}), 0u);
  EXPECT_EQ(ToeplitzTable(kRssDefaultKey, 0).hash({}), 0u);
}

TEST(ToeplitzTest, TableMatchesDefinitionForRandomKeysAndInputs) {
  Rng rng(7);
  for (int round = 0; round < 200; ++round) {
    ToeplitzKey key;
    for (auto& b : key)
      b = static_cast<uint8_t>(rng.next());
    const size_t len = rng.below(kToeplitzMaxInput + 1);
    std::vector<std::byte> in(len);
    for (auto& b : in)
      b = static_cast<std::byte>(rng.next());
    const ToeplitzTable table(key, kToeplitzMaxInput);
    EXPECT_EQ(table.hash(in), toeplitz_hash(key, in)) << "round " << round << " len " << len;
  }
}

TEST(ToeplitzTest, LinearInTheInput) {
  // hash(a ^ b) == hash(a) ^ hash(b): what makes the per-byte table possible.
  Rng rng(11);
  for (int round = 0; round < 100; ++round) {
    std::array<std::byte, 12> a, b, x;
    for (size_t i = 0; i < a.size(); ++i) {
      a[i] = static_cast<std::byte>(rng.next());
      b[i] = static_cast<std::byte>(rng.next());
      x[i] = a[i] ^ b[i];
    }
    EXPECT_EQ(toeplitz_hash(kRssDefaultKey, x),
              toeplitz_hash(kRssDefaultKey, a) ^ toeplitz_hash(kRssDefaultKey, b));
  }
}

}  // namespace
}  // namespace sn
