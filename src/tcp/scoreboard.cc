// The sender's SACK scoreboard: RFC 6675 §4's Update(), IsLost(), SetPipe()
// and NextSeg() over a small sorted array of SACKed ranges.
#include "tcp/scoreboard.h"

#include <algorithm>

namespace sn {

namespace {

uint32_t distance(SeqNum from, SeqNum to) {
  return static_cast<uint32_t>(to - from);
}

// Octets [from, to) and [start, end) have in common.
uint32_t overlap(SeqNum from, SeqNum to, SeqNum start, SeqNum end) {
  const SeqNum lo = seq_max(from, start);
  const SeqNum hi = seq_min(to, end);
  return lo < hi ? distance(lo, hi) : 0;
}

}  // namespace

bool SackScoreboard::update(SeqNum snd_una, SeqNum high_data, std::span<const SackBlock> blocks) {
  // What SND.UNA has reached is acknowledged (or, for a range it reached but
  // did not pass, reneged). Ranges are sorted and disjoint, so these are a
  // prefix.
  uint32_t gone = 0;
  while (gone < count_ && ranges_[gone].start <= snd_una)
    ++gone;
  if (gone > 0) {
    std::copy(ranges_.begin() + gone, ranges_.begin() + count_, ranges_.begin());
    count_ -= gone;
  }
  bool news = false;
  for (const SackBlock& b : blocks) {
    // Only blocks within (SND.UNA, SND.MAX]. As FreeBSD's tcp_sack_doack
    // does, a block must start above SND.UNA: one that starts at or below it
    // is a D-SACK (RFC 2883 §4), stale, or a lie, and tells nothing about the
    // holes. One that ends past SND.MAX SACKs data never sent.
    if (!(snd_una < b.left && b.left < b.right && b.right <= high_data)) continue;
    if (insert(b.left, b.right)) news = true;
  }
  return news;
}

bool SackScoreboard::insert(SeqNum left, SeqNum right) {
  // ranges_[i, j) overlap or touch [left, right): they merge with it.
  uint32_t i = 0;
  while (i < count_ && ranges_[i].end < left)
    ++i;
  uint32_t j = i;
  uint32_t covered = 0;
  while (j < count_ && ranges_[j].start <= right) {
    covered += overlap(left, right, ranges_[j].start, ranges_[j].end);
    ++j;
  }
  const bool news = covered < distance(left, right);
  if (i == j) {
    if (count_ == kCapacity) {
      // Full: forget the highest range, which may be this one.
      if (i == count_) return news;
      --count_;
    }
    std::copy_backward(ranges_.begin() + i, ranges_.begin() + count_, ranges_.begin() + count_ + 1);
    ranges_[i] = {left, right};
    ++count_;
    return news;
  }
  ranges_[i] = {seq_min(left, ranges_[i].start), seq_max(right, ranges_[j - 1].end)};
  std::copy(ranges_.begin() + j, ranges_.begin() + count_, ranges_.begin() + i + 1);
  count_ -= j - i - 1;
  return news;
}

uint32_t SackScoreboard::sacked_bytes() const {
  uint32_t n = 0;
  for (uint32_t i = 0; i < count_; ++i)
    n += distance(ranges_[i].start, ranges_[i].end);
  return n;
}

bool SackScoreboard::is_sacked(SeqNum s) const {
  for (uint32_t i = 0; i < count_; ++i)
    if (ranges_[i].start <= s && s < ranges_[i].end) return true;
  return false;
}

uint32_t SackScoreboard::sacked_in(SeqNum from, SeqNum to) const {
  if (!(from < to)) return 0;
  uint32_t n = 0;
  for (uint32_t i = 0; i < count_; ++i)
    n += overlap(from, to, ranges_[i].start, ranges_[i].end);
  return n;
}

bool SackScoreboard::is_lost(SeqNum s, uint32_t smss) const {
  const uint64_t threshold = uint64_t{kDupThresh - 1} * smss;
  uint32_t ranges = 0;
  uint64_t bytes = 0;
  for (uint32_t i = count_; i-- > 0;) {
    const Range& r = ranges_[i];
    if (r.end - 1 <= s) break;  // no octet of r (or below it) lies above s
    bytes += distance(seq_max(r.start, s + 1), r.end);
    ++ranges;
    if (ranges >= kDupThresh || bytes > threshold) return true;
  }
  return false;
}

std::optional<SeqNum> SackScoreboard::lost_end(uint32_t smss) const {
  const uint32_t threshold = (kDupThresh - 1) * smss;
  uint32_t above = 0;  // SACKed octets in the ranges above ranges_[i]
  for (uint32_t n = 1; n <= count_; ++n) {
    const Range& r = ranges_[count_ - n];
    // With r, kDupThresh ranges have an octet above every s < r.end - 1.
    if (n >= kDupThresh) return r.end - 1;
    // More than `threshold` octets lie above s when (r.end - 1 - s) + above
    // > threshold, that is s < r.end - 1 - (threshold - above) (which is not
    // below r.start, since r has more than threshold - above octets).
    const uint32_t len = distance(r.start, r.end);
    if (uint64_t{above} + len > threshold) return r.end - 1 - (threshold - above);
    above += len;
  }
  return std::nullopt;
}

uint32_t SackScoreboard::pipe(SeqNum snd_una, SeqNum high_data, SeqNum high_rxt,
                              uint32_t smss) const {
  if (!(snd_una < high_data)) return 0;
  // (a) "If IsLost (S1) returns false: Pipe is incremented by 1 octet": the
  // unSACKed octets from where IsLost() stops calling them lost.
  SeqNum from = snd_una;
  if (const std::optional<SeqNum> e = lost_end(smss))
    from = seq_min(seq_max(*e, snd_una), high_data);
  uint32_t pipe = distance(from, high_data) - sacked_in(from, high_data);
  // (b) "If S1 <= HighRxt: Pipe is incremented by 1 octet": retransmitted
  // octets count (again: lost ones for the first time).
  const SeqNum rxt_end = seq_min(high_rxt, high_data);
  if (snd_una < rxt_end) pipe += distance(snd_una, rxt_end) - sacked_in(snd_una, rxt_end);
  return pipe;
}

SeqNum SackScoreboard::next_start(SeqNum s, SeqNum limit) const {
  for (uint32_t i = 0; i < count_; ++i)
    if (s < ranges_[i].start) return seq_min(ranges_[i].start, limit);
  return limit;
}

SeqNum SackScoreboard::skip_sacked(SeqNum s) const {
  // Ranges never touch, so one step is enough.
  for (uint32_t i = 0; i < count_; ++i)
    if (ranges_[i].start <= s && s < ranges_[i].end) return ranges_[i].end;
  return s;
}

uint32_t SackScoreboard::hole_len(SeqNum s, SeqNum high_data, uint32_t smss) const {
  if (!(s < high_data) || is_sacked(s)) return 0;
  return std::min(smss, distance(s, next_start(s, high_data)));
}

SackSegment SackScoreboard::next_seg(const NextSegQuery& q) const {
  using Rule = SackSegment::Rule;
  // Rules 1 and 3 look at the first unSACKed octet above HighRxt (1.a), if it
  // is "less than the highest octet covered by any received SACK" (1.b): for
  // an unSACKed octet, below where the highest range starts.
  const SeqNum s2 = skip_sacked(seq_max(q.snd_una, q.high_rxt));
  const bool below_sacked = !empty() && s2 < ranges_[count_ - 1].start;
  // Rule 1: ... and IsLost (S2) (1.c).
  if (below_sacked && is_lost(s2, q.smss))
    return {Rule::kLost, s2, hole_len(s2, q.high_data, q.smss)};
  // Rule 2: "available unsent data and the receiver's advertised window
  // allows": the caller's new_data.
  if (q.new_data > 0) return {Rule::kNewData, q.high_data, std::min(q.new_data, q.smss)};
  // Rule 3: (1.a) and (1.b) without (1.c). It keeps the ACK clock going when
  // there is nothing new to send; the octets are probably still in flight.
  if (below_sacked) return {Rule::kUnsacked, s2, hole_len(s2, q.high_data, q.smss)};
  // Rule 4: "If HighACK is greater than RescueRxt (or RescueRxt is
  // undefined), then one segment of upto SMSS octets that MUST include the
  // highest outstanding unSACKed sequence number". For a lost tail, which no
  // SACK above it will ever reveal.
  if (!(q.snd_una < q.high_data)) return {};
  if (q.rescue_rxt && !(q.snd_una > *q.rescue_rxt)) return {};
  SeqNum hi = q.high_data;  // one past the highest unSACKed octet
  SeqNum lo = q.snd_una;    // where its hole starts
  for (uint32_t i = count_; i-- > 0;) {
    const Range& r = ranges_[i];
    if (hi <= r.start) continue;
    if (hi <= r.end) {
      hi = r.start;
      continue;
    }
    lo = seq_max(lo, r.end);
    break;
  }
  if (!(lo < hi)) return {};  // cannot be: SND.UNA is never SACKed
  // Where we differ: not if that octet was retransmitted in this recovery
  // already (it is below HighRxt). The RFC would send it again, most likely
  // while the retransmission is still in flight; a lost retransmission is
  // left to the RTO, as everywhere else in RFC 6675. So the rescue is for a
  // tail above everything SACKed and retransmitted, which rule 3 cannot reach.
  if (hi <= q.high_rxt) return {};
  const SeqNum start = distance(lo, hi) > q.smss ? hi - q.smss : lo;
  return {Rule::kRescue, start, distance(start, hi)};
}

}  // namespace sn
