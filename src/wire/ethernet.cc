// Ethernet II framing with 802.1Q / 802.1ad tags.
#include "wire/ethernet.h"

#include "base/check.h"
#include "wire/bytes.h"

namespace sn {
namespace {

bool is_tag_tpid(uint16_t type) {
  return type == kEtherTypeVlan || type == kEtherTypeQinQ;
}

// IEEE 802.3 §3.2.6: values below 0x0600 are a length (an 802.3/LLC frame).
constexpr uint16_t kMinEtherType = 0x0600;

}  // namespace

Parsed<EthernetView> EthernetView::parse(std::span<const std::byte> frame) {
  if (frame.size() < kEthernetHeaderSize) return ParseError::kTruncated;
  size_t type_at = 12;
  uint8_t tags = 0;
  while (is_tag_tpid(load16(frame.data() + type_at))) {
    if (tags == kEthernetMaxTags) return ParseError::kUnsupported;
    // A tag is TPID(2) TCI(2); the next type field follows it.
    if (frame.size() < type_at + kVlanTagSize + 2) return ParseError::kTruncated;
    ++tags;
    type_at += kVlanTagSize;
  }
  if (load16(frame.data() + type_at) < kMinEtherType) return ParseError::kUnsupported;
  return EthernetView(frame, tags);
}

uint16_t EthernetView::ethertype() const {
  return load16(frame_.data() + header_size() - 2);
}

std::optional<uint16_t> EthernetView::vlan_tci() const {
  if (vlan_count_ == 0) return std::nullopt;
  return load16(frame_.data() + header_size() - 4);
}

std::optional<uint16_t> EthernetView::outer_vlan_tci() const {
  if (vlan_count_ == 0) return std::nullopt;
  return load16(frame_.data() + 14);
}

void EthernetHeader::emit(std::span<std::byte> out) const {
  SN_CHECK(out.size() >= size());
  std::byte* p = out.data();
  dst.store(p);
  src.store(p + 6);
  size_t type_at = 12;
  if (vlan_tci) {
    store16(p + 12, kEtherTypeVlan);
    store16(p + 14, *vlan_tci);
    type_at += kVlanTagSize;
  }
  store16(p + type_at, ethertype);
}

EthernetHeader EthernetHeader::from(const EthernetView& view) {
  return EthernetHeader{view.dst(), view.src(), view.vlan_tci(), view.ethertype()};
}

}  // namespace sn
