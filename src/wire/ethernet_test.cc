// Tests for Ethernet II parsing and emission, with and without VLAN tags.
#include "wire/ethernet.h"

#include <gtest/gtest.h>

#include <vector>

#include "wire/wire_testing.h"

namespace sn {
namespace {

const MacAddress kDst{{0x52, 0x54, 0x00, 0x12, 0x34, 0x56}};
const MacAddress kSrc{{0x02, 0x00, 0x00, 0x00, 0x00, 0x01}};

// dst, src, type 0x0800, then four payload bytes.
constexpr uint8_t kUntagged[] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0x02, 0x00, 0x00,
                                 0x00, 0x00, 0x01, 0x08, 0x00, 0xde, 0xad, 0xbe, 0xef};
// 802.1Q tag: TPID 8100, TCI 0x2064 (PCP 1, VID 100), then ARP.
constexpr uint8_t kTagged[] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0x02, 0x00, 0x00, 0x00,
                               0x00, 0x01, 0x81, 0x00, 0x20, 0x64, 0x08, 0x06, 0xaa, 0xbb};
// 802.1ad S-tag (VID 10) over an 802.1Q C-tag (VID 20), then IPv4.
constexpr uint8_t kQinQ[] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01,
                             0x88, 0xa8, 0x00, 0x0a, 0x81, 0x00, 0x00, 0x14, 0x08, 0x00, 0x45};

TEST(Ethernet, ParsesUntagged) {
  auto v = EthernetView::parse(as_span(kUntagged));
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->dst(), kDst);
  EXPECT_EQ(v->src(), kSrc);
  EXPECT_EQ(v->ethertype(), kEtherTypeIpv4);
  EXPECT_EQ(v->vlan_count(), 0);
  EXPECT_FALSE(v->vlan_tci().has_value());
  EXPECT_EQ(v->header_size(), 14u);
  EXPECT_EQ(to_vec(v->payload()), to_vec(as_span(kUntagged).subspan(14)));
}

TEST(Ethernet, ParsesHeaderOnly) {
  auto v = EthernetView::parse(as_span(kUntagged).first(14));
  ASSERT_TRUE(v.ok());
  EXPECT_TRUE(v->payload().empty());
}

TEST(Ethernet, ParsesOneTag) {
  auto v = EthernetView::parse(as_span(kTagged));
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->ethertype(), kEtherTypeArp);
  EXPECT_EQ(v->vlan_count(), 1);
  EXPECT_EQ(v->vlan_tci(), 0x2064);
  EXPECT_EQ(v->outer_vlan_tci(), 0x2064);
  EXPECT_EQ(v->header_size(), 18u);
  EXPECT_EQ(v->payload().size(), 2u);
}

TEST(Ethernet, ParsesTwoTags) {
  auto v = EthernetView::parse(as_span(kQinQ));
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->ethertype(), kEtherTypeIpv4);
  EXPECT_EQ(v->vlan_count(), 2);
  EXPECT_EQ(v->vlan_tci(), 0x0014);  // innermost
  EXPECT_EQ(v->outer_vlan_tci(), 0x000a);
  EXPECT_EQ(v->header_size(), 22u);
  ASSERT_EQ(v->payload().size(), 1u);
  EXPECT_EQ(v->payload()[0], std::byte{0x45});
}

TEST(Ethernet, RejectsThreeTags) {
  constexpr uint8_t kThree[] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0x02, 0x00, 0x00,
                                0x00, 0x00, 0x01, 0x88, 0xa8, 0x00, 0x0a, 0x81, 0x00,
                                0x00, 0x14, 0x81, 0x00, 0x00, 0x1e, 0x08, 0x00};
  auto v = EthernetView::parse(as_span(kThree));
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.error(), ParseError::kUnsupported);
}

TEST(Ethernet, Rejects8023LengthField) {
  auto frame = to_vec(kUntagged);
  for (uint16_t type : {0x0000, 0x002e, 0x05dc, 0x05ff}) {
    frame[12] = std::byte(type >> 8);
    frame[13] = std::byte(type & 0xff);
    auto v = EthernetView::parse(frame);
    ASSERT_FALSE(v.ok()) << type;
    EXPECT_EQ(v.error(), ParseError::kUnsupported);
  }
  frame[12] = std::byte{0x06};
  frame[13] = std::byte{0x00};
  EXPECT_TRUE(EthernetView::parse(frame).ok());
  // Behind a tag too.
  auto tagged = to_vec(kTagged);
  tagged[16] = std::byte{0x00};
  tagged[17] = std::byte{0x40};
  EXPECT_EQ(EthernetView::parse(tagged).error(), ParseError::kUnsupported);
}

TEST(Ethernet, TruncatedAtEveryLength) {
  for (size_t n = 0; n < 14; ++n) {
    auto v = EthernetView::parse(as_span(kUntagged).first(n));
    ASSERT_FALSE(v.ok()) << n;
    EXPECT_EQ(v.error(), ParseError::kTruncated) << n;
  }
  for (size_t n = 14; n < 18; ++n) {  // the tag is announced but cut short
    auto v = EthernetView::parse(as_span(kTagged).first(n));
    ASSERT_FALSE(v.ok()) << n;
    EXPECT_EQ(v.error(), ParseError::kTruncated) << n;
  }
  for (size_t n = 18; n < 22; ++n) {
    auto v = EthernetView::parse(as_span(kQinQ).first(n));
    ASSERT_FALSE(v.ok()) << n;
    EXPECT_EQ(v.error(), ParseError::kTruncated) << n;
  }
  EXPECT_TRUE(EthernetView::parse(as_span(kQinQ).first(22)).ok());
}

TEST(Ethernet, EmitUntaggedMatchesBytes) {
  const EthernetHeader h{kDst, kSrc, std::nullopt, kEtherTypeIpv4};
  ASSERT_EQ(h.size(), 14u);
  std::vector<std::byte> out(14);
  h.emit(out);
  EXPECT_EQ(out, to_vec(as_span(kUntagged).first(14)));
}

TEST(Ethernet, EmitTaggedMatchesBytes) {
  const EthernetHeader h{kDst, kSrc, uint16_t{0x2064}, kEtherTypeArp};
  ASSERT_EQ(h.size(), 18u);
  std::vector<std::byte> out(18);
  h.emit(out);
  EXPECT_EQ(out, to_vec(as_span(kTagged).first(18)));
}

TEST(Ethernet, RoundTrip) {
  for (const auto& h : {EthernetHeader{kDst, kSrc, std::nullopt, kEtherTypeArp},
                        EthernetHeader{MacAddress::broadcast(), kSrc, uint16_t{0xefff}, 0x86dd}}) {
    std::vector<std::byte> out(h.size());
    h.emit(out);
    auto v = EthernetView::parse(out);
    ASSERT_TRUE(v.ok());
    EXPECT_EQ(EthernetHeader::from(*v), h);
  }
}

TEST(Ethernet, FromQinQKeepsInnerTag) {
  auto v = EthernetView::parse(as_span(kQinQ));
  ASSERT_TRUE(v.ok());
  const EthernetHeader h = EthernetHeader::from(*v);
  EXPECT_EQ(h.vlan_tci, 0x0014);
  EXPECT_EQ(h.ethertype, kEtherTypeIpv4);
}

}  // namespace
}  // namespace sn
