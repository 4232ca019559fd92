// Packet buffers: fixed-capacity buffers handed out by a per-shard PacketPool,
// with headroom so each layer can prepend its header in place, and a `next` link
// so data larger than one frame travels as a chain. One buffer travels the stack.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

#include "base/check.h"

namespace sn {

class PacketPool;
class Packet;

struct PacketDeleter {
  void operator()(Packet* p) const;
};
// Owns a packet and, through `next`, the rest of its chain.
using PacketPtr = std::unique_ptr<Packet, PacketDeleter>;

class Packet {
 public:
  Packet(const Packet&) = delete;
  Packet& operator=(const Packet&) = delete;

  std::byte* data() { return buf_ + head_; }
  const std::byte* data() const { return buf_ + head_; }
  uint32_t size() const { return len_; }
  std::span<std::byte> bytes() { return {data(), len_}; }
  std::span<const std::byte> bytes() const { return {data(), len_}; }

  uint32_t headroom() const { return head_; }
  uint32_t tailroom() const { return cap_ - head_ - len_; }
  uint32_t capacity() const { return cap_; }

  // Grows the packet at the front and returns the new first byte.
  // REQUIRES: headroom() >= n.
  std::byte* prepend(uint32_t n) {
    SN_CHECK(n <= head_);
    head_ -= n;
    len_ += n;
    return data();
  }
  // Grows the packet at the back and returns the first new byte.
  // REQUIRES: tailroom() >= n.
  std::byte* append(uint32_t n) {
    SN_CHECK(n <= tailroom());
    std::byte* p = data() + len_;
    len_ += n;
    return p;
  }
  // Removes n bytes from the front (a header that has been parsed).
  void trim_front(uint32_t n) {
    SN_CHECK(n <= len_);
    head_ += n;
    len_ -= n;
  }
  // Keeps only the first n bytes (drops link-layer padding, trailing garbage).
  void truncate(uint32_t n) {
    SN_CHECK(n <= len_);
    len_ = n;
  }
  // Empties the packet, leaving `headroom` bytes in front.
  void reset(uint32_t headroom) {
    SN_CHECK(headroom <= cap_);
    head_ = headroom;
    len_ = 0;
  }

  // Chains. The head of a chain owns every later link.
  Packet* next() const { return next_; }
  // Appends `tail` (itself possibly a chain) at the end of this chain.
  void append_chain(PacketPtr tail);
  // Detaches and returns everything after this packet.
  PacketPtr take_next();
  uint32_t chain_size() const;  // bytes in this packet and every later link
  uint32_t chain_count() const;

  // Which interface a received frame came in on, or a sent one goes out of.
  uint16_t iface = 0;
  // The device vouches for the TCP/UDP checksum of a received frame (checked
  // in hardware, or a partial checksum from a sender on this host; see
  // port/partial_csum.h): the stack need not sum the payload again.
  bool l4_csum_ok = false;
  // On a sent frame: its TCP checksum field holds only the folded
  // pseudo-header sum (RFC 1071's partial sum; Linux's CHECKSUM_PARTIAL), for
  // the port to complete or to hand over as partial. The stack sends such a
  // frame only to a port that says it can (Port::tx_l4_csum_offload); it
  // completes the checksum itself for any other.
  bool l4_csum_partial = false;
  // On a sent chain holding one TCP segment longer than its MSS: the payload
  // bytes of each segment it stands for (TSO: the port cuts it, see
  // Port::tx_tso_max); 0 for an ordinary frame.
  uint16_t gso_size = 0;

 private:
  friend class PacketPool;
  friend struct PacketDeleter;
  Packet() = default;

  PacketPool* pool_ = nullptr;  // the pool it goes back to; fixed for life
  std::byte* buf_ = nullptr;
  // While alive: the next link of the chain, owned by this one. While on its
  // pool's remote free stack: the packet below it there (reusing the field is
  // safe: a released packet has no chain, and alloc() resets it).
  Packet* next_ = nullptr;
  uint32_t cap_ = 0;
  uint32_t head_ = 0;
  uint32_t len_ = 0;
  uint32_t index_ = 0;
};

// Copies `out.size()` bytes starting `offset` bytes into the chain.
// REQUIRES: offset + out.size() <= head.chain_size().
void chain_copy_out(const Packet& head, uint32_t offset, std::span<std::byte> out);
// Copies `in` into the chain starting `offset` bytes into it.
// REQUIRES: offset + in.size() <= head.chain_size().
void chain_copy_in(Packet& head, uint32_t offset, std::span<const std::byte> in);
// Keeps the first `n` bytes of the chain and releases the links past them.
void chain_truncate(Packet& head, uint32_t n);

}  // namespace sn
