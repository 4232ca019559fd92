// The TCP send buffer: the bytes the application wrote and the peer has not yet
// acknowledged, from SND.UNA to SND.UNA + size() (RFC 9293 §3.3.1, the send
// sequence space). The bytes live in packets from the shard's PacketPool, one
// packet per slot of a ring allocated once at construction, so writing,
// acknowledging and copying segments out never call the general allocator.
//
// Memory held is bounded twice: at most `limit_bytes` bytes of data, and at most
// ring_capacity() packets. The ring holds 2 * ceil(limit / buffer_size) + 2
// slots: write(span) fills every packet before taking the next, so it needs
// only ceil(limit / buffer_size) + 1 of them (a partly acknowledged head and a
// partly filled tail); the rest lets zero-copy chains whose packets are at
// least half full reach the byte limit too.
//
// The sequence space here is data only: SYN and FIN are the connection's. The
// buffer starts at ISS + 1 and an acknowledgment of our FIN is one past end().
#pragma once

#include <cstdint>
#include <memory>
#include <span>

#include "buf/pool.h"
#include "wire/seqnum.h"

namespace sn {

class SendBuffer {
 public:
  // REQUIRES: 0 < limit_bytes <= 2^30 (a window RFC 7323 scaling can express).
  SendBuffer(PacketPool& pool, uint32_t limit_bytes);
  ~SendBuffer();
  SendBuffer(const SendBuffer&) = delete;
  SendBuffer& operator=(const SendBuffer&) = delete;

  // Releases everything held and starts the buffer at `una` (at connection
  // start: ISS + 1, the first data byte after our SYN).
  void reset(SeqNum una);

  // Appends as much of `data` as fits under the byte limit and the ring, and as
  // the pool allows; returns the bytes taken (0..data.size()). Fills the tail
  // packet's tailroom before taking a new packet from the pool.
  uint32_t write(std::span<const std::byte> data);

  // Zero-copy append of a whole chain: takes ownership of its packets (empty
  // links are released) and returns chain_size(), if all of it fits under the
  // byte limit and its non-empty links fit in the free ring slots. Otherwise
  // returns 0 and leaves `chain` with the caller untouched.
  uint32_t write(PacketPtr&& chain);

  uint32_t size() const { return size_; }  // unacknowledged + unsent bytes held
  uint32_t free_space() const { return limit_ - size_; }
  uint32_t limit() const { return limit_; }
  SeqNum una() const { return una_; }
  SeqNum end() const { return una_ + size_; }  // one past the last byte written
  bool empty() const { return size_ == 0; }

  // Builds a new chain holding bytes [seq, seq + len) for (re)transmission,
  // copied into fresh packets from the pool: the first with `headroom` bytes free
  // in front for the headers below, the later ones filled from their first
  // byte. len == 0 gives one empty packet (a segment without data). Returns null
  // if the pool runs out (nothing is left allocated). O(log packets) to find seq.
  // REQUIRES: una() <= seq, seq + len <= end(), headroom <= pool buffer size.
  PacketPtr copy(SeqNum seq, uint32_t len, uint32_t headroom);

  // RFC 9293 §3.10.7.4 step 5 (SND.UNA < SEG.ACK =< SND.NXT: "the send buffer
  // is updated"): the peer acknowledged every byte before `ack`. Releases them
  // (whole packets go back to the pool, a partly acknowledged one is trimmed)
  // and returns how many. An ack outside [una(), end()] is ignored (returns 0):
  // the connection must take the FIN, if acknowledged, off first.
  uint32_t acknowledge(SeqNum ack);

  // Packets held now, and the most the ring can hold.
  uint32_t packets() const { return count_; }
  uint32_t ring_capacity() const { return cap_; }

 private:
  struct Slot {
    PacketPtr pkt;  // a single packet (no `next`), holding at least one byte
    SeqNum start;   // sequence number of pkt->data()[0]
  };
  Slot* slot_at(uint32_t i) const { return ring_.get() + (head_ + i) % cap_; }
  Slot& slot(uint32_t i) { return *slot_at(i); }
  const Slot& slot(uint32_t i) const { return *slot_at(i); }
  void push(PacketPtr p, SeqNum start);
  void pop_front();
  // The index (from the front) of the slot holding the byte `off` bytes past una.
  uint32_t find(uint32_t off) const;

  PacketPool& pool_;
  const uint32_t limit_;
  const uint32_t cap_;
  // cap_ slots of raw storage, the one allocation (at connection setup):
  // only the count_ slots in use from head_ hold constructed Slots, so
  // opening and closing a connection does not walk the whole ring.
  struct FreeStorage {
    void operator()(Slot* p) const { ::operator delete(p); }
  };
  std::unique_ptr<Slot, FreeStorage> ring_;
  uint32_t head_ = 0;   // ring index of the front slot (the packet holding una)
  uint32_t count_ = 0;  // slots in use
  uint32_t size_ = 0;   // bytes held
  SeqNum una_;
};

}  // namespace sn
