// The TCP receive buffer: segment text processing (RFC 9293 §3.10.7.4 step 7),
// the out-of-order queue and SACK blocks (RFC 2018 §4).
//
// Invariants:
//   - head_..tail_ is one chain of readable_ bytes; no link in it is empty.
//   - ooo_ are sorted by start, do not overlap, each lies after
//     rcv_nxt_ (between calls) and holds exactly len bytes in `data`; their lens
//     add up to ooo_bytes_, and readable_ + ooo_bytes_ <= limit_.
//   - every out-of-order byte lies before rcv_nxt_ + rcv_wnd().
#include "tcp/recv_buffer.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "base/check.h"

namespace sn {

namespace {

// Drops the first n bytes of a chain, releasing the links they emptied.
// REQUIRES: n < chain_size().
PacketPtr chain_trim_front(PacketPtr chain, uint32_t n) {
  while (n > 0) {
    if (n >= chain->size()) {
      n -= chain->size();
      chain = chain->take_next();  // releases the emptied head alone
    } else {
      chain->trim_front(n);
      n = 0;
    }
  }
  return chain;
}

}  // namespace

RecvBuffer::RecvBuffer(uint32_t limit_bytes, uint32_t max_ooo_segments, PacketPool* split_pool)
    : limit_(limit_bytes), ooo_cap_(max_ooo_segments), split_pool_(split_pool) {
  SN_CHECK(limit_bytes > 0 && limit_bytes <= (1u << 30) && max_ooo_segments > 0);
  ooo_.reserve(ooo_cap_);  // the one allocation, at connection setup
}

void RecvBuffer::reset(SeqNum rcv_nxt) {
  ooo_.clear();
  ooo_bytes_ = 0;
  head_.reset();
  tail_ = nullptr;
  readable_ = 0;
  rcv_nxt_ = rcv_nxt;
}

RecvResult RecvBuffer::receive(SeqNum seq, PacketPtr payload) {
  RecvResult r;
  if (!payload) return r;
  uint32_t len = payload->chain_size();
  if (len == 0) return r;

  // RFC 9293 §3.10.7.4 step 1: "If a segment's contents straddle the boundary
  // between old and new, only the new parts are processed", and "segments with
  // higher beginning sequence numbers may be held for later processing". First
  // what was already received...
  uint32_t old_bytes = 0;
  if (seq < rcv_nxt_) {
    old_bytes = static_cast<uint32_t>(rcv_nxt_ - seq);
    if (old_bytes >= len) {
      r.duplicate = true;
      return r;
    }
    payload = chain_trim_front(std::move(payload), old_bytes);
    len -= old_bytes;
    seq = rcv_nxt_;
  }
  // ...then what lies past RCV.NXT + RCV.WND.
  const uint32_t wnd = rcv_wnd();
  const uint32_t begin = offset(seq);
  if (begin >= wnd) {
    r.beyond_window = len;
    r.duplicate = old_bytes > 0;
    return r;
  }
  uint32_t end = begin + len;
  if (len > wnd - begin) {
    r.beyond_window = len - (wnd - begin);
    end = wnd;
    chain_truncate(*payload, end - begin);
  }

  if (begin > 0) {
    RecvResult q = queue_out_of_order(begin, end, std::move(payload));
    q.beyond_window = r.beyond_window;
    return q;
  }
  // Step 7: "Once in the ESTABLISHED state, it is possible to deliver segment
  // data to user RECEIVE buffers ... RCV.NXT is advanced over the data
  // accepted". Held segments that now follow on are delivered with it.
  const SeqNum before = rcv_nxt_;
  append_readable(std::move(payload));
  rcv_nxt_ += end;
  pull_in_order();
  r.accepted_in_order = static_cast<uint32_t>(rcv_nxt_ - before);
  return r;
}

void RecvBuffer::append_readable(PacketPtr chain) {
  while (chain) {
    PacketPtr rest = chain->take_next();
    const uint32_t n = chain->size();
    if (n == 0) {
      // an empty link: released below
    } else if (tail_ && tail_->tailroom() >= n) {
      // Small segment: copy it into the last packet and free its buffer.
      std::memcpy(tail_->append(n), chain->data(), n);
      readable_ += n;
    } else {
      Packet* raw = chain.get();
      if (tail_)
        tail_->append_chain(std::move(chain));  // tail_ is the last link: O(1)
      else
        head_ = std::move(chain);
      tail_ = raw;
      readable_ += n;
    }
    chain = std::move(rest);
  }
}

void RecvBuffer::pull_in_order() {
  while (!ooo_.empty() && ooo_[0].start <= rcv_nxt_) {
    OooSegment& s = ooo_[0];
    const uint32_t behind = static_cast<uint32_t>(rcv_nxt_ - s.start);
    ooo_bytes_ -= s.len;
    if (behind < s.len) {
      append_readable(chain_trim_front(std::move(s.data), behind));
      rcv_nxt_ += s.len - behind;
    }
    erase_ooo(0, 1);
  }
}

void RecvBuffer::erase_ooo(uint32_t first, uint32_t last) {
  SN_CHECK(first <= last && last <= ooo_count());
  ooo_.erase(ooo_.begin() + first, ooo_.begin() + last);
}

// [begin, end) are offsets from rcv_nxt_, 0 < begin < end <= rcv_wnd().
RecvResult RecvBuffer::queue_out_of_order(uint32_t begin, uint32_t end, PacketPtr data) {
  RecvResult r;
  const uint32_t orig_begin = begin;
  auto seg_begin = [&](uint32_t i) { return offset(ooo_[i].start); };
  auto seg_end = [&](uint32_t i) { return offset(ooo_[i].start) + ooo_[i].len; };

  // i: the first held segment ending after `begin` (ends increase with i).
  uint32_t lo = 0, hi = ooo_count();
  while (lo < hi) {
    const uint32_t mid = lo + (hi - lo) / 2;
    if (seg_end(mid) <= begin)
      lo = mid + 1;
    else
      hi = mid;
  }
  const uint32_t i = lo;
  // Trim the front past held segments that hold `begin` (adjacent ones too).
  uint32_t j = i;
  while (j < ooo_count() && seg_begin(j) <= begin) {
    begin = std::max(begin, seg_end(j));
    ++j;
  }
  if (begin >= end) {
    // Every byte is held already. It still triggers an ACK whose first SACK
    // block must contain it (RFC 2018 §4), so it counts as the latest arrival.
    ooo_[i].stamp = next_stamp_++;
    r.duplicate = true;
    return r;
  }
  // Trim the back before held segments that hold end - 1. k: one past the last
  // held segment starting before `end`.
  uint32_t k = j;
  while (k < ooo_count() && seg_begin(k) < end)
    ++k;
  while (k > j && seg_end(k - 1) >= end) {
    end = seg_begin(k - 1);
    --k;
  }
  // Held segments j..k-1 lie inside [begin, end): this one replaces them.
  SN_CHECK(begin < end);
  if (ooo_count() - (k - j) + 1 > ooo_cap_) {
    r.dropped = true;
    return r;
  }
  uint32_t replaced = 0;
  for (uint32_t x = j; x < k; ++x)
    replaced += ooo_[x].len;
  data = chain_trim_front(std::move(data), begin - orig_begin);
  chain_truncate(*data, end - begin);
  erase_ooo(j, k);
  // Within the reserved capacity (checked above): no allocation.
  ooo_.insert(ooo_.begin() + j,
              OooSegment{rcv_nxt_ + begin, end - begin, next_stamp_++, std::move(data)});
  r.queued_out_of_order = end - begin - replaced;
  ooo_bytes_ += r.queued_out_of_order;
  return r;
}

uint32_t RecvBuffer::read(std::span<std::byte> out) {
  const uint32_t n = static_cast<uint32_t>(std::min<size_t>(out.size(), readable_));
  uint32_t done = 0;
  while (done < n) {
    Packet& h = *head_;
    const uint32_t k = std::min(h.size(), n - done);
    std::memcpy(out.data() + done, h.data(), k);
    done += k;
    if (k == h.size()) {
      head_ = head_->take_next();  // releases the emptied head alone
      if (!head_) tail_ = nullptr;
    } else {
      h.trim_front(k);
    }
  }
  readable_ -= n;
  return n;
}

PacketPtr RecvBuffer::read_chain(uint32_t max) {
  if (readable_ == 0 || max == 0) return nullptr;
  uint32_t taken = 0;
  Packet* last = nullptr;
  for (Packet* p = head_.get(); p && p->size() <= max - taken; p = p->next()) {
    taken += p->size();
    last = p;
  }
  PacketPtr out;
  if (last) {
    PacketPtr rest = last->take_next();
    out = std::move(head_);
    head_ = std::move(rest);
    if (!head_) tail_ = nullptr;
    readable_ -= taken;
  }
  if (taken < max && head_ && split_pool_) {
    // head_ is larger than what is left of max: copy its first bytes into a
    // packet used from its first byte (so that, from the pool head_ came from,
    // it has room for them all).
    PacketPtr part = split_pool_->alloc();
    if (part) {
      part->reset(0);
      const uint32_t n = std::min(max - taken, part->tailroom());
      SN_CHECK(n < head_->size());
      std::memcpy(part->append(n), head_->data(), n);
      head_->trim_front(n);
      readable_ -= n;
      if (last)
        last->append_chain(std::move(part));
      else
        out = std::move(part);
    }
  }
  return out;
}

uint8_t RecvBuffer::sack_blocks(std::span<SackBlock> out, uint8_t max) const {
  const size_t want = std::min<size_t>(max, out.size());
  size_t written = 0;
  uint64_t below = UINT64_MAX;  // stamps are unique: pick runs newest first
  while (written < want) {
    uint64_t best = 0;
    SackBlock block{};
    for (uint32_t i = 0; i < ooo_count();) {
      // A run of adjacent held segments is one block; its age is its newest.
      SeqNum right = ooo_[i].start + ooo_[i].len;
      uint64_t stamp = ooo_[i].stamp;
      uint32_t j = i + 1;
      while (j < ooo_count() && ooo_[j].start == right) {
        right = ooo_[j].start + ooo_[j].len;
        stamp = std::max(stamp, ooo_[j].stamp);
        ++j;
      }
      if (stamp < below && stamp > best) {
        best = stamp;
        block = SackBlock{ooo_[i].start, right};
      }
      i = j;
    }
    if (best == 0) break;
    out[written++] = block;
    below = best;
  }
  return static_cast<uint8_t>(written);
}

}  // namespace sn
