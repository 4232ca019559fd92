// Tests for the SACK scoreboard (RFC 6675 §4) on hand-built SACK blocks:
// which blocks Update() takes, merging and the capacity bound, IsLost()'s two
// rules, SetPipe() against an octet-by-octet reading of the RFC, and NextSeg()
// rules 1-4.
#include "tcp/scoreboard.h"

#include <gtest/gtest.h>

#include <initializer_list>
#include <vector>

#include "base/rng.h"

namespace sn {
namespace {

using Range = SackScoreboard::Range;
using Rule = SackSegment::Rule;

constexpr uint32_t kSmss = 100;

SackBlock block(uint32_t left, uint32_t right) {
  return {SeqNum{left}, SeqNum{right}};
}

std::vector<Range> ranges(const SackScoreboard& sb) {
  std::vector<Range> v;
  for (uint32_t i = 0; i < sb.size(); ++i)
    v.push_back(sb.range(i));
  return v;
}

Range r(uint32_t start, uint32_t end) {
  return {SeqNum{start}, SeqNum{end}};
}

bool update(SackScoreboard& sb, uint32_t una, uint32_t high_data,
            std::initializer_list<SackBlock> blocks) {
  return sb.update(SeqNum{una}, SeqNum{high_data}, std::span(blocks.begin(), blocks.size()));
}

TEST(SackScoreboard, RecordsBlocksAndMergesThem) {
  SackScoreboard sb;
  EXPECT_TRUE(sb.empty());
  EXPECT_TRUE(update(sb, 1000, 3000, {block(1300, 1400), block(1100, 1200)}));
  EXPECT_EQ(ranges(sb), (std::vector<Range>{r(1100, 1200), r(1300, 1400)}));
  EXPECT_EQ(sb.sacked_bytes(), 200u);
  // The same blocks again are not news (RFC 6675 §2: not a duplicate ACK).
  EXPECT_FALSE(update(sb, 1000, 3000, {block(1100, 1200), block(1300, 1400)}));
  EXPECT_FALSE(update(sb, 1000, 3000, {block(1120, 1180)}));
  // Filling the gap joins all three; touching ranges merge too.
  EXPECT_TRUE(update(sb, 1000, 3000, {block(1200, 1300)}));
  EXPECT_EQ(ranges(sb), (std::vector<Range>{r(1100, 1400)}));
  EXPECT_TRUE(update(sb, 1000, 3000, {block(1400, 1500), block(1050, 1100)}));
  EXPECT_EQ(ranges(sb), (std::vector<Range>{r(1050, 1500)}));
  // One block spanning several ranges and the gaps between.
  EXPECT_TRUE(update(sb, 1000, 3000, {block(1600, 1700), block(1800, 1900)}));
  EXPECT_TRUE(update(sb, 1000, 3000, {block(1450, 1850)}));
  EXPECT_EQ(ranges(sb), (std::vector<Range>{r(1050, 1900)}));
  EXPECT_TRUE(sb.is_sacked(SeqNum{1050}));
  EXPECT_TRUE(sb.is_sacked(SeqNum{1899}));
  EXPECT_FALSE(sb.is_sacked(SeqNum{1900}));
  EXPECT_FALSE(sb.is_sacked(SeqNum{1049}));
}

TEST(SackScoreboard, IgnoresBlocksOutsideUnaToSndMax) {
  SackScoreboard sb;
  EXPECT_FALSE(update(sb, 1000, 2000,
                      {
                          block(900, 1000),   // D-SACK below SND.UNA (RFC 2883)
                          block(1000, 1100),  // starts at SND.UNA: it would be ACKed
                      }));
  EXPECT_FALSE(update(sb, 1000, 2000,
                      {
                          block(1900, 2001),  // past SND.MAX: never sent
                          block(1500, 1500),  // empty
                          block(1600, 1500),  // inverted
                          block(900, 1500),   // straddles SND.UNA
                      }));
  EXPECT_TRUE(sb.empty());
  // A block ending exactly at SND.MAX is fine.
  EXPECT_TRUE(update(sb, 1000, 2000, {block(1900, 2000)}));
  EXPECT_EQ(ranges(sb), (std::vector<Range>{r(1900, 2000)}));
}

TEST(SackScoreboard, ForgetsWhatSndUnaPassesAndRenegedRanges) {
  SackScoreboard sb;
  update(sb, 1000, 3000, {block(1100, 1200), block(1300, 1400), block(1500, 1600)});
  // The cumulative ACK reaches the first range's end.
  EXPECT_FALSE(update(sb, 1200, 3000, {}));
  EXPECT_EQ(ranges(sb), (std::vector<Range>{r(1300, 1400), r(1500, 1600)}));
  // An ACK into the middle of a SACKed range: the receiver has reneged
  // (RFC 2018 §8), so none of that range is trusted any more.
  EXPECT_FALSE(update(sb, 1350, 3000, {}));
  EXPECT_EQ(ranges(sb), (std::vector<Range>{r(1500, 1600)}));
  // An ACK at a range's start is the same.
  EXPECT_FALSE(update(sb, 1500, 3000, {}));
  EXPECT_TRUE(sb.empty());
}

TEST(SackScoreboard, BoundedDropsTheHighestRange) {
  SackScoreboard sb;
  const uint32_t cap = SackScoreboard::kCapacity;
  for (uint32_t i = 0; i < cap; ++i) {
    const uint32_t left = 2000 + 200 * i;
    EXPECT_TRUE(update(sb, 1000, 100'000, {block(left, left + 100)}));
  }
  EXPECT_EQ(sb.size(), cap);
  const Range highest = sb.range(cap - 1);
  // One more above them all is forgotten at once (still news).
  EXPECT_TRUE(update(sb, 1000, 100'000, {block(90'000, 90'100)}));
  EXPECT_EQ(sb.size(), cap);
  EXPECT_EQ(sb.range(cap - 1), highest);
  EXPECT_FALSE(sb.is_sacked(SeqNum{90'000}));
  // One below pushes the highest out.
  EXPECT_TRUE(update(sb, 1000, 100'000, {block(1100, 1200)}));
  EXPECT_EQ(sb.size(), cap);
  EXPECT_EQ(sb.range(0), r(1100, 1200));
  EXPECT_FALSE(sb.is_sacked(highest.start));
  // Merging frees room again.
  EXPECT_TRUE(update(sb, 1000, 100'000, {block(1100, 2150)}));
  EXPECT_EQ(sb.size(), cap - 1);
  EXPECT_EQ(sb.range(0), r(1100, 2150));
  for (uint32_t i = 1; i < sb.size(); ++i)
    EXPECT_LT(sb.range(i - 1).end, sb.range(i).start);
}

TEST(SackScoreboard, IsLostByDiscontiguousRanges) {
  SackScoreboard sb;
  // Three small ranges (a sender of tiny segments): 3 octets SACKed.
  update(sb, 1000, 2000, {block(1100, 1101), block(1200, 1201), block(1300, 1301)});
  EXPECT_TRUE(sb.is_lost(SeqNum{1000}, kSmss));
  EXPECT_TRUE(sb.is_lost(SeqNum{1099}, kSmss));
  EXPECT_FALSE(sb.is_lost(SeqNum{1100}, kSmss));  // only two ranges above
  EXPECT_FALSE(sb.is_lost(SeqNum{1250}, kSmss));
  EXPECT_FALSE(sb.is_lost(SeqNum{1400}, kSmss));
}

TEST(SackScoreboard, IsLostByBytes) {
  SackScoreboard sb;
  // One range of exactly (DupThresh - 1) * SMSS = 200 octets: not enough.
  update(sb, 1000, 2000, {block(1100, 1300)});
  EXPECT_FALSE(sb.is_lost(SeqNum{1000}, kSmss));
  // 201 octets above 1000: "more than (DupThresh - 1) * SMSS bytes".
  update(sb, 1000, 2000, {block(1300, 1301)});
  EXPECT_TRUE(sb.is_lost(SeqNum{1000}, kSmss));
  EXPECT_TRUE(sb.is_lost(SeqNum{1099}, kSmss));
  EXPECT_FALSE(sb.is_lost(SeqNum{1100}, kSmss));  // 200 above
  // A larger SMSS needs more.
  EXPECT_FALSE(sb.is_lost(SeqNum{1000}, 1000));
}

// SetPipe() as RFC 6675 §4 writes it: octet by octet, with IsLost().
uint32_t pipe_by_octet(const SackScoreboard& sb, SeqNum una, SeqNum high_data, SeqNum high_rxt,
                       uint32_t smss) {
  uint32_t pipe = 0;
  for (SeqNum s = una; s < high_data; s += 1) {
    if (sb.is_sacked(s)) continue;
    if (!sb.is_lost(s, smss)) ++pipe;
    if (s < high_rxt) ++pipe;
  }
  return pipe;
}

TEST(SackScoreboard, PipeByRfc6675Example) {
  SackScoreboard sb;
  // Ten segments of 100 sent, 1000..2000; 1000 and 1400 lost, the rest SACKed.
  update(sb, 1000, 2000, {block(1100, 1400), block(1500, 2000)});
  // Both holes are lost (>= 3 segments above each): nothing is in the
  // network until something is retransmitted.
  EXPECT_EQ(sb.pipe(SeqNum{1000}, SeqNum{2000}, SeqNum{1000}, kSmss), 0u);
  // After retransmitting the first hole (HighRxt = 1099).
  EXPECT_EQ(sb.pipe(SeqNum{1000}, SeqNum{2000}, SeqNum{1100}, kSmss), 100u);
  EXPECT_EQ(sb.pipe(SeqNum{1000}, SeqNum{2000}, SeqNum{1500}, kSmss), 200u);
  // Two more segments sent past the SACKed data: not lost, in the network.
  EXPECT_EQ(sb.pipe(SeqNum{1000}, SeqNum{2200}, SeqNum{1500}, kSmss), 400u);
  EXPECT_EQ(sb.pipe(SeqNum{2000}, SeqNum{2000}, SeqNum{2000}, kSmss), 0u);
}

TEST(SackScoreboard, PipeMatchesTheOctetByOctetDefinition) {
  Rng rng(7);
  for (int round = 0; round < 300; ++round) {
    SackScoreboard sb;
    // Near the wrap, half the time.
    const uint32_t base = rng.below(2) ? 0xffff'f000u : 5000u;
    const SeqNum una{base};
    const uint32_t span = 200 + static_cast<uint32_t>(rng.below(3000));
    const SeqNum high_data = una + span;
    const int blocks = static_cast<int>(rng.below(8));
    for (int b = 0; b < blocks; ++b) {
      const uint32_t left = 1 + static_cast<uint32_t>(rng.below(span - 1));
      const uint32_t len = 1 + static_cast<uint32_t>(rng.below(400));
      const SackBlock blk{una + left, una + std::min(span, left + len)};
      sb.update(una, high_data, std::span(&blk, 1));
    }
    const uint32_t smss = 1 + static_cast<uint32_t>(rng.below(300));
    const SeqNum high_rxt = una + static_cast<uint32_t>(rng.below(span + 100));
    ASSERT_EQ(sb.pipe(una, high_data, high_rxt, smss),
              pipe_by_octet(sb, una, high_data, high_rxt, smss))
        << "round " << round;
  }
}

TEST(SackScoreboard, NextSegRule1RetransmitsLostHolesInOrder) {
  SackScoreboard sb;
  // Holes 1000..1100 and 1400..1500 (lost), SACKed 1100..1400, 1500..1800.
  update(sb, 1000, 2000, {block(1100, 1400), block(1500, 1800)});
  NextSegQuery q{.snd_una = SeqNum{1000},
                 .high_data = SeqNum{2000},
                 .high_rxt = SeqNum{1000},
                 .new_data = 500,
                 .smss = kSmss};
  EXPECT_EQ(sb.next_seg(q), (SackSegment{Rule::kLost, SeqNum{1000}, 100}));
  q.high_rxt = SeqNum{1100};  // (C.2) after sending it
  EXPECT_EQ(sb.next_seg(q), (SackSegment{Rule::kLost, SeqNum{1400}, 100}));
  // Then new data (rule 2): the hole 1800..2000 has nothing SACKed above it.
  q.high_rxt = SeqNum{1500};
  EXPECT_EQ(sb.next_seg(q), (SackSegment{Rule::kNewData, SeqNum{2000}, 100}));
  q.new_data = 30;
  EXPECT_EQ(sb.next_seg(q), (SackSegment{Rule::kNewData, SeqNum{2000}, 30}));
}

TEST(SackScoreboard, NextSegSegmentStopsAtSackedData) {
  SackScoreboard sb;
  // A 40-octet hole at 1000 below 300 SACKed octets; a 250-octet hole above.
  update(sb, 1000, 3000, {block(1040, 1340), block(1590, 1900)});
  NextSegQuery q{
      .snd_una = SeqNum{1000}, .high_data = SeqNum{3000}, .high_rxt = SeqNum{1000}, .smss = kSmss};
  EXPECT_EQ(sb.next_seg(q), (SackSegment{Rule::kLost, SeqNum{1000}, 40}));
  EXPECT_EQ(sb.hole_len(SeqNum{1000}, SeqNum{3000}, kSmss), 40u);
  q.high_rxt = SeqNum{1040};
  EXPECT_EQ(sb.next_seg(q), (SackSegment{Rule::kLost, SeqNum{1340}, 100}));
  q.high_rxt = SeqNum{1440};
  EXPECT_EQ(sb.next_seg(q), (SackSegment{Rule::kLost, SeqNum{1440}, 100}));
  q.high_rxt = SeqNum{1540};
  EXPECT_EQ(sb.next_seg(q), (SackSegment{Rule::kLost, SeqNum{1540}, 50}));
  EXPECT_EQ(sb.hole_len(SeqNum{1040}, SeqNum{3000}, kSmss), 0u);  // SACKed
  EXPECT_EQ(sb.hole_len(SeqNum{2950}, SeqNum{3000}, kSmss), 50u);
}

TEST(SackScoreboard, NextSegRule3WhenNothingIsLostOrNew) {
  SackScoreboard sb;
  // One segment SACKed above a hole: not lost yet (reordering, perhaps).
  update(sb, 1000, 1500, {block(1100, 1200)});
  NextSegQuery q{.snd_una = SeqNum{1000},
                 .high_data = SeqNum{1500},
                 .high_rxt = SeqNum{1000},
                 .new_data = 100,
                 .smss = kSmss};
  EXPECT_FALSE(sb.is_lost(SeqNum{1000}, kSmss));
  // New data first (rule 2) ...
  EXPECT_EQ(sb.next_seg(q), (SackSegment{Rule::kNewData, SeqNum{1500}, 100}));
  // ... then the unSACKed hole below the highest SACKed octet (rule 3).
  q.new_data = 0;
  EXPECT_EQ(sb.next_seg(q), (SackSegment{Rule::kUnsacked, SeqNum{1000}, 100}));
  // Never above the highest SACKed octet (1.b): the octets past 1200 are
  // not retransmitted by rule 3. Rule 4 has its say after that.
  q.high_rxt = SeqNum{1100};
  q.rescue_rxt = SeqNum{1100};
  EXPECT_EQ(sb.next_seg(q).rule, Rule::kNone);
}

TEST(SackScoreboard, NextSegRule4RescuesTheTailOncePerRecovery) {
  SackScoreboard sb;
  // 1000..1100 was retransmitted (RescueRxt = HighRxt = 1099) and is now
  // ACKed; 1100..1250 is SACKed; the tail 1250..1500 was lost with nothing
  // sent after it.
  update(sb, 1100, 1500, {block(1150, 1250)});
  NextSegQuery q{.snd_una = SeqNum{1100},
                 .high_data = SeqNum{1500},
                 .high_rxt = SeqNum{1100},
                 .rescue_rxt = SeqNum{1100},
                 .smss = kSmss};
  // 1100..1150: rule 3 first (below the SACKed range).
  EXPECT_EQ(sb.next_seg(q), (SackSegment{Rule::kUnsacked, SeqNum{1100}, 50}));
  q.high_rxt = SeqNum{1150};
  // HighACK (1099) is not above RescueRxt (1099): no rescue yet.
  EXPECT_EQ(sb.next_seg(q).rule, Rule::kNone);
  // Once SND.UNA passes it: one segment ending at the highest unSACKed octet.
  q.snd_una = SeqNum{1101};
  EXPECT_EQ(sb.next_seg(q), (SackSegment{Rule::kRescue, SeqNum{1400}, 100}));
  // The caller sets RescueRxt = RecoveryPoint: no second one.
  q.rescue_rxt = SeqNum{1500};
  EXPECT_EQ(sb.next_seg(q).rule, Rule::kNone);
  // Undefined RescueRxt allows it; the segment stays within its hole.
  SackScoreboard sb2;
  update(sb2, 1000, 1250, {block(1100, 1200)});
  q = {.snd_una = SeqNum{1000}, .high_data = SeqNum{1250}, .high_rxt = SeqNum{1000}, .smss = kSmss};
  EXPECT_EQ(sb2.next_seg(q), (SackSegment{Rule::kUnsacked, SeqNum{1000}, 100}));
  q.high_rxt = SeqNum{1100};
  EXPECT_EQ(sb2.next_seg(q), (SackSegment{Rule::kRescue, SeqNum{1200}, 50}));
}

TEST(SackScoreboard, NextSegRule4DoesNotRescueWhatWasRetransmitted) {
  // SACKed data reaches HighData: the highest unSACKed octet is below it,
  // and once rule 3 has retransmitted it (HighRxt), there is nothing to
  // rescue. RFC 6675 would send 1360..1460 again; we leave it to the RTO.
  SackScoreboard sb;
  update(sb, 1000, 1500, {block(1460, 1500)});
  NextSegQuery q{
      .snd_una = SeqNum{1000}, .high_data = SeqNum{1500}, .high_rxt = SeqNum{1000}, .smss = kSmss};
  EXPECT_EQ(sb.next_seg(q), (SackSegment{Rule::kUnsacked, SeqNum{1000}, 100}));
  q.high_rxt = SeqNum{1100};
  EXPECT_EQ(sb.next_seg(q), (SackSegment{Rule::kUnsacked, SeqNum{1100}, 100}));
  q.high_rxt = SeqNum{1460};
  EXPECT_EQ(sb.next_seg(q).rule, Rule::kNone);
  q.high_rxt = SeqNum{1459};  // one octet of the hole not sent again yet
  EXPECT_EQ(sb.next_seg(q), (SackSegment{Rule::kUnsacked, SeqNum{1459}, 1}));
}

TEST(SackScoreboard, WorksAcrossTheSequenceWrap) {
  SackScoreboard sb;
  const SeqNum una{0xffff'ff00u};
  const SackBlock blocks[] = {{una + 100, una + 400}, {una + 500, una + 600}};
  EXPECT_TRUE(sb.update(una, una + 1000, blocks));
  EXPECT_EQ(sb.size(), 2u);
  EXPECT_TRUE(sb.is_lost(una, kSmss));
  EXPECT_TRUE(sb.is_lost(una + 298, kSmss));   // 201 octets above it
  EXPECT_FALSE(sb.is_lost(una + 299, kSmss));  // 200
  EXPECT_EQ(sb.next_seg({.snd_una = una, .high_data = una + 1000, .high_rxt = una, .smss = kSmss}),
            (SackSegment{Rule::kLost, una, 100}));
  // Not lost: the holes 400..500 and 600..1000.
  EXPECT_EQ(sb.pipe(una, una + 1000, una, kSmss), 500u);
  EXPECT_EQ(sb.skip_sacked(una + 100), una + 400);
  sb.clear();
  EXPECT_TRUE(sb.empty());
}

}  // namespace
}  // namespace sn
