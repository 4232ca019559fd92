// The TCP send buffer: a ring of (packet, starting sequence number) from SND.UNA
// to the last byte written.
//
// Invariants:
//   - slot(0).start == una_ when count_ > 0, and each slot starts where the one
//     before it ends; the sizes of the packets add up to size_ <= limit_.
//   - every packet in the ring is a single link holding at least one byte.
#include "tcp/send_buffer.h"

#include <algorithm>
#include <cstring>
#include <memory>
#include <new>

#include "base/check.h"

namespace sn {

namespace {

uint32_t ring_slots(const PacketPool& pool, uint32_t limit) {
  const uint32_t per_packet = pool.buffer_size();
  return 2 * ((limit + per_packet - 1) / per_packet) + 2;
}

}  // namespace

SendBuffer::SendBuffer(PacketPool& pool, uint32_t limit_bytes)
    : pool_(pool), limit_(limit_bytes), cap_(ring_slots(pool, limit_bytes)) {
  SN_CHECK(limit_bytes > 0 && limit_bytes <= (1u << 30));
  ring_.reset(static_cast<Slot*>(::operator new(sizeof(Slot) * cap_)));
}

SendBuffer::~SendBuffer() {
  while (count_ > 0)
    pop_front();
}

void SendBuffer::reset(SeqNum una) {
  while (count_ > 0)
    pop_front();
  head_ = 0;
  size_ = 0;
  una_ = una;
}

void SendBuffer::push(PacketPtr p, SeqNum start) {
  SN_CHECK(count_ < cap_ && p->next() == nullptr && p->size() > 0);
  std::construct_at(slot_at(count_), Slot{std::move(p), start});
  ++count_;
}

void SendBuffer::pop_front() {
  SN_CHECK(count_ > 0);
  std::destroy_at(slot_at(0));
  head_ = (head_ + 1) % cap_;
  --count_;
}

uint32_t SendBuffer::write(std::span<const std::byte> data) {
  const uint32_t want = static_cast<uint32_t>(std::min<size_t>(data.size(), free_space()));
  uint32_t taken = 0;
  if (want > 0 && count_ > 0) {
    Packet& tail = *slot(count_ - 1).pkt;
    const uint32_t n = std::min(want, tail.tailroom());
    if (n > 0) std::memcpy(tail.append(n), data.data(), n);
    size_ += n;
    taken = n;
  }
  while (taken < want && count_ < cap_) {
    PacketPtr p = pool_.alloc();
    if (!p) break;  // counted in pool_.exhausted; the caller sees a short count
    p->reset(0);    // data only: copy() builds the segments that carry headers
    const uint32_t n = std::min(want - taken, p->tailroom());
    std::memcpy(p->append(n), data.data() + taken, n);
    push(std::move(p), end());
    size_ += n;
    taken += n;
  }
  return taken;
}

uint32_t SendBuffer::write(PacketPtr&& chain) {
  if (!chain) return 0;
  uint32_t bytes = 0;
  uint32_t links = 0;
  for (const Packet* p = chain.get(); p; p = p->next()) {
    bytes += p->size();
    links += p->size() > 0;
  }
  if (bytes == 0 || bytes > free_space() || links > cap_ - count_) return 0;
  PacketPtr p = std::move(chain);
  while (p) {
    PacketPtr rest = p->take_next();
    if (p->size() > 0) {
      const uint32_t n = p->size();
      push(std::move(p), end());
      size_ += n;
    }
    p = std::move(rest);  // releases an empty link
  }
  return bytes;
}

uint32_t SendBuffer::find(uint32_t off) const {
  // The last slot whose start is at or before `off`: a binary search on the
  // starts, which increase from una_ (offsets from una_ cannot wrap).
  SN_CHECK(off < size_);
  uint32_t lo = 0, hi = count_;  // answer in [lo, hi)
  while (hi - lo > 1) {
    const uint32_t mid = lo + (hi - lo) / 2;
    if (static_cast<uint32_t>(slot(mid).start - una_) <= off)
      lo = mid;
    else
      hi = mid;
  }
  return lo;
}

PacketPtr SendBuffer::copy(SeqNum seq, uint32_t len, uint32_t headroom) {
  const uint32_t off = static_cast<uint32_t>(seq - una_);
  SN_CHECK(una_ <= seq && off <= size_ && len <= size_ - off);
  PacketPtr head = pool_.alloc();
  if (!head) return nullptr;
  head->reset(headroom);
  Packet* out = head.get();
  uint32_t i = len > 0 ? find(off) : 0;
  uint32_t in_off = len > 0 ? off - static_cast<uint32_t>(slot(i).start - una_) : 0;
  uint32_t left = len;
  while (left > 0) {
    if (out->tailroom() == 0) {
      PacketPtr more = pool_.alloc();
      if (!more) return nullptr;  // releases the partial chain
      more->reset(0);
      Packet* raw = more.get();
      out->append_chain(std::move(more));  // `out` is the last link: O(1)
      out = raw;
    }
    const Packet& src = *slot(i).pkt;
    const uint32_t n = std::min({left, out->tailroom(), src.size() - in_off});
    std::memcpy(out->append(n), src.data() + in_off, n);
    left -= n;
    in_off += n;
    if (in_off == src.size()) {
      ++i;
      in_off = 0;
    }
  }
  return head;
}

uint32_t SendBuffer::acknowledge(SeqNum ack) {
  if (ack < una_ || ack > end()) return 0;
  const uint32_t acked = static_cast<uint32_t>(ack - una_);
  uint32_t left = acked;
  while (left > 0) {
    Slot& front = slot(0);
    const uint32_t n = front.pkt->size();
    if (left >= n) {
      pop_front();
      left -= n;
    } else {
      front.pkt->trim_front(left);
      front.start += left;
      left = 0;
    }
  }
  size_ -= acked;
  una_ = ack;
  return acked;
}

}  // namespace sn
