// Fuzzes the receive path of one shard: the input is a sequence of frames,
// each with a delay before it, fed to a fresh stack with a UDP echo service.
// Besides the sanitizers, it checks two invariants: every frame the stack
// transmits parses cleanly with valid checksums, and once time has run out
// every packet buffer is back in the pool.
//
// Input records: [delay_ms: u8][length: u16 big-endian][frame bytes].
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "base/check.h"
#include "stack/chain_checksum.h"
#include "stack/stack.h"
#include "wire/arp.h"
#include "wire/bytes.h"
#include "wire/ethernet.h"
#include "wire/icmp.h"
#include "wire/ipv4.h"
#include "wire/udp.h"

namespace sn {
namespace {

const MacAddress kOurMac{{0x02, 0, 0, 0, 0, 2}};
const MacAddress kPeerMac{{0x02, 0, 0, 0, 0, 1}};

// A port that receives nothing and checks everything sent to it.
class CheckingPort final : public Port {
 public:
  size_t rx_burst(PacketPool&, std::span<PacketPtr>, Instant) override { return 0; }
  size_t tx_burst(std::span<PacketPtr> frames, Instant) override {
    for (PacketPtr& f : frames) {
      check(*f);
      f.reset();
    }
    return frames.size();
  }
  MacAddress mac() const override { return kOurMac; }
  uint32_t mtu() const override { return 1500; }
  const PortCounters& counters() const override { return counters_; }

 private:
  static void check(const Packet& frame) {
    SN_CHECK(frame.next() == nullptr);
    SN_CHECK(frame.size() <= 1514);
    auto eth = EthernetView::parse(frame.bytes());
    SN_CHECK(eth.ok());
    if (eth->ethertype() == kEtherTypeArp) {
      SN_CHECK(ArpPacket::parse(eth->payload()).ok());
      return;
    }
    SN_CHECK(eth->ethertype() == kEtherTypeIpv4);
    auto ip = Ipv4View::parse(eth->payload());
    SN_CHECK(ip.ok());
    SN_CHECK(ip->checksum_ok());
    // Exactly the datagram, or padded with zeros to the Ethernet minimum.
    SN_CHECK(ip->total_length() == eth->payload().size() || frame.size() == kEthernetMinFrameSize);
    for (size_t i = ip->total_length(); i < eth->payload().size(); ++i)
      SN_CHECK(eth->payload()[i] == std::byte{0});
    if (ip->is_fragment()) return;  // the transport checksum spans fragments
    if (ip->protocol() == kIpProtoUdp) {
      auto udp = UdpView::parse(ip->payload());
      SN_CHECK(udp.ok());
      SN_CHECK(udp->checksum_ok(ip->src(), ip->dst()));
    } else if (ip->protocol() == kIpProtoIcmp) {
      auto icmp = IcmpView::parse(ip->payload());
      SN_CHECK(icmp.ok());
      SN_CHECK(icmp->checksum_ok());
    }
  }
  PortCounters counters_;
};

void echo(void*, UdpSocket& s) {
  while (auto d = s.recv())
    (void)s.send_to(d->src, d->src_port, std::move(d->data));
}

}  // namespace
}  // namespace sn

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace sn;
  PacketPool pool(PoolConfig{256, 2048, 128});
  CheckingPort port;
  StackConfig config;
  config.reassembly.max_datagrams = 8;
  config.reassembly.max_buffers = 96;
  config.reassembly.max_fragments = 48;
  config.arp.cache_size = 8;
  config.arp.pending_total = 32;
  Instant now = Instant::from_ns(1'000'000'000);
  {
    Stack stack(config, pool, now, 1);
    stack.add_interface(port, *Ipv4Prefix::parse("10.0.0.2/24"));
    stack.arp().learn(0, *Ipv4Address::parse("10.0.0.1"), kPeerMac);
    auto sock = stack.udp().bind(Ipv4Address::any(), L4Port(7));
    (*sock)->set_on_readable(echo, nullptr);
    stack.start(now);

    size_t at = 0;
    while (at + 3 <= size) {
      now += Duration::millis(data[at]);
      size_t len = (size_t{data[at + 1]} << 8) | data[at + 2];
      at += 3;
      len = std::min(len, size - at);
      PacketPtr frame = pool.alloc();
      if (!frame) break;
      len = std::min<size_t>(len, frame->tailroom());
      std::memcpy(frame->append(static_cast<uint32_t>(len)), data + at, len);
      at += len;
      stack.receive(std::move(frame), now);
      stack.poll(now);
    }
    // Let every timer run out (reassembly, ARP retries), then check for leaks.
    for (int i = 0; i < 4; ++i) {
      now += Duration::seconds(40);
      stack.poll(now);
    }
    SN_CHECK(stack.ipv4().reassembler().in_flight() == 0);
    SN_CHECK(stack.arp().pending_packets() == 0);
  }
  SN_CHECK(pool.available() == pool.capacity());
  return 0;
}
