// SipHash-2-4 (Aumasson and Bernstein, "SipHash: a fast short-input PRF", 2012):
// a keyed 64-bit hash for short inputs, strong enough that an attacker who sees
// outputs cannot predict others without the key. TCP uses it as the F of RFC
// 6528 ISNs (isn.h) and, later, for SYN cookies. The key is handed in as bytes:
// nothing here chooses or keeps a secret.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

namespace sn {

using SipKey = std::array<uint8_t, 16>;

// SipHash-2-4 of `data` under `key`, as the reference implementation defines it:
// k0 and k1 are the key's two halves read little-endian, and the 64-bit result
// is the value whose little-endian bytes are the reference's 8-byte output.
uint64_t siphash24(const SipKey& key, std::span<const std::byte> data);

}  // namespace sn
