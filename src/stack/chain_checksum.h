// The Internet checksum over a packet chain, piece by piece.
#pragma once

#include "buf/packet.h"
#include "wire/checksum.h"

namespace sn {

// Adds every byte of the chain starting `skip` bytes into its first link.
inline void checksum_chain(Checksum& sum, const Packet& head, uint32_t skip = 0) {
  for (const Packet* p = &head; p; p = p->next()) {
    sum.add(p->bytes().subspan(skip));
    skip = 0;
  }
}

}  // namespace sn
