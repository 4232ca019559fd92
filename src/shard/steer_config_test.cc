// Tests of --steer: the defaults, every item of the syntax, describe() as a
// SPEC that parses back to the same config, and the message for each kind of
// bad input.
#include "shard/steer_config.h"

#include <gtest/gtest.h>

#include <cctype>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

namespace sn {
namespace {

constexpr const char* kDefaultSpec =
    "hash=toeplitz,tcp=src-ip+dst-ip+src-port+dst-port,udp=src-ip+dst-ip+src-port+dst-port,"
    "frag=src-ip+dst-ip+proto+ip-id,other=src-ip+dst-ip";

Select all(SteerField f) {
  return Select{f, steer_field_full_mask(f)};
}

SteerConfig parsed(std::string_view spec) {
  auto r = SteerConfig::parse(spec);
  EXPECT_TRUE(r.ok()) << spec << ": " << r.error().message;
  return r.ok() ? *r : SteerConfig{};
}

// The message parse() gives for `spec`, or "" if it parsed.
std::string error_of(std::string_view spec) {
  auto r = SteerConfig::parse(spec);
  return r.ok() ? "" : r.error().message;
}

TEST(SteerConfigTest, Defaults) {
  const SteerConfig c;
  EXPECT_EQ(c.hash, SteerHash::kToeplitz);
  EXPECT_EQ(c.key, kRssDefaultKey);
  EXPECT_TRUE(c.table.empty());
  const SteerConfig::SelectList four = {all(SteerField::kSrcIp), all(SteerField::kDstIp),
                                        all(SteerField::kSrcPort), all(SteerField::kDstPort)};
  EXPECT_EQ(c.selects_for(TrafficClass::kTcp), four);
  EXPECT_EQ(c.selects_for(TrafficClass::kUdp), four);
  EXPECT_EQ(c.selects_for(TrafficClass::kFragment),
            (SteerConfig::SelectList{all(SteerField::kSrcIp), all(SteerField::kDstIp),
                                     all(SteerField::kProtocol), all(SteerField::kIpId)}));
  EXPECT_EQ(c.selects_for(TrafficClass::kOtherIp),
            (SteerConfig::SelectList{all(SteerField::kSrcIp), all(SteerField::kDstIp)}));
  EXPECT_EQ(c.describe(), kDefaultSpec);
  EXPECT_TRUE(c.validate(1).ok());
  EXPECT_TRUE(c.validate(64).ok());
}

TEST(SteerConfigTest, EmptySpecIsTheDefaults) {
  EXPECT_EQ(parsed(""), SteerConfig{});
  EXPECT_EQ(parsed(kDefaultSpec), SteerConfig{});
}

TEST(SteerConfigTest, EveryItem) {
  const SteerConfig c = parsed(
      "hash=xor,tcp=dst-port+src-ip/24,udp=src-ip:ffff0000+dst-port:0x00ff,frag=none,"
      "other=proto+dst-ip,table=0,1,1,0");
  EXPECT_EQ(c.hash, SteerHash::kXorFold);
  EXPECT_EQ(c.selects_for(TrafficClass::kTcp),
            (SteerConfig::SelectList{all(SteerField::kDstPort), {SteerField::kSrcIp, 0xffffff00}}));
  EXPECT_EQ(
      c.selects_for(TrafficClass::kUdp),
      (SteerConfig::SelectList{{SteerField::kSrcIp, 0xffff0000}, {SteerField::kDstPort, 0x00ff}}));
  EXPECT_TRUE(c.selects_for(TrafficClass::kFragment).empty());
  EXPECT_EQ(c.selects_for(TrafficClass::kOtherIp),
            (SteerConfig::SelectList{all(SteerField::kProtocol), all(SteerField::kDstIp)}));
  EXPECT_EQ(c.table, (std::vector<uint32_t>{0, 1, 1, 0}));
  EXPECT_EQ(c.key, kRssDefaultKey);
}

TEST(SteerConfigTest, TableMayComeAnywhere) {
  const SteerConfig c = parsed("table=3,2,hash=xor,udp=src-ip");
  EXPECT_EQ(c.table, (std::vector<uint32_t>{3, 2}));
  EXPECT_EQ(c.hash, SteerHash::kXorFold);
  EXPECT_EQ(parsed("table=5").table, std::vector<uint32_t>{5});
}

TEST(SteerConfigTest, LaterItemsReplaceEarlierOnes) {
  const SteerConfig c = parsed("hash=xor,table=1,2,tcp=src-ip,hash=toeplitz,table=0,tcp=dst-ip");
  EXPECT_EQ(c.hash, SteerHash::kToeplitz);
  EXPECT_EQ(c.table, std::vector<uint32_t>{0});
  EXPECT_EQ(c.selects_for(TrafficClass::kTcp), SteerConfig::SelectList{all(SteerField::kDstIp)});
}

TEST(SteerConfigTest, PrefixMasks) {
  auto mask_of = [](std::string_view spec) {
    return parsed(spec).selects_for(TrafficClass::kTcp).at(0).mask;
  };
  EXPECT_EQ(mask_of("tcp=src-ip/0"), 0u);
  EXPECT_EQ(mask_of("tcp=src-ip/1"), 0x80000000u);
  EXPECT_EQ(mask_of("tcp=src-ip/24"), 0xffffff00u);
  EXPECT_EQ(mask_of("tcp=src-ip/32"), 0xffffffffu);
  EXPECT_EQ(mask_of("tcp=src-port/4"), 0xf000u);
  EXPECT_EQ(mask_of("tcp=src-port/16"), 0xffffu);
  EXPECT_EQ(mask_of("tcp=proto/8"), 0xffu);
  EXPECT_EQ(mask_of("tcp=src-ip:ffffff00"), 0xffffff00u);
  EXPECT_EQ(mask_of("tcp=src-ip:0XFF"), 0xffu);
  EXPECT_EQ(mask_of("tcp=dst-port:0"), 0u);
}

TEST(SteerConfigTest, Key) {
  ToeplitzKey k;
  std::string hex, colons;
  for (size_t i = 0; i < k.size(); ++i) {
    k[i] = static_cast<uint8_t>(0xa0 + i);
    char b[3];
    std::snprintf(b, sizeof b, "%02x", k[i]);
    hex += b;
    colons += (i ? ":" : "") + std::string(b);
  }
  EXPECT_EQ(parsed("key=" + hex).key, k);
  EXPECT_EQ(parsed("key=" + colons).key, k);
  // Upper case as well.
  std::string upper = hex;
  for (char& c : upper)
    c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  EXPECT_EQ(parsed("key=" + upper).key, k);
}

TEST(SteerConfigTest, DescribeParsesBack) {
  const char* specs[] = {
      "",
      "hash=xor",
      "tcp=src-ip/24+dst-port:00f0,udp=none,frag=ip-id+src-ip,other=proto",
      "hash=xor,tcp=src-ip:0f0f0f0f,table=0,1,1,0",
      "key=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f2021222324252627",
  };
  for (const char* spec : specs) {
    const SteerConfig c = parsed(spec);
    EXPECT_EQ(parsed(c.describe()), c) << spec << " -> " << c.describe();
  }
  EXPECT_EQ(parsed("hash=xor,tcp=src-ip:ffffff00+dst-port:00f0,table=0,1").describe(),
            "hash=xor,tcp=src-ip/24+dst-port:00f0,udp=src-ip+dst-ip+src-port+dst-port,"
            "frag=src-ip+dst-ip+proto+ip-id,other=src-ip+dst-ip,table=0,1");
  EXPECT_EQ(parsed("udp=none,key=00" + std::string(78, '1')).describe(),
            "hash=toeplitz,tcp=src-ip+dst-ip+src-port+dst-port,udp=none,"
            "frag=src-ip+dst-ip+proto+ip-id,other=src-ip+dst-ip,key=00" +
                std::string(78, '1'));
}

TEST(SteerConfigTest, BadInputSaysWhat) {
  EXPECT_EQ(error_of("hash=crc"), "--steer: hash must be toeplitz or xor");
  EXPECT_EQ(error_of("colour=red"),
            "--steer: unknown key (keys: hash, key, tcp, udp, frag, other, table)");
  EXPECT_EQ(error_of("xor"),
            "--steer: each item is KEY=VALUE (keys: hash, key, tcp, udp, frag, other, table)");
  EXPECT_EQ(error_of("hash=xor,,tcp=src-ip"), "--steer: an empty item (two commas in a row?)");
  EXPECT_EQ(error_of("hash=xor,"), "--steer: an empty item (two commas in a row?)");
  EXPECT_EQ(error_of("tcp=src-ip+source-port"),
            "--steer: unknown field (the fields: src-ip, dst-ip, proto, ip-id, src-port, "
            "dst-port, joined by '+')");
  EXPECT_NE(error_of("tcp="), "");
  EXPECT_NE(error_of("tcp=src-ip+"), "");
  EXPECT_NE(error_of("tcp=src-ip++dst-ip"), "");
  EXPECT_EQ(error_of("tcp=src-ip+src-ip"), "--steer: a field appears twice in one list");
  EXPECT_EQ(error_of("tcp=src-ip/24+src-ip/16"), "--steer: a field appears twice in one list");

  const std::string bad_len =
      "--steer: FIELD/LEN keeps the top LEN bits: LEN is 0..32 for an address, 0..16 for a port "
      "or ip-id, 0..8 for proto";
  EXPECT_EQ(error_of("tcp=src-ip/33"), bad_len);
  EXPECT_EQ(error_of("tcp=src-port/17"), bad_len);
  EXPECT_EQ(error_of("other=proto/9"), bad_len);
  EXPECT_EQ(error_of("tcp=src-ip/"), bad_len);
  EXPECT_EQ(error_of("tcp=src-ip/-1"), bad_len);
  const std::string bad_hex =
      "--steer: FIELD:HEX masks the field: HEX is at most ffffffff for an address, ffff for a "
      "port or ip-id, ff for proto";
  EXPECT_EQ(error_of("tcp=src-port:10000"), bad_hex);
  EXPECT_EQ(error_of("tcp=src-ip:fffffffff"), bad_hex);
  EXPECT_EQ(error_of("tcp=src-ip:00000000ff"), bad_hex);
  EXPECT_EQ(error_of("other=proto:100"), bad_hex);
  EXPECT_EQ(error_of("tcp=src-ip:xyz"), bad_hex);
  EXPECT_EQ(error_of("tcp=src-ip:"), bad_hex);
  EXPECT_EQ(error_of("tcp=src-ip:0x"), bad_hex);

  EXPECT_EQ(error_of("tcp=src-ip+ip-id"),
            "--steer: only frag may select ip-id: it changes packet to packet, so a flow would "
            "have no one owner");
  EXPECT_NE(error_of("other=ip-id"), "");
  EXPECT_EQ(error_of("frag=src-ip+src-port"),
            "--steer: frag may not select ports: only the first fragment carries them, and all "
            "fragments of a datagram must meet on one shard");
  EXPECT_EQ(error_of("other=src-ip+dst-port"),
            "--steer: other may not select ports: ICMP and the rest have none");

  const std::string bad_key =
      "--steer: key must be 40 bytes in hex: 80 digits, ':' between bytes allowed";
  EXPECT_EQ(error_of("key="), bad_key);
  EXPECT_EQ(error_of("key=" + std::string(78, 'a')), bad_key);
  EXPECT_EQ(error_of("key=" + std::string(82, 'a')), bad_key);
  EXPECT_EQ(error_of("key=" + std::string(79, 'a') + "g"), bad_key);

  const std::string bad_entry = "--steer: a table entry must be a shard number, like table=0,1,1,0";
  EXPECT_EQ(error_of("table="), bad_entry);
  EXPECT_EQ(error_of("table=0,x"), bad_entry);
  EXPECT_EQ(error_of("table=-1"), bad_entry);
  EXPECT_EQ(error_of("table=0,1,"), "--steer: an empty item (two commas in a row?)");
  // A bare number that follows something other than table= is not an entry.
  EXPECT_EQ(error_of("hash=xor,1"),
            "--steer: each item is KEY=VALUE (keys: hash, key, tcp, udp, frag, other, table)");

  std::string long_table = "table=0";
  for (size_t i = 1; i < kMaxTableSize; ++i)
    long_table += ",0";
  EXPECT_EQ(parsed(long_table).table.size(), kMaxTableSize);
  EXPECT_EQ(error_of(long_table + ",0"), "--steer: the table has at most 4096 entries");
}

TEST(SteerConfigTest, Validate) {
  const SteerConfig c = parsed("table=0,1,2,3");
  EXPECT_TRUE(c.validate(4).ok());
  ASSERT_FALSE(c.validate(3).ok());
  EXPECT_STREQ(c.validate(3).error().message,
               "--steer: a table entry names a shard the engine does not have (--shards)");
  EXPECT_FALSE(SteerConfig{}.validate(0).ok());

  // Configs built in code meet the same rules as parsed ones.
  SteerConfig dup;
  dup.selects_for(TrafficClass::kTcp).push_back(all(SteerField::kSrcIp));
  EXPECT_STREQ(dup.validate(2).error().message, "--steer: a field appears twice in one list");
  SteerConfig wide;
  wide.selects_for(TrafficClass::kTcp) = {{SteerField::kSrcPort, 0x1ffff}};
  EXPECT_STREQ(wide.validate(2).error().message,
               "--steer: a mask has bits above its field's width");
  SteerConfig frag_ports;
  frag_ports.selects_for(TrafficClass::kFragment).push_back(all(SteerField::kDstPort));
  EXPECT_FALSE(frag_ports.validate(2).ok());
  SteerConfig big;
  big.table.assign(kMaxTableSize + 1, 0);
  EXPECT_FALSE(big.validate(1).ok());
}

TEST(SteerConfigTest, Names) {
  EXPECT_STREQ(to_string(SteerField::kSrcIp), "src-ip");
  EXPECT_STREQ(to_string(SteerField::kDstPort), "dst-port");
  EXPECT_STREQ(to_string(TrafficClass::kFragment), "frag");
  EXPECT_STREQ(to_string(TrafficClass::kOtherIp), "other");
  EXPECT_EQ(steer_field_width(SteerField::kProtocol), 1u);
  EXPECT_EQ(steer_field_full_mask(SteerField::kIpId), 0xffffu);
  EXPECT_EQ(steer_field_full_mask(SteerField::kDstIp), 0xffffffffu);
}

}  // namespace
}  // namespace sn
