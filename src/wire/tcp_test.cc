// Tests for TCP headers and options against a SYN as Linux sends it.
#include "wire/tcp.h"

#include <gtest/gtest.h>

#include <vector>

#include "wire/checksum.h"
#include "wire/ipv4.h"
#include "wire/wire_testing.h"

namespace sn {
namespace {

const Ipv4Address kClient = Ipv4Address::from_octets(192, 168, 0, 104);
const Ipv4Address kServer = Ipv4Address::from_octets(192, 168, 0, 1);

// 192.168.0.104:47530 -> 192.168.0.1:80 SYN, window 64240, options MSS 1460,
// SACK-permitted, timestamps (9a3c7f, 0), NOP, window scale 7: Linux's layout.
// IP checksum 9cbc, TCP checksum fcf3 (checked with an independent implementation).
constexpr uint8_t kSyn[] = {
    0x45, 0x00, 0x00, 0x3c, 0x1c, 0x46, 0x40, 0x00, 0x40, 0x06, 0x9c, 0xbc, 0xc0, 0xa8, 0x00,
    0x68, 0xc0, 0xa8, 0x00, 0x01, 0xb9, 0xaa, 0x00, 0x50, 0x9c, 0x2f, 0x3b, 0x1e, 0x00, 0x00,
    0x00, 0x00, 0xa0, 0x02, 0xfa, 0xf0, 0xfc, 0xf3, 0x00, 0x00, 0x02, 0x04, 0x05, 0xb4, 0x04,
    0x02, 0x08, 0x0a, 0x00, 0x9a, 0x3c, 0x7f, 0x00, 0x00, 0x00, 0x00, 0x01, 0x03, 0x03, 0x07,
};

std::span<const std::byte> syn_segment() {
  return as_span(kSyn).subspan(20);
}

TcpHeader syn_header() {
  TcpHeader h;
  h.src_port = L4Port(47530);
  h.dst_port = L4Port(80);
  h.seq = SeqNum{0x9c2f3b1e};
  h.flags = kTcpSyn;
  h.window = 64240;
  h.options.mss = 1460;
  h.options.sack_permitted = true;
  h.options.timestamps = std::pair<uint32_t, uint32_t>{0x009a3c7f, 0};
  h.options.window_scale = 7;
  return h;
}

// An options area of exactly `opts` (a multiple of 4) in a 20+n byte header.
std::vector<std::byte> segment_with_options(std::vector<uint8_t> opts) {
  auto seg = to_vec(syn_segment().first(20));
  seg[12] = static_cast<std::byte>(((20 + opts.size()) / 4) << 4);
  for (uint8_t o : opts)
    seg.push_back(std::byte{o});
  return seg;
}

Parsed<TcpOptions> parse_options(std::vector<uint8_t> opts) {
  std::vector<std::byte> b;
  for (uint8_t o : opts)
    b.push_back(std::byte{o});
  return TcpOptions::parse(b);
}

TEST(Tcp, ParsesLinuxSyn) {
  auto ip = Ipv4View::parse(as_span(kSyn));
  ASSERT_TRUE(ip.ok());
  EXPECT_TRUE(ip->checksum_ok());
  auto v = TcpView::parse(ip->payload());
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->src_port(), L4Port(47530));
  EXPECT_EQ(v->dst_port(), L4Port(80));
  EXPECT_EQ(v->seq(), SeqNum{0x9c2f3b1e});
  EXPECT_EQ(v->ack(), SeqNum{0});
  EXPECT_EQ(v->header_length(), 40u);
  EXPECT_EQ(v->flags(), kTcpSyn);
  EXPECT_EQ(v->window(), 64240);
  EXPECT_EQ(v->checksum(), 0xfcf3);
  EXPECT_EQ(v->urgent(), 0);
  EXPECT_EQ(v->options().size(), 20u);
  EXPECT_TRUE(v->payload().empty());
  EXPECT_TRUE(v->checksum_ok(ip->src(), ip->dst()));
  EXPECT_FALSE(v->checksum_ok(ip->src(), Ipv4Address::from_octets(192, 168, 0, 2)));

  auto o = TcpOptions::parse(v->options());
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o->mss, 1460);
  EXPECT_TRUE(o->sack_permitted);
  ASSERT_TRUE(o->timestamps.has_value());
  EXPECT_EQ(o->timestamps->first, 0x009a3c7fu);
  EXPECT_EQ(o->timestamps->second, 0u);
  EXPECT_EQ(o->window_scale, 7);
  EXPECT_EQ(o->sack_count, 0);
}

TEST(Tcp, EmitMatchesLinuxSyn) {
  const TcpHeader h = syn_header();
  ASSERT_EQ(h.options.size(), 20u);
  ASSERT_EQ(h.size(), 40u);
  std::vector<std::byte> out(h.size(), std::byte{0xcc});
  h.emit(out, kClient, kServer, 0, 0);
  EXPECT_EQ(out, to_vec(syn_segment()));
}

TEST(Tcp, PartialChecksumCompletedBySummingOverItEqualsTheFullOne) {
  TcpHeader h = syn_header();
  h.flags = kTcpAck | kTcpPsh;
  const auto payload = std::vector<std::byte>(333, std::byte{0x5a});
  std::vector<std::byte> full(h.size()), partial(h.size());
  h.emit(full, kClient, kServer, Checksum{}.add(payload).sum(), 333);
  h.emit_partial(partial, kClient, kServer, 333);
  // The field holds the folded pseudo-header sum (what Linux hands over).
  EXPECT_EQ(load16(partial.data() + 16),
            fold_sum(pseudo_header_sum(kClient, kServer, kIpProtoTcp, uint16_t(h.size() + 333))));
  EXPECT_TRUE(std::equal(full.begin(), full.begin() + 16, partial.begin()));
  const uint16_t completed = Checksum{}.add(partial).add(payload).finish();
  EXPECT_EQ(completed, load16(full.data() + 16));
}

TEST(Tcp, FromRoundTripsSyn) {
  auto v = TcpView::parse(syn_segment());
  ASSERT_TRUE(v.ok());
  auto h = TcpHeader::from(*v);
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(*h, syn_header());
}

TEST(Tcp, CorruptionDetectedAnywhere) {
  for (size_t i = 0; i < 40; ++i) {
    if (i == 12) continue;  // data offset
    auto seg = to_vec(syn_segment());
    seg[i] ^= std::byte{0x02};
    auto v = TcpView::parse(seg);
    ASSERT_TRUE(v.ok()) << i;
    EXPECT_FALSE(v->checksum_ok(kClient, kServer)) << i;
  }
}

TEST(Tcp, TruncatedAndBadDataOffset) {
  for (size_t n = 0; n < 20; ++n) {
    auto v = TcpView::parse(syn_segment().first(n));
    ASSERT_FALSE(v.ok()) << n;
    EXPECT_EQ(v.error(), ParseError::kTruncated) << n;
  }
  // The data offset says 40 bytes: anything shorter is truncated.
  for (size_t n = 20; n < 40; ++n) {
    auto v = TcpView::parse(syn_segment().first(n));
    ASSERT_FALSE(v.ok()) << n;
    EXPECT_EQ(v.error(), ParseError::kTruncated) << n;
  }
  for (uint8_t off = 0; off < 5; ++off) {
    auto seg = to_vec(syn_segment());
    seg[12] = static_cast<std::byte>(off << 4);
    auto v = TcpView::parse(seg);
    ASSERT_FALSE(v.ok()) << int{off};
    EXPECT_EQ(v.error(), ParseError::kBadHeaderLength) << int{off};
  }
  auto seg = to_vec(syn_segment());
  seg[12] = std::byte{0xf0};  // 60 > 40: a lying data offset
  EXPECT_EQ(TcpView::parse(seg).error(), ParseError::kTruncated);
  seg[12] = std::byte{0x50};  // 20: the options become payload
  auto v = TcpView::parse(seg);
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->payload().size(), 20u);
  EXPECT_TRUE(v->options().empty());
}

TEST(Tcp, DataSegmentWithOddPayload) {
  TcpHeader h;
  h.src_port = L4Port(80);
  h.dst_port = L4Port(47530);
  h.seq = SeqNum{0xfffffff0};
  h.ack = SeqNum{0x9c2f3b1f};
  h.flags = kTcpAck | kTcpPsh;
  h.window = 509;
  h.options.timestamps = std::pair<uint32_t, uint32_t>{0x11223344, 0x009a3c7f};
  constexpr uint8_t kPayload[] = {'h', 'e', 'l', 'l', 'o'};
  std::vector<std::byte> seg(h.size() + sizeof kPayload);
  std::copy(as_span(kPayload).begin(), as_span(kPayload).end(), seg.begin() + h.size());
  h.emit(seg, kServer, kClient, Checksum{}.add(as_span(kPayload)).sum(), sizeof kPayload);
  // Linux's data-segment layout: NOP NOP timestamps.
  constexpr uint8_t kOptions[] = {0x01, 0x01, 0x08, 0x0a, 0x11, 0x22,
                                  0x33, 0x44, 0x00, 0x9a, 0x3c, 0x7f};
  EXPECT_EQ(to_vec(std::span(seg).subspan(20, 12)), to_vec(kOptions));
  EXPECT_EQ(seg[12], std::byte{0x80});  // data offset 8
  auto v = TcpView::parse(seg);
  ASSERT_TRUE(v.ok());
  EXPECT_TRUE(v->checksum_ok(kServer, kClient));
  EXPECT_EQ(to_vec(v->payload()), to_vec(kPayload));
  auto back = TcpHeader::from(*v);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, h);
}

TEST(TcpOptions, EmptyAndNopOnly) {
  auto o = parse_options({});
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(*o, TcpOptions{});
  EXPECT_EQ(TcpOptions{}.size(), 0u);
  o = parse_options({1, 1, 1, 1});
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(*o, TcpOptions{});
}

TEST(TcpOptions, EolEndsTheList) {
  // MSS, EOL, then bytes that would be a bad option if they were read.
  auto o = parse_options({2, 4, 0x05, 0xb4, 0, 3, 0, 0});
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o->mss, 1460);
  EXPECT_FALSE(o->window_scale.has_value());
}

TEST(TcpOptions, UnknownKindsSkipped) {
  // TFO cookie (34, len 10), then an experimental kind 254 with length 2, then WS.
  auto o = parse_options({34, 10, 1, 2, 3, 4, 5, 6, 7, 8, 254, 2, 3, 3, 9, 0});
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o->window_scale, 9);
  EXPECT_FALSE(o->mss.has_value());
}

TEST(TcpOptions, WindowScaleClampedTo14) {
  for (uint8_t shift : {14, 15, 255}) {
    auto o = parse_options({1, 3, 3, shift});
    ASSERT_TRUE(o.ok());
    EXPECT_EQ(o->window_scale, 14) << int{shift};
  }
}

TEST(TcpOptions, MalformedOptions) {
  const std::vector<std::vector<uint8_t>> bad = {
      {2},                                    // MSS with no length byte
      {2, 4, 0x05},                           // MSS runs past the end
      {2, 3, 0x05, 0},                        // MSS length 3
      {2, 5, 0x05, 0xb4, 0},                  // MSS length 5
      {3, 2, 1, 1},                           // window scale length 2
      {3, 4, 7, 0},                           // window scale length 4
      {4, 3, 0, 0},                           // SACK-permitted length 3
      {4, 1, 1, 1},                           // length 1
      {8, 8, 0, 0, 0, 0, 0, 0},               // timestamps length 8
      {8, 11, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},  // timestamps length 11
      {5, 2, 1, 1},                           // SACK with no blocks
      {5, 9, 0, 0, 0, 0, 0, 0, 0, 0},         // SACK length 9
      {5, 11, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},  // SACK length 11
      {1, 1, 5, 18, 0, 0, 0, 0, 0, 0, 0, 0},  // SACK runs past the end
      {99, 0, 1, 1},                          // unknown kind, length 0
      {99, 1, 1, 1},                          // unknown kind, length 1
      {1, 1, 1, 99},                          // unknown kind, no length byte
      {99, 6, 1, 1},                          // unknown kind past the end
  };
  for (const auto& opts : bad) {
    auto o = parse_options(opts);
    ASSERT_FALSE(o.ok()) << int{opts[0]} << "/" << (opts.size() > 1 ? int{opts[1]} : -1);
    EXPECT_EQ(o.error(), ParseError::kBadOption);
  }
  // SACK with 5 blocks (length 42) cannot fit in a real header either.
  std::vector<uint8_t> five(42, 0);
  five[0] = 5;
  five[1] = 42;
  EXPECT_EQ(parse_options(five).error(), ParseError::kBadOption);
}

TEST(TcpOptions, HeaderWithBadOptionsFailsFrom) {
  auto seg = segment_with_options({2, 3, 0, 0});
  auto v = TcpView::parse(seg);
  ASSERT_TRUE(v.ok());  // the view does not look at options
  auto h = TcpHeader::from(*v);
  ASSERT_FALSE(h.ok());
  EXPECT_EQ(h.error(), ParseError::kBadOption);
}

TEST(TcpOptions, SackBlocks) {
  for (uint8_t n = 1; n <= 4; ++n) {
    TcpOptions o;
    o.sack_count = n;
    for (uint8_t i = 0; i < n; ++i)
      o.sack[i] = {SeqNum{1000u * i}, SeqNum{1000u * i + 500}};
    EXPECT_EQ(o.size(), 4u + 8u * n);
    std::vector<std::byte> out(o.size());
    o.emit(out);
    EXPECT_EQ(out[2], std::byte{5});
    EXPECT_EQ(out[3], static_cast<std::byte>(2 + 8 * n));
    auto back = TcpOptions::parse(out);
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(*back, o);
  }
}

TEST(TcpOptions, SackLayoutBesideTimestamps) {
  TcpOptions o;
  o.timestamps = std::pair<uint32_t, uint32_t>{1, 2};
  o.sack_count = 1;
  o.sack[0] = {SeqNum{0x01020304}, SeqNum{0x05060708}};
  constexpr uint8_t kExpected[] = {1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2,
                                   1, 1, 5, 10, 1, 2, 3, 4, 5, 6, 7, 8};
  ASSERT_EQ(o.size(), sizeof kExpected);
  std::vector<std::byte> out(o.size());
  o.emit(out);
  EXPECT_EQ(out, to_vec(kExpected));
}

TEST(TcpOptions, SizeStaysWithin40) {
  TcpOptions o;
  o.timestamps = std::pair<uint32_t, uint32_t>{1, 2};
  o.sack_count = 4;
  EXPECT_EQ(o.emitted_sack_count(), 3);  // RFC 2018 §3: 3 blocks beside timestamps
  EXPECT_EQ(o.size(), 40u);
  o.mss = 1460;
  o.window_scale = 7;
  o.sack_permitted = true;
  EXPECT_EQ(o.emitted_sack_count(), 2);
  EXPECT_EQ(o.size(), 40u);
  std::vector<std::byte> out(40);
  o.emit(out);
  auto back = TcpOptions::parse(out);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->sack_count, 2);
  EXPECT_EQ(back->mss, 1460);
}

TEST(TcpOptions, RoundTripEveryCombination) {
  for (int mask = 0; mask < 32; ++mask) {
    TcpOptions o;
    if (mask & 1) o.mss = 536;
    if (mask & 2) o.window_scale = 14;
    if (mask & 4) o.sack_permitted = true;
    if (mask & 8) o.timestamps = std::pair<uint32_t, uint32_t>{0xdeadbeef, 0xfeedface};
    if (mask & 16) {
      o.sack_count = 1;
      o.sack[0] = {SeqNum{7}, SeqNum{9}};
    }
    const size_t n = o.size();
    EXPECT_EQ(n % 4, 0u) << mask;
    EXPECT_LE(n, 40u) << mask;
    std::vector<std::byte> out(n, std::byte{0xcc});
    o.emit(out);
    auto back = TcpOptions::parse(out);
    ASSERT_TRUE(back.ok()) << mask;
    EXPECT_EQ(*back, o) << mask;
  }
}

}  // namespace
}  // namespace sn
