// Ethernet II frames (IEEE 802.3 clause 3.2.6 type field), with up to two VLAN
// tags: 802.1Q (TPID 0x8100) and 802.1ad service tags (TPID 0x88a8). Either TPID
// is accepted in either position. The FCS is not ours: ports strip it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "wire/address.h"
#include "wire/parse.h"

namespace sn {

inline constexpr uint16_t kEtherTypeIpv4 = 0x0800;
inline constexpr uint16_t kEtherTypeArp = 0x0806;
inline constexpr uint16_t kEtherTypeVlan = 0x8100;  // IEEE 802.1Q C-tag
inline constexpr uint16_t kEtherTypeQinQ = 0x88a8;  // IEEE 802.1ad S-tag
inline constexpr size_t kEthernetHeaderSize = 14;
inline constexpr size_t kVlanTagSize = 4;
inline constexpr size_t kEthernetMaxTags = 2;
// Smallest frame on the wire without its FCS: shorter frames are zero-padded.
inline constexpr size_t kEthernetMinFrameSize = 60;

class EthernetView {
 public:
  // Short -> kTruncated; a type/length field below 0x0600 (an 802.3 length) or
  // more than two tags -> kUnsupported.
  static Parsed<EthernetView> parse(std::span<const std::byte> frame);

  MacAddress dst() const { return MacAddress::load(frame_.data()); }
  MacAddress src() const { return MacAddress::load(frame_.data() + 6); }
  uint16_t ethertype() const;  // the inner type, after any tags
  uint8_t vlan_count() const { return vlan_count_; }
  std::optional<uint16_t> vlan_tci() const;        // the innermost tag's TCI
  std::optional<uint16_t> outer_vlan_tci() const;  // the outermost tag's TCI
  size_t header_size() const { return kEthernetHeaderSize + kVlanTagSize * vlan_count_; }
  std::span<const std::byte> payload() const { return frame_.subspan(header_size()); }
  std::span<const std::byte> bytes() const { return frame_; }

 private:
  EthernetView(std::span<const std::byte> frame, uint8_t vlan_count)
      : frame_(frame), vlan_count_(vlan_count) {}

  std::span<const std::byte> frame_;
  uint8_t vlan_count_ = 0;
};

// The header we send: one optional 802.1Q tag.
struct EthernetHeader {
  MacAddress dst, src;
  std::optional<uint16_t> vlan_tci;  // emitted with TPID 0x8100
  uint16_t ethertype = 0;

  size_t size() const { return kEthernetHeaderSize + (vlan_tci ? kVlanTagSize : 0); }
  // REQUIRES: out.size() >= size(). Writes size() bytes.
  void emit(std::span<std::byte> out) const;
  // Keeps the innermost tag only: a double-tagged frame loses its outer tag.
  static EthernetHeader from(const EthernetView& view);

  bool operator==(const EthernetHeader&) const = default;
};

}  // namespace sn
