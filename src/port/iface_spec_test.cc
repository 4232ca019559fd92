// Tests of --iface parsing: every option, the defaults, and the message for
// each kind of bad input.
#include "port/iface_spec.h"

#include <gtest/gtest.h>

#include <string>

namespace sn {
namespace {

TEST(IfaceSpecTest, BareTap) {
  auto r = parse_iface_spec("tap:sn0");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->kind, "tap");
  EXPECT_EQ(r->name, "sn0");
  EXPECT_EQ(r->queues, 1u);
  EXPECT_FALSE(r->mac.has_value());
  EXPECT_EQ(r->mtu, 1500u);
  EXPECT_FALSE(r->fault.any());
  EXPECT_EQ(r->fault.seed, 1u);
  EXPECT_TRUE(r->pcap_path.empty());
}

TEST(IfaceSpecTest, EveryOption) {
  auto r = parse_iface_spec(
      "tap:sn-test_1.a,queues=4,mac=02:AB:cd:00:00:01,mtu=9000,loss=0.01,dup=0.5,reorder=1,"
      "corrupt=0,delay=5ms,reorder_delay=250us,seed=18446744073709551615,pcap=/tmp/x.pcap");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->name, "sn-test_1.a");
  EXPECT_EQ(r->queues, 4u);
  ASSERT_TRUE(r->mac.has_value());
  EXPECT_EQ(r->mac->to_string(), "02:ab:cd:00:00:01");
  EXPECT_EQ(r->mtu, 9000u);
  EXPECT_DOUBLE_EQ(r->fault.loss, 0.01);
  EXPECT_DOUBLE_EQ(r->fault.duplicate, 0.5);
  EXPECT_DOUBLE_EQ(r->fault.reorder, 1.0);
  EXPECT_DOUBLE_EQ(r->fault.corrupt, 0.0);
  EXPECT_EQ(r->fault.delay, Duration::millis(5));
  EXPECT_EQ(r->fault.reorder_delay, Duration::micros(250));
  EXPECT_EQ(r->fault.seed, UINT64_MAX);
  EXPECT_EQ(r->pcap_path, "/tmp/x.pcap");
  EXPECT_TRUE(r->fault.any());
}

TEST(IfaceSpecTest, MemTakesTheSameOptions) {
  auto r = parse_iface_spec("mem:wire0,loss=0.1,seed=9");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->kind, "mem");
  EXPECT_EQ(r->name, "wire0");
  EXPECT_DOUBLE_EQ(r->fault.loss, 0.1);
  EXPECT_EQ(r->fault.seed, 9u);
}

TEST(IfaceSpecTest, TapOffloadIsOnUnlessTurnedOff) {
  auto on = parse_iface_spec("tap:sn0");
  ASSERT_TRUE(on.ok());
  EXPECT_TRUE(on->offload);
  auto off = parse_iface_spec("tap:sn0,offload=0,mtu=1400");
  ASSERT_TRUE(off.ok()) << off.error().message;
  EXPECT_FALSE(off->offload);
  EXPECT_EQ(off->mtu, 1400u);
  auto again = parse_iface_spec("tap:sn0,offload=1");
  ASSERT_TRUE(again.ok()) << again.error().message;
  EXPECT_TRUE(again->offload);
  for (const char* bad : {"tap:sn0,offload=2", "tap:sn0,offload=on",
                          "tap:sn0,offload=", "afpacket:eth0,offload=0", "mem:w,offload=1"}) {
    auto r = parse_iface_spec(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_NE(std::string(r.error().message).find("offload must be 0 or 1"), std::string::npos)
        << bad << ": " << r.error().message;
  }
}

TEST(IfaceSpecTest, ShmTakesTheSameOptions) {
  auto r = parse_iface_spec("shm:pair-1,mac=02:00:00:00:00:07,mtu=9000,pcap=/tmp/s.pcap");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->kind, "shm");
  EXPECT_EQ(r->name, "pair-1");
  ASSERT_TRUE(r->mac.has_value());
  EXPECT_EQ(r->mtu, 9000u);
  EXPECT_EQ(r->pcap_path, "/tmp/s.pcap");
  EXPECT_FALSE(parse_iface_spec("shm:abcdefghijklmnop").ok());  // 15 characters at most
  EXPECT_FALSE(parse_iface_spec("shm:a,bind=copy").ok());       // AF_XDP only
}

TEST(IfaceSpecTest, Durations) {
  EXPECT_EQ(parse_duration("0ns"), Duration{});
  EXPECT_EQ(parse_duration("7ns"), Duration::nanos(7));
  EXPECT_EQ(parse_duration("7us"), Duration::micros(7));
  EXPECT_EQ(parse_duration("7ms"), Duration::millis(7));
  EXPECT_EQ(parse_duration("7s"), Duration::seconds(7));
  for (const char* bad : {"", "5", "ms", "5 ms", "5m", "5sec", "-5ms", "1.5ms", "5MS",
                          "99999999999999999999s", "999999999999s"})
    EXPECT_FALSE(parse_duration(bad).has_value()) << bad;
}

struct Bad {
  const char* spec;
  const char* says;  // a fragment the message must contain
};

TEST(IfaceSpecTest, BadInputNamesTheProblem) {
  const Bad cases[] = {
      {"", "KIND:NAME"},
      {"sn0", "KIND:NAME"},
      {"eth:sn0", "unknown interface kind"},
      {"tap:", "missing interface name"},
      {"tap:,mtu=1500", "missing interface name"},
      {"tap:abcdefghijklmnop", "too long"},
      {"tap:sn/0", "only letters"},
      {"tap:sn 0", "only letters"},
      {"tap:..", "not interface names"},
      {"tap:sn0,", "empty option"},
      {"tap:sn0,,mtu=1500", "empty option"},
      {"tap:sn0,mtu", "without a value"},
      {"tap:sn0,speed=10", "unknown option"},
      {"tap:sn0,mtu=1500,mtu=1400", "given twice"},
      {"tap:sn0,queues=0", "queues"},
      {"tap:sn0,queues=257", "queues"},
      {"tap:sn0,queues=two", "queues"},
      {"tap:sn0,mac=02:00:00:00:00", "mac"},
      {"tap:sn0,mac=01:00:5e:00:00:01", "unicast"},
      {"tap:sn0,mac=00:00:00:00:00:00", "mac"},
      {"tap:sn0,mtu=67", "mtu"},
      {"tap:sn0,mtu=65522", "mtu"},
      {"tap:sn0,mtu=", "mtu"},
      {"tap:sn0,loss=1.5", "loss must be a probability"},
      {"tap:sn0,loss=-0.1", "loss"},
      {"tap:sn0,loss=nan", "loss"},
      {"tap:sn0,dup=x", "dup must be"},
      {"tap:sn0,reorder=2", "reorder must be"},
      {"tap:sn0,corrupt=0.5x", "corrupt must be"},
      {"tap:sn0,delay=5", "delay must be a duration"},
      {"tap:sn0,reorder_delay=fast", "reorder_delay must be"},
      {"tap:sn0,seed=-1", "seed"},
      {"tap:sn0,seed=18446744073709551616", "seed"},
      {"tap:sn0,pcap=", "pcap needs a file path"},
  };
  for (const Bad& c : cases) {
    auto r = parse_iface_spec(c.spec);
    ASSERT_FALSE(r.ok()) << c.spec;
    EXPECT_EQ(r.error().code, Errc::kInvalidArgument) << c.spec;
    EXPECT_NE(std::string(r.error().message).find(c.says), std::string::npos)
        << c.spec << " -> " << r.error().message;
  }
}

TEST(IfaceSpecTest, MemNamesMayBeLong) {
  EXPECT_TRUE(parse_iface_spec("mem:a-rather-long-wire-name").ok());
}

}  // namespace
}  // namespace sn
