// The TCP receive buffer: RFC 9293 §3.10.7.4 step 7 ("process the segment
// text") and the data receiver's side of SACK (RFC 2018 §4). It holds the bytes
// received in order and not yet read by the application (the readable queue),
// and a bounded, sorted queue of out-of-order segments with every byte stored
// once. Bytes stay in the packets they arrived in, so receiving is zero-copy
// (a small segment that fits in the tailroom of the readable queue's last
// packet is copied there and its packet released, so a peer sending tiny
// segments cannot pin a pool buffer per byte).
//
// Bounds: readable + out-of-order bytes <= limit_bytes, and at most
// max_ooo_segments out-of-order segments; nothing here calls the general
// allocator after construction (the out-of-order queue is a fixed array).
//
// The sequence space here is data only: the connection strips the SYN (a SYN
// with data arrives here as seq + 1) and keeps the FIN's sequence number itself
// (a FIN is processed once rcv_nxt() reaches it; RCV.NXT is then rcv_nxt() + 1).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "buf/pool.h"
#include "wire/seqnum.h"
#include "wire/tcp.h"

namespace sn {

struct RecvResult {
  uint32_t accepted_in_order = 0;    // bytes RCV.NXT advanced by (the segment and
                                     // any out-of-order data it joined up with)
  uint32_t queued_out_of_order = 0;  // new bytes held out of order
  bool dropped = false;              // in-window data not stored: the out-of-order queue was full
  bool duplicate = false;            // nothing new: every byte was already received or held
  uint32_t beyond_window = 0;        // bytes trimmed past the right edge of the window
};

class RecvBuffer {
 public:
  // REQUIRES: 0 < limit_bytes <= 2^30, max_ooo_segments > 0. `split_pool`, if
  // given, lets read_chain() split a packet straddling its `max` (see there).
  RecvBuffer(uint32_t limit_bytes, uint32_t max_ooo_segments, PacketPool* split_pool = nullptr);
  ~RecvBuffer() = default;
  RecvBuffer(const RecvBuffer&) = delete;
  RecvBuffer& operator=(const RecvBuffer&) = delete;

  // Releases everything held and starts at `rcv_nxt` (IRS + 1 on a connection).
  void reset(SeqNum rcv_nxt);

  // A segment's payload (a chain, possibly empty or null) starting at `seq`.
  // Trims what was already received and what lies past the right edge of the
  // window, rcv_nxt() + rcv_wnd(). In-order data joins the readable queue, and
  // with it any out-of-order segments that now follow on; out-of-order data is
  // trimmed against what is held (bytes are stored once; held segments it
  // covers entirely are replaced by it) and queued, or dropped when that would
  // make more than max_ooo_segments.
  RecvResult receive(SeqNum seq, PacketPtr payload);

  SeqNum rcv_nxt() const { return rcv_nxt_; }
  uint32_t readable() const { return readable_; }
  // Free space: limit - readable - held out of order.
  uint32_t window() const { return limit_ - readable_ - ooo_bytes_; }
  // The window to advertise (RCV.WND, RFC 9293 §3.8.6): limit - readable. Its
  // right edge never moves left as data arrives (in-order data moves rcv_nxt and
  // readable together), and out-of-order bytes already lie inside it. This, not
  // window(), is the edge receive() trims at: trimming at rcv_nxt + window()
  // would refuse data the peer was allowed to send once anything is held out
  // of order.
  uint32_t rcv_wnd() const { return limit_ - readable_; }
  uint32_t limit() const { return limit_; }

  // Copies up to out.size() readable bytes into `out`, releases them, and
  // returns how many.
  uint32_t read(std::span<std::byte> out);
  // Zero-copy: detaches whole packets from the readable queue, as many as fit
  // in `max` bytes. If that leaves room and a split pool was given, the next
  // packet's first bytes are copied into one fresh packet from it (without
  // headroom) to fill `max` (exactly, if the split pool is the one the
  // segments came from). Returns null if nothing is readable, max is 0, or the first
  // packet is larger than `max` and there is no split pool (or it is empty):
  // read() always makes progress.
  PacketPtr read_chain(uint32_t max);

  // RFC 2018 §4: up to min(max, out.size()) SACK blocks describing the data
  // held out of order, adjacent segments merged into one block. The first block
  // contains the most recently received segment; the others follow, most
  // recently received first. Returns the number written.
  uint8_t sack_blocks(std::span<SackBlock> out, uint8_t max) const;

  uint32_t ooo_segments() const { return ooo_count(); }
  uint32_t ooo_bytes() const { return ooo_bytes_; }
  uint32_t max_ooo_segments() const { return ooo_cap_; }
  bool empty() const { return readable_ == 0 && ooo_.empty(); }

 private:
  struct OooSegment {
    SeqNum start;
    uint32_t len = 0;
    uint64_t stamp = 0;  // when it last arrived: orders the SACK blocks
    PacketPtr data;      // a chain of exactly len bytes
  };
  uint32_t ooo_count() const { return static_cast<uint32_t>(ooo_.size()); }
  uint32_t offset(SeqNum s) const { return static_cast<uint32_t>(s - rcv_nxt_); }
  void append_readable(PacketPtr chain);
  void pull_in_order();  // moves out-of-order segments that now follow on
  void erase_ooo(uint32_t first, uint32_t last);
  RecvResult queue_out_of_order(uint32_t begin, uint32_t end, PacketPtr data);

  const uint32_t limit_;
  const uint32_t ooo_cap_;
  PacketPool* split_pool_;
  // Sorted by start, non-overlapping; its capacity, reserved at
  // construction (unconstructed until used), is ooo_cap_.
  std::vector<OooSegment> ooo_;
  uint32_t ooo_bytes_ = 0;
  uint64_t next_stamp_ = 1;
  PacketPtr head_;  // the readable queue, a chain; tail_ is its last link
  Packet* tail_ = nullptr;
  uint32_t readable_ = 0;
  SeqNum rcv_nxt_;
};

}  // namespace sn
