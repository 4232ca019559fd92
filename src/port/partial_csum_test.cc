// Partial checksums recognised on hand-built frames; see partial_csum.h.
#include "port/partial_csum.h"

#include <gtest/gtest.h>

#include <array>
#include <vector>

#include "wire/checksum.h"

namespace sn {
namespace {

// Ethernet + IPv4 (20 bytes) + TCP (20 bytes) + 4 bytes of data, from
// 10.0.0.1 to 10.0.0.2, with the TCP checksum field set to `check`.
std::vector<std::byte> frame(uint16_t check, uint16_t frag = 0, uint8_t proto = 6) {
  std::vector<uint8_t> b = {2,
                            0,
                            0,
                            0,
                            0,
                            2,
                            2,
                            0,
                            0,
                            0,
                            0,
                            1,
                            0x08,
                            0x00,  // Ethernet II, IPv4
                            0x45,
                            0,
                            0,
                            44,
                            0,
                            1,
                            uint8_t(frag >> 8),
                            uint8_t(frag),  // IPv4: 44 bytes
                            64,
                            proto,
                            0,
                            0,
                            10,
                            0,
                            0,
                            1,
                            10,
                            0,
                            0,
                            2,  // TTL, protocol, addresses
                            0x30,
                            0x39,
                            0,
                            7,
                            0,
                            0,
                            0,
                            1,
                            0,
                            0,
                            0,
                            0,
                            0x50,
                            0x18,
                            0xff,
                            0xff,  // TCP
                            uint8_t(check >> 8),
                            uint8_t(check),
                            0,
                            0,
                            'd',
                            'a',
                            't',
                            'a'};
  std::vector<std::byte> out(b.size());
  for (size_t i = 0; i < b.size(); ++i)
    out[i] = std::byte(b[i]);
  return out;
}

uint16_t pseudo(uint8_t proto = 6) {
  return static_cast<uint16_t>(fold_sum(pseudo_header_sum(
      Ipv4Address::from_octets(10, 0, 0, 1), Ipv4Address::from_octets(10, 0, 0, 2), proto, 24)));
}

TEST(PartialChecksum, ThePseudoHeaderSumAloneIsPartial) {
  EXPECT_TRUE(has_partial_l4_checksum(frame(pseudo())));
}

TEST(PartialChecksum, ACompleteChecksumIsNot) {
  auto f = frame(0);
  Checksum sum;
  sum.add_sum(pseudo_header_sum(Ipv4Address::from_octets(10, 0, 0, 1),
                                Ipv4Address::from_octets(10, 0, 0, 2), 6, 24));
  sum.add(std::span<const std::byte>(f).subspan(34));
  const uint16_t full = sum.finish();
  EXPECT_FALSE(has_partial_l4_checksum(frame(full)));
  EXPECT_FALSE(has_partial_l4_checksum(frame(uint16_t(pseudo() + 1))));
}

TEST(PartialChecksum, FragmentsOtherProtocolsAndShortFramesAreNot) {
  EXPECT_FALSE(has_partial_l4_checksum(frame(pseudo(), 0x2000)));  // MF
  EXPECT_FALSE(has_partial_l4_checksum(frame(pseudo(), 0x0010)));  // an offset
  EXPECT_FALSE(has_partial_l4_checksum(frame(pseudo(1), 0, 1)));   // ICMP
  auto f = frame(pseudo());
  for (size_t n = 0; n < f.size(); ++n)
    EXPECT_FALSE(has_partial_l4_checksum(std::span<const std::byte>(f).first(n))) << n;
  f[12] = std::byte{0x86};  // not IPv4
  EXPECT_FALSE(has_partial_l4_checksum(f));
}

}  // namespace
}  // namespace sn
