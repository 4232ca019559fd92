// The data sender's SACK scoreboard (RFC 6675 §3, §4): which octets above
// SND.UNA the receiver has said it holds (RFC 2018 SACK blocks), and the
// RFC 6675 §4 routines built on it: Update(), IsLost(), SetPipe() and
// NextSeg(). The §5 loss recovery procedure that drives them, with
// RecoveryPoint, HighRxt and RescueRxt, is the connection's
// (connection_input.cc, connection_output.cc).
//
// Half-open sequence numbers throughout. RFC 6675 §2 names octets (HighACK is
// the highest octet cumulatively acknowledged, HighData the highest sent,
// HighRxt the highest retransmitted, RescueRxt the rescue's); we pass one past
// each, which is what the connection keeps anyway:
//   snd_una    = HighACK + 1    (SND.UNA)
//   high_data  = HighData + 1   (SND.MAX)
//   high_rxt   = HighRxt + 1    (SND.UNA when recovery starts: "HighRxt = HighACK")
//   rescue_rxt = RescueRxt + 1
//
// Bounds: at most kCapacity disjoint, non-adjacent ranges, sorted, in a fixed
// array. When one more range would not fit, the highest is forgotten: its
// octets count as not SACKed, which is conservative (they may be sent again,
// and they weigh nothing in IsLost), and the ranges nearest SND.UNA, where the
// holes to repair are, stay exact. A value type; nothing allocates.
//
// After an RTO the connection clears it. RFC 6675 §5.1 leaves RFC 2018 §8 in
// place (a sender SHOULD expunge SACK information on a timeout, the receiver
// may have reneged, and MUST ignore it in choosing what to retransmit); it
// only notes that a sender with robust reneging tests may keep it, which we do
// not have. The ACKs after the RTO fill it again, and go-back-N skips what
// they SACK (§5.1: "utilize all SACK information made available during the
// loss recovery following an RTO").
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>

#include "wire/seqnum.h"
#include "wire/tcp.h"

namespace sn {

// NextSeg()'s answer (RFC 6675 §4): which rule chose the segment, and its
// range [seq, seq + len). kNone: nothing to send.
struct SackSegment {
  enum class Rule : uint8_t {
    kNone,
    kLost,      // rule 1: the first lost hole above HighRxt
    kNewData,   // rule 2: unsent data, starting at HighData + 1
    kUnsacked,  // rule 3: the first unSACKed hole above HighRxt, not (yet) lost
    kRescue,    // rule 4: one rescue retransmission per recovery
  };
  Rule rule = Rule::kNone;
  SeqNum seq;
  uint32_t len = 0;
  bool operator==(const SackSegment&) const = default;
};

// What NextSeg() needs from the sender, in the conventions above.
struct NextSegQuery {
  SeqNum snd_una;
  SeqNum high_data;
  SeqNum high_rxt;
  std::optional<SeqNum> rescue_rxt = std::nullopt;  // RescueRxt undefined
  // Octets of unsent data the sender may send now (the peer's window, sender
  // SWS avoidance and Nagle allow; a FIN counts 1): rule 2 when non-zero.
  uint32_t new_data = 0;
  uint32_t smss = 0;  // REQUIRES: > 0
};

class SackScoreboard {
 public:
  static constexpr uint32_t kCapacity = 32;
  static constexpr uint32_t kDupThresh = 3;  // RFC 6675 §2 DupThresh (RFC 5681 §3.2)

  struct Range {
    SeqNum start, end;  // [start, end), non-empty
    bool operator==(const Range&) const = default;
  };

  // Update() (§4): forgets what SND.UNA has passed, then records each block
  // that lies in (snd_una, high_data]: snd_una < left < right <= high_data.
  // Other blocks are ignored: D-SACK (RFC 2883) and stale blocks at or below
  // SND.UNA, blocks reaching past what was sent, empty or inverted blocks. A
  // range that SND.UNA has reached but not passed is forgotten whole: the
  // receiver no longer holds its first octet, it has reneged (RFC 2018 §8).
  // Returns true if a block SACKed an octet not SACKed before: RFC 6675 §2's
  // "duplicate acknowledgment".
  bool update(SeqNum snd_una, SeqNum high_data, std::span<const SackBlock> blocks);
  // Forgets everything (after an RTO; see Connection::on_rto).
  void clear() { count_ = 0; }

  bool empty() const { return count_ == 0; }
  uint32_t size() const { return count_; }
  // REQUIRES: i < size(). Ranges are sorted, lowest first.
  Range range(uint32_t i) const { return ranges_[i]; }
  uint32_t sacked_bytes() const;
  bool is_sacked(SeqNum s) const;

  // IsLost(s) (§4): DupThresh discontiguous SACKed ranges lie (at least in
  // part) above s, or more than (DupThresh - 1) * SMSS SACKed octets do. The
  // RFC counts discontiguous "sequences"; without segment boundaries we count
  // ranges, and the byte rule covers full-sized segments that arrived in order.
  bool is_lost(SeqNum s, uint32_t smss) const;

  // SetPipe() (§4): over the unSACKed octets in [snd_una, high_data), one for
  // each that IsLost() does not call lost, plus one for each below high_rxt
  // (retransmitted in this recovery). O(size()).
  uint32_t pipe(SeqNum snd_una, SeqNum high_data, SeqNum high_rxt, uint32_t smss) const;

  // NextSeg() (§4), rules 1-4. Rules 1 and 3 return up to SMSS octets of one
  // hole (never SACKed octets); rule 4 returns up to SMSS octets ending at the
  // highest unSACKed octet, if SND.UNA has passed RescueRxt (the caller then
  // sets RescueRxt = RecoveryPoint, and leaves HighRxt alone) and, unlike the
  // RFC, only if that octet is above HighRxt (not retransmitted already).
  SackSegment next_seg(const NextSegQuery& q) const;

  // The first segment of the hole starting at `s` (§5 step 4.3): up to SMSS
  // octets, ending where the next SACKed range starts or at high_data. 0 octets
  // if s is SACKed or not below high_data.
  uint32_t hole_len(SeqNum s, SeqNum high_data, uint32_t smss) const;
  // The first octet at or after s that is not SACKed.
  SeqNum skip_sacked(SeqNum s) const;

 private:
  // Octets in [from, to) covered by ranges.
  uint32_t sacked_in(SeqNum from, SeqNum to) const;
  // One past the highest octet IsLost() calls lost (every octet below it is:
  // IsLost is monotone), or nullopt if none is.
  std::optional<SeqNum> lost_end(uint32_t smss) const;
  // Where the first range above s starts, or `limit` if none starts below it.
  SeqNum next_start(SeqNum s, SeqNum limit) const;
  bool insert(SeqNum left, SeqNum right);

  std::array<Range, kCapacity> ranges_{};
  uint32_t count_ = 0;
};

}  // namespace sn
