// sn_wait: sleeping on the host eventfd and being woken by a shard, the
// engine going away, and an engine that writes garbage into the region.
#include <atomic>
#include <cerrno>
#include <chrono>
#include <string>
#include <thread>

#include "lib/client_testing.h"

namespace sn::testing {
namespace {

using host::Command;
using host::Event;

TEST_F(ClientTest, WaitSleepsUntilAShardPosts) {
  attach();
  const sn_socket c = accept_on(1, 7);
  ASSERT_EQ(sn_watch(h_, c, SN_READABLE), 0);
  std::thread shard([&] {
    ASSERT_TRUE(await_host_sleeping(fake()));
    fake().post(1, Event::kData, header(7), "wake");
  });
  sn_event ev[4];
  const int n = sn_wait(h_, ev, 4, -1);
  shard.join();
  ASSERT_EQ(n, 1);
  EXPECT_EQ(ev[0].socket, c);
  EXPECT_EQ(ev[0].events, uint32_t{SN_READABLE});
  EXPECT_GE(client().counters().sleeps, 1u);
  EXPECT_EQ(fake().flags().host_sleeping.load(), 0u);
  EXPECT_EQ(recv_all(c), "wake");
}

TEST_F(ClientTest, WaitForWritableSleepsUntilAFrameComesBack) {
  FakeEngine::Options options;
  options.in_frames = 2;
  attach(options);
  const sn_socket c = accept_on(0, 9);
  const std::string data(2 * fake().payload_max(), 'x');
  ASSERT_EQ(sn_send(h_, c, data.data(), data.size()), static_cast<ssize_t>(data.size()));
  auto first = fake().pop_command(0);
  ASSERT_TRUE(first);
  ASSERT_EQ(sn_watch(h_, c, SN_WRITABLE), 0);
  std::thread shard([&] {
    ASSERT_TRUE(await_host_sleeping(fake()));
    fake().give_back(*first);
  });
  sn_event ev[4];
  const int n = sn_wait(h_, ev, 4, 5000);
  shard.join();
  ASSERT_EQ(n, 1);
  EXPECT_EQ(ev[0].events, uint32_t{SN_WRITABLE});
}

TEST_F(ClientTest, WaitTimesOut) {
  attach();
  const int c = sn_connect(h_, 1, 1);
  ASSERT_EQ(sn_watch(h_, c, SN_READABLE | SN_WRITABLE), 0);
  sn_event ev[4];
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(sn_wait(h_, ev, 4, 30), 0);
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(30));
  EXPECT_EQ(sn_wait(h_, ev, 0, 0), -EINVAL);
}

TEST_F(ClientTest, EngineGoneEndsEverySocket) {
  attach();
  const sn_socket c = accept_on(1, 7);
  const int pending = sn_connect(h_, 1, 1);
  ASSERT_EQ(sn_watch(h_, c, SN_READABLE), 0);
  ASSERT_EQ(sn_watch(h_, pending, SN_WRITABLE), 0);
  ASSERT_EQ(sn_watch(h_, listener_, SN_READABLE), 0);
  fake().post(1, Event::kData, header(7), "last words");
  fake().hang_up();
  // The library notices when it next sleeps; what came before still arrives.
  std::string got;
  sn_event ev[4];
  for (int i = 0; i < 10 && client().failed() == 0; ++i) {
    ASSERT_GE(sn_wait(h_, ev, 4, 1000), 0);
    got += recv_all(c);
  }
  EXPECT_EQ(got, "last words");
  EXPECT_EQ(client().failed(), -EPIPE);
  const int n = sn_wait(h_, ev, 4, 0);
  EXPECT_EQ(n, 3);
  for (int i = 0; i < n; ++i)
    EXPECT_EQ(ev[i].events & (SN_ERROR | SN_HUP), uint32_t{SN_ERROR | SN_HUP}) << ev[i].socket;
  char buf[4];
  EXPECT_EQ(sn_recv(h_, c, buf, sizeof(buf)), -EPIPE);
  EXPECT_EQ(sn_send(h_, c, "x", 1), -EPIPE);
  EXPECT_EQ(sn_send(h_, pending, "x", 1), -EPIPE);
  EXPECT_EQ(sn_connect(h_, 1, 1), -EPIPE);
  EXPECT_EQ(sn_close(h_, c), 0);
}

TEST_F(ClientTest, HostileFramesAreDroppedAndCounted) {
  attach();
  const sn_socket c = accept_on(0, 9);
  const host::RegionLayout& l = fake().region().layout();
  const uint32_t before = client().counters().events;
  fake().post_raw(0, 12345);                      // not a frame
  fake().post_raw(0, l.in_frames(0).offset(0));   // a frame, but inbound
  fake().post_raw(0, l.out_frames(1).offset(0));  // another shard's frame
  auto held = fake().post(0, Event::kData, header(9), "kept");
  ASSERT_TRUE(held);
  fake().post_raw(0, *held);  // the frame we now hold, again
  sn_event ev[4];
  EXPECT_EQ(sn_wait(h_, ev, 4, 0), 0);  // the ring holds 8: let the library take these
  auto longer = fake().post(0, Event::kData, header(9), "x");
  ASSERT_TRUE(longer);
  host::FrameHeader lie = header(9);
  lie.kind = static_cast<uint16_t>(Event::kData);
  lie.length = 100000;  // past the frame
  std::memcpy(fake().region().at(*longer), &lie, sizeof(lie));
  fake().post(0, static_cast<Event>(999), header(9));
  fake().post(0, Event::kData, header(4242), "nobody's");
  fake().post(0, Event::kData, header(9), "!");

  EXPECT_EQ(recv_all(c), "kept!");
  const ClientCounters& n = client().counters();
  EXPECT_EQ(n.bad_offset, 3u);
  EXPECT_EQ(n.frame_not_ours, 1u);
  EXPECT_EQ(n.bad_length, 1u);
  EXPECT_EQ(n.unknown_event, 1u);
  EXPECT_EQ(n.stale_events, 1u);
  EXPECT_EQ(n.events - before, 5u);
  EXPECT_EQ(client().failed(), 0);
  // Every real frame came back once.
  EXPECT_EQ(fake().reclaim(0), 5u);
}

TEST_F(ClientTest, ImpossibleRingIndexEndsTheAttachment) {
  attach();
  const sn_socket c = accept_on(0, 9);
  ASSERT_EQ(sn_watch(h_, c, SN_READABLE), 0);
  auto* ring = reinterpret_cast<ShmRingHeader*>(
      fake().region().at(fake().region().layout().queues[0].out_post));
  ring->tail.store(ring->tail.load() + 100000);
  sn_event ev[4];
  ASSERT_EQ(sn_wait(h_, ev, 4, 0), 1);
  EXPECT_EQ(ev[0].events, uint32_t{SN_READABLE | SN_ERROR | SN_HUP});
  EXPECT_EQ(client().failed(), -EPROTO);
  char buf[4];
  EXPECT_EQ(sn_recv(h_, c, buf, sizeof(buf)), -EPROTO);
}

}  // namespace
}  // namespace sn::testing
