// Where a connection's segments go: the connection fills in the whole TCP
// header (ports, seq, ack, flags, window, options) and hands over the payload;
// the stack adds IP and sends it. Tests capture segments through it.
#pragma once

#include "buf/packet.h"
#include "wire/tcp.h"

namespace sn {

struct SegmentSink {
  virtual ~SegmentSink() = default;
  // `payload` is the segment's data as a chain, or null for none. Its first
  // packet has headroom for the headers below.
  virtual void send(const TcpHeader& h, PacketPtr payload) = 0;
};

}  // namespace sn
