// Tests of the capture wrapper: frames both ways land in a pcap file that
// libpcap reads back byte for byte, stamped with the virtual time.
#include "port/pcap_port.h"

#include <pcap/pcap.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <vector>

#include "port/mem_wire.h"
#include "port/port_testing.h"

namespace sn {
namespace {

using testing::bytes_of;
using testing::mac;
using testing::make_frame;

struct Record {
  int64_t ns;
  uint32_t len;
  std::vector<std::byte> bytes;
};

std::vector<Record> read_back(const std::string& path) {
  char err[PCAP_ERRBUF_SIZE];
  pcap_t* p =
      pcap_open_offline_with_tstamp_precision(path.c_str(), PCAP_TSTAMP_PRECISION_NANO, err);
  EXPECT_NE(p, nullptr) << err;
  std::vector<Record> out;
  if (!p) return out;
  EXPECT_EQ(pcap_datalink(p), DLT_EN10MB);
  pcap_pkthdr* h;
  const u_char* data;
  while (pcap_next_ex(p, &h, &data) == 1) {
    const auto* b = reinterpret_cast<const std::byte*>(data);
    out.push_back(Record{int64_t(h->ts.tv_sec) * 1000'000'000 + h->ts.tv_usec, h->len,
                         std::vector<std::byte>(b, b + h->caplen)});
  }
  pcap_close(p);
  return out;
}

std::string temp_path(const char* tag) {
  return ::testing::TempDir() + "sn_pcap_" + tag + "_" + std::to_string(::getpid()) + ".pcap";
}

TEST(PcapPortTest, CapturesBothDirectionsWithVirtualTimestamps) {
  const std::string path = temp_path("both");
  PacketPool pool(PoolConfig{.count = 32});
  MemWire wire(MemWireConfig{.latency = Duration::micros(3)});
  MemPort& a = wire.attach(mac(1));
  MemPort& b = wire.attach(mac(2));
  std::vector<std::vector<std::byte>> expected;
  const Instant t0 = Instant::from_ns(1'500'000'123);
  {
    auto cap = PcapPort::open(a, path);
    ASSERT_TRUE(cap.ok()) << cap.error().message;
    PcapPort& port = **cap;
    EXPECT_EQ(port.mac(), mac(1));

    PacketPtr f[2] = {make_frame(pool, mac(2), mac(1), 1), make_frame(pool, mac(2), mac(1), 2)};
    expected.push_back(bytes_of(*f[0]));
    expected.push_back(bytes_of(*f[1]));
    EXPECT_EQ(port.tx_burst(f, t0), 2u);

    PacketPtr g[1] = {make_frame(pool, mac(1), mac(2), 3, 300)};
    expected.push_back(bytes_of(*g[0]));
    b.tx_burst(g, t0);
    PacketPtr out[4];
    ASSERT_EQ(port.rx_burst(pool, out, t0 + Duration::micros(3)), 1u);
    EXPECT_EQ(port.captured(), 3u);
  }  // closing flushes
  std::vector<Record> recs = read_back(path);
  ASSERT_EQ(recs.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(recs[i].bytes, expected[i]);
    EXPECT_EQ(recs[i].len, expected[i].size());
  }
  EXPECT_EQ(recs[0].ns, t0.ns());
  EXPECT_EQ(recs[2].ns, (t0 + Duration::micros(3)).ns());
  std::remove(path.c_str());
}

TEST(PcapPortTest, ChainsAreWrittenWhole) {
  const std::string path = temp_path("chain");
  PacketPool pool(PoolConfig{.count = 8});
  testing::FakePort inner;
  {
    PcapPort port(inner, path);
    ASSERT_TRUE(port.ok());
    PacketPtr head = make_frame(pool, mac(2), mac(1), 4, 0);
    PacketPtr tail = pool.alloc();
    for (std::byte& x : std::span(tail->append(50), 50))
      x = std::byte{0x5a};
    head->append_chain(std::move(tail));
    PacketPtr f[1] = {std::move(head)};
    port.tx_burst(f, Instant{});
  }
  std::vector<Record> recs = read_back(path);
  ASSERT_EQ(recs.size(), 1u);
  EXPECT_EQ(recs[0].bytes.size(), 68u);
  EXPECT_EQ(recs[0].bytes[67], std::byte{0x5a});
  std::remove(path.c_str());
}

TEST(PcapPortTest, UnwritablePathIsAnErrorAndTheWrapperStillPasses) {
  PacketPool pool(PoolConfig{.count = 4});  // outlives the frames the fake keeps
  testing::FakePort inner;
  auto r = PcapPort::open(inner, "/nonexistent-dir/x.pcap");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::kIo);

  PcapPort port(inner, "/nonexistent-dir/x.pcap");
  EXPECT_FALSE(port.ok());
  PacketPtr f[1] = {make_frame(pool, mac(2), mac(1), 1)};
  EXPECT_EQ(port.tx_burst(f, Instant{}), 1u);
  EXPECT_EQ(inner.sent.size(), 1u);
  EXPECT_EQ(port.captured(), 0u);
}

}  // namespace
}  // namespace sn
