// IPv4 reassembly (RFC 791 §3.2, RFC 815), bounded: datagrams in flight,
// fragments per datagram and buffers held all have limits, and each datagram
// has a timeout. Overlap policy: an exact duplicate fragment is dropped; any
// other overlap discards the whole datagram (as Linux does since 4.19, and as
// RFC 5722 requires for IPv6), so no overlapping data can be smuggled in.
#pragma once

#include <array>
#include <cstdint>
#include <memory>

#include "base/timer_wheel.h"
#include "buf/packet.h"
#include "stack/config.h"
#include "wire/address.h"

namespace sn {

class Stack;
class Ipv4View;

class Reassembler {
 public:
  static constexpr uint32_t kMaxFragments = 64;

  Reassembler(Stack& stack, const ReassemblyConfig& config);
  ~Reassembler();

  // Takes one fragment: `packet` holds it with data at its IPv4 header,
  // trimmed to its total length; `ip` is the checked view of that header.
  // Returns the whole datagram once the last piece arrives: a chain whose
  // first packet starts with a rebuilt IPv4 header (first fragment's header,
  // unfragmented, checksum recomputed), the others holding the rest in order.
  PacketPtr add(const Ipv4View& ip, PacketPtr packet);

  uint32_t in_flight() const { return in_flight_; }
  uint32_t buffers_held() const { return buffers_held_; }

 private:
  struct Fragment {
    uint16_t offset = 0;       // payload offset in bytes
    uint16_t length = 0;       // payload bytes
    Packet* packet = nullptr;  // owned; data at the payload
  };
  struct Datagram {
    Reassembler* owner = nullptr;
    bool used = false;
    Ipv4Address src, dst;
    uint8_t protocol = 0;
    uint16_t id = 0;
    uint16_t first_header_length = 0;  // of the offset-0 fragment, once seen
    uint32_t total = 0;                // payload length, known once the last fragment is seen
    uint32_t received = 0;             // payload bytes held (fragments never overlap)
    uint32_t count = 0;
    uint64_t started = 0;  // arrival order, for eviction of the oldest
    Timer timer;
    std::array<Fragment, kMaxFragments> frags;  // sorted by offset
  };

  Datagram* find(const Ipv4View& ip);
  Datagram* start(const Ipv4View& ip);
  void discard(Datagram* d);
  void on_timeout(Datagram* d);
  PacketPtr assemble(Datagram* d);
  bool make_room(uint32_t buffers, const Datagram* keep);

  Stack& stack_;
  ReassemblyConfig config_;
  std::unique_ptr<Datagram[]> slots_;
  uint32_t in_flight_ = 0;
  uint32_t buffers_held_ = 0;
  uint64_t next_started_ = 0;
};

}  // namespace sn
