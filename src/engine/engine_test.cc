// Tests for the engine shell: building it from a configuration, its loop on
// the real clock, and the control socket serving counters while it runs.
#include "engine/engine.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include "engine/control.h"

namespace sn {
namespace {

EngineConfig mem_config(const std::string& name) {
  EngineConfig cfg;
  cfg.name = name;
  cfg.control_path = ::testing::TempDir() + "/" + name + "-" + std::to_string(::getpid()) + ".sock";
  auto spec = parse_iface_spec("mem:lab0");
  EXPECT_TRUE(spec.ok());
  cfg.ifaces.push_back(EngineIface{*spec, *Ipv4Prefix::parse("10.9.0.2/24")});
  cfg.seed = 5;
  return cfg;
}

TEST(Engine, ServesStatsWhileRunningAndStops) {
  EngineConfig cfg = mem_config("engine-test");
  std::string why;
  std::string why_service;
  auto svc = parse_service_spec("udp-echo:7", &why_service);
  ASSERT_TRUE(svc.ok()) << why_service;
  cfg.services.push_back(*svc);
  auto engine = Engine::create(cfg, &why);
  ASSERT_TRUE(engine.ok()) << why;
  std::atomic<bool> stop{false};
  std::thread shard([&] { (*engine)->run(stop); });

  for (int i = 0; i < 20; ++i) {
    auto text = control_request(cfg.control_path, "stats", &why);
    ASSERT_TRUE(text.ok()) << why;
    EXPECT_NE(text->find("engine engine-test: 1 shard"), std::string::npos);
    // The gratuitous ARP at start went out through the port.
    EXPECT_NE(text->find("arp_tx_requests              1"), std::string::npos) << *text;
    auto json = control_request(cfg.control_path, "stats json", &why);
    ASSERT_TRUE(json.ok()) << why;
    EXPECT_EQ(json->rfind("{\"engine\":\"engine-test\",\"shards\":[{\"shard\":0,", 0), 0u) << *json;
    EXPECT_NE(json->find("\"drop_ip_bad_checksum\":0"), std::string::npos);
  }
  auto unknown = control_request(cfg.control_path, "reboot", &why);
  ASSERT_TRUE(unknown.ok());
  EXPECT_NE(unknown->find("unknown command"), std::string::npos);

  stop.store(true);
  shard.join();
  engine->reset();
  // The socket file is gone with the engine.
  EXPECT_FALSE(control_request(cfg.control_path, "stats", &why).ok());
  EXPECT_NE(why.find("no engine answers"), std::string::npos);
}

TEST(Engine, ReportsBadConfigurationClearly) {
  std::string why;
  EngineConfig none;
  none.control_path = ::testing::TempDir() + "/none.sock";
  EXPECT_FALSE(Engine::create(none, &why).ok());
  EXPECT_NE(why.find("--iface"), std::string::npos);

  EngineConfig gw = mem_config("engine-gw");
  gw.gateway = *Ipv4Address::parse("192.0.2.1");  // not on 10.9.0.0/24
  EXPECT_FALSE(Engine::create(gw, &why).ok());
  EXPECT_NE(why.find("gateway"), std::string::npos) << why;

  EngineConfig twice = mem_config("engine-twice");
  std::string w;
  twice.services.push_back(*parse_service_spec("udp-echo:7", &w));
  twice.services.push_back(*parse_service_spec("udp-echo:7", &w));
  EXPECT_FALSE(Engine::create(twice, &why).ok());
  EXPECT_NE(why.find("udp-echo:7"), std::string::npos) << why;
}

TEST(ServiceSpec, Parses) {
  std::string why;
  auto s = parse_service_spec("udp-echo:7", &why);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->kind, "udp-echo");
  EXPECT_EQ(s->port, L4Port(7));
  EXPECT_FALSE(parse_service_spec("udp-echo", &why).ok());
  EXPECT_FALSE(parse_service_spec("udp-echo:0", &why).ok());
  EXPECT_FALSE(parse_service_spec("udp-echo:65536", &why).ok());
  EXPECT_FALSE(parse_service_spec("udp-echo:7x", &why).ok());
  EXPECT_FALSE(parse_service_spec("quic:443", &why).ok());
  EXPECT_NE(why.find("unknown service kind"), std::string::npos);
}

}  // namespace
}  // namespace sn
