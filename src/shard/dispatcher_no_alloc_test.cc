// The dispatcher's data path does not call the general allocator: deciding
// frames (every class, both hashes, malformed ones) and the tuple path run
// without one operator new.
//
// base/alloc_testing.h replaces the global operator new for the whole
// shard_test binary; it counts only while `Armed` is in scope.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <new>
#include <vector>

#include "base/alloc_testing.h"
#include "shard/dispatcher.h"
#include "wire/bytes.h"
#include "wire/ethernet.h"
#include "wire/ipv4.h"

namespace sn {
namespace {

// A frame of `ip_payload` bytes after an IPv4 header (protocol, flags as given).
std::vector<std::byte> frame(uint8_t protocol, bool mf, size_t ip_payload) {
  std::vector<std::byte> f(14 + 20 + ip_payload);
  store16(f.data() + 12, kEtherTypeIpv4);
  Ipv4Header h;
  h.src = Ipv4Address::from_octets(10, 0, 0, 2);
  h.dst = Ipv4Address::from_octets(10, 0, 0, 1);
  h.protocol = protocol;
  h.mf = mf;
  h.total_length = static_cast<uint16_t>(20 + ip_payload);
  h.emit(std::span(f).subspan(14));
  return f;
}

TEST(DispatcherNoAllocTest, FramePathAndTuplePathDoNotAllocate) {
  if (!kAllocCounting) GTEST_SKIP() << "no allocation counting under ThreadSanitizer";
  for (const char* spec : {"", "hash=xor,table=0,1,2"}) {
    auto cfg = SteerConfig::parse(spec);
    ASSERT_TRUE(cfg.ok());
    const Dispatcher d(*cfg, 3);
    const std::vector<std::vector<std::byte>> frames = {
        frame(kIpProtoTcp, false, 20), frame(kIpProtoUdp, false, 8), frame(kIpProtoUdp, true, 64),
        frame(kIpProtoIcmp, false, 8), frame(kIpProtoTcp, false, 2), std::vector<std::byte>(60),
    };
    uint64_t sum = 0, allocs = 0;
    {
      Armed armed;
      for (int round = 0; round < 1000; ++round) {
        for (const auto& f : frames)
          sum += d.decide(f).hash;
        sum += d.shard_of_tuple(kIpProtoTcp, Ipv4Address(1), L4Port(2), Ipv4Address(3), L4Port(4));
      }
      allocs = armed.count();
    }
    EXPECT_EQ(allocs, 0u) << spec;
    EXPECT_NE(sum, 0u);
  }
}

}  // namespace
}  // namespace sn
