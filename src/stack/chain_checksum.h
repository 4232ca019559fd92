// The Internet checksum over a packet chain, piece by piece.
#pragma once

#include "buf/packet.h"
#include "wire/bytes.h"
#include "wire/checksum.h"

namespace sn {

// Adds every byte of the chain starting `skip` bytes into its first link.
inline void checksum_chain(Checksum& sum, const Packet& head, uint32_t skip = 0) {
  for (const Packet* p = &head; p; p = p->next()) {
    sum.add(p->bytes().subspan(skip));
    skip = 0;
  }
}

// Completes a partial TCP checksum (Packet::l4_csum_partial) over a segment
// whose data starts at its TCP header: the field holds the pseudo-header's
// sum, so the sum over the whole segment is the one to store.
inline void complete_tcp_checksum(Packet& segment) {
  Checksum sum;
  checksum_chain(sum, segment);
  store16(segment.data() + 16, sum.finish());
  segment.l4_csum_partial = false;
}

}  // namespace sn
