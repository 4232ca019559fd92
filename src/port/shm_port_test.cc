// Tests of the shared-memory port: two sides in one process (or a child that
// dies), frames both ways byte-exact, full rings, chains, the doorbell and
// its wake-up protocol under two threads, a hostile peer writing garbage
// through a second mapping, and the membership rules (stale objects, a dead
// side taken over, a third opener, mismatched shard counts).
#include "port/shm_port.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "port/port_testing.h"

namespace sn {
namespace {

using testing::bytes_of;
using testing::mac;
using testing::make_frame;
using testing::seq_of;

using Ports = std::vector<std::unique_ptr<ShmPort>>;

constexpr Instant kT0 = Instant::from_ns(1'000'000);

bool exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

bool readable(int fd, int timeout_ms) {
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, timeout_ms) > 0 && (p.revents & POLLIN);
}

// A second mapping of the object: the test plays a buggy or hostile peer.
class Mapping {
 public:
  explicit Mapping(const std::string& name) {
    const int fd = ::shm_open(shm_port_object_name(name).c_str(), O_RDWR, 0);
    if (fd < 0) return;
    struct stat st {};
    ::fstat(fd, &st);
    size_ = static_cast<size_t>(st.st_size);
    void* p = ::mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    ::close(fd);
    if (p != MAP_FAILED) base_ = static_cast<std::byte*>(p);
  }
  ~Mapping() {
    if (base_) ::munmap(base_, size_);
  }
  std::byte* base() const { return base_; }
  size_t size() const { return size_; }
  ShmPortHeader& header() const { return *reinterpret_cast<ShmPortHeader*>(base_); }
  ShmPortRingHeader& ring(uint32_t index) const {
    return *reinterpret_cast<ShmPortRingHeader*>(base_ + offset(index));
  }
  // The length word of the slot that position `pos` of ring `index` uses.
  void set_length(uint32_t index, uint32_t pos, uint32_t len) const {
    const ShmPortHeader& h = header();
    std::byte* slot = base_ + offset(index) + sizeof(ShmPortRingHeader) +
                      size_t{pos & (h.slots - 1)} * h.slot_size;
    std::memcpy(slot, &len, sizeof len);
  }

 private:
  size_t offset(uint32_t index) const {
    return shm_port_ring_offset(index, header().slots, header().slot_size);
  }
  std::byte* base_ = nullptr;
  size_t size_ = 0;
};

class ShmPortTest : public ::testing::Test {
 protected:
  ShmPortTest() {
    static int serial = 0;
    name_ = "ut" + std::to_string(::getpid()) + "-" + std::to_string(serial++);
  }
  ~ShmPortTest() override {
    // Whatever a failed test left behind.
    ::shm_unlink(shm_port_object_name(name_).c_str());
    for (uint32_t q = 0; q < 4; ++q)
      for (char s : {'a', 'b'})
        ::unlink(shm_port_doorbell_path(name_, q, s).c_str());
  }

  Ports open(uint32_t queues = 1, ShmPortOptions o = {}, uint32_t mtu = 1500) {
    auto r = ShmPort::open(name_, queues, mac(next_mac_++), mtu, o);
    EXPECT_TRUE(r.ok()) << r.error().message;
    return r.ok() ? std::move(*r) : Ports{};
  }
  Result<Ports> try_open(uint32_t queues = 1, ShmPortOptions o = {}, uint32_t mtu = 1500) {
    return ShmPort::open(name_, queues, mac(next_mac_++), mtu, o);
  }
  std::string object_path() const { return "/dev/shm" + shm_port_object_name(name_); }

  size_t send(Port& from, uint32_t first_seq, uint32_t count, uint32_t extra = 46) {
    std::vector<PacketPtr> f;
    for (uint32_t i = 0; i < count; ++i)
      f.push_back(make_frame(pool_, mac(2), from.mac(), first_seq + i, extra));
    return from.tx_burst(f, kT0);
  }
  std::vector<PacketPtr> receive(Port& port, Instant now = kT0, size_t max = 64) {
    std::vector<PacketPtr> out(max);
    out.resize(port.rx_burst(pool_, out, now));
    return out;
  }

  std::string name_;
  uint8_t next_mac_ = 1;
  PacketPool pool_{PoolConfig{.count = 2048}};
};

TEST_F(ShmPortTest, TwoSidesExchangeFramesBothWaysByteExact) {
  Ports a = open();
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0]->side(), 'a');
  EXPECT_FALSE(a[0]->peer_present());
  Ports b = open();
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(b[0]->side(), 'b');
  EXPECT_TRUE(a[0]->peer_present());
  EXPECT_TRUE(b[0]->peer_present());
  EXPECT_TRUE(exists(object_path()));
  EXPECT_TRUE(exists(shm_port_doorbell_path(name_, 0, 'a')));
  EXPECT_NE(a[0]->wait_fd(), b[0]->wait_fd());

  for (auto [from, to] : {std::pair{a[0].get(), b[0].get()}, std::pair{b[0].get(), a[0].get()}}) {
    // Bursts of frames of every size up to the largest (1500 + 18 bytes).
    std::vector<std::vector<std::byte>> sent;
    uint32_t seq = 0;
    for (uint32_t burst = 0; burst < 10; ++burst) {
      std::vector<PacketPtr> f;
      for (uint32_t i = 0; i < 32; ++i, ++seq) {
        const uint32_t extra = seq == 0 ? 1500 : (seq * 37) % 1500;  // 1518 bytes at most
        f.push_back(make_frame(pool_, to->mac(), from->mac(), seq, extra));
        sent.push_back(bytes_of(*f.back()));
      }
      EXPECT_EQ(from->tx_burst(f, kT0), 32u);
    }
    std::vector<std::vector<std::byte>> got;
    for (int i = 0; i < 20 && got.size() < sent.size(); ++i)
      for (PacketPtr& p : receive(*to, kT0, 32))
        got.push_back(bytes_of(*p));
    EXPECT_EQ(got, sent);
    EXPECT_EQ(from->counters().tx_frames.get(), 320u);
    EXPECT_EQ(to->counters().rx_frames.get(), 320u);
    EXPECT_EQ(to->counters().rx_bytes.get(), from->counters().tx_bytes.get());
    EXPECT_EQ(to->counters().rx_errors.get(), 0u);
    EXPECT_EQ(from->counters().tx_errors.get(), 0u);
  }
  a.clear();  // B stays: the object too
  EXPECT_TRUE(exists(object_path()));
  EXPECT_FALSE(b[0]->peer_present());
  EXPECT_EQ(send(*b[0], 0, 3), 0u);  // nobody on the other side
  EXPECT_EQ(b[0]->shm_counters().tx_no_peer.get(), 3u);
  EXPECT_EQ(b[0]->counters().tx_errors.get(), 3u);
  b.clear();  // the last one out removes it all
  EXPECT_FALSE(exists(object_path()));
  EXPECT_FALSE(exists(shm_port_doorbell_path(name_, 0, 'a')));
  EXPECT_FALSE(exists(shm_port_doorbell_path(name_, 0, 'b')));
  EXPECT_EQ(open()[0]->side(), 'a');  // and the next opener makes a new one
}

TEST_F(ShmPortTest, PartialChecksumsCrossTheLinkVouchedFor) {
  Ports a = open();
  Ports b = open();
  EXPECT_TRUE(a[0]->tx_l4_csum_offload());
  std::vector<PacketPtr> f;
  for (uint32_t i = 0; i < 4; ++i) {
    f.push_back(make_frame(pool_, b[0]->mac(), a[0]->mac(), i, 100));
    f.back()->l4_csum_partial = i % 2 == 1;
  }
  ASSERT_EQ(a[0]->tx_burst(f, kT0), 4u);
  auto got = receive(*b[0]);
  ASSERT_EQ(got.size(), 4u);
  for (uint32_t i = 0; i < 4; ++i)
    EXPECT_EQ(got[i]->l4_csum_ok, i % 2 == 1) << i;  // only what the sender left partial
}

TEST_F(ShmPortTest, AloneDropsWhatItSends) {
  Ports a = open();
  EXPECT_EQ(send(*a[0], 0, 4), 0u);
  EXPECT_EQ(a[0]->shm_counters().tx_no_peer.get(), 4u);
  Ports b = open();
  EXPECT_TRUE(receive(*b[0]).empty());  // nothing was queued for a peer to come
  EXPECT_EQ(send(*a[0], 10, 1), 1u);
  auto got = receive(*b[0]);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(seq_of(*got[0]), 10u);
}

TEST_F(ShmPortTest, QueuesAreSeparateRings) {
  Ports a = open(2);
  Ports b = open(2);
  ASSERT_EQ(a.size(), 2u);
  ASSERT_EQ(b.size(), 2u);
  EXPECT_EQ(send(*a[1], 100, 3), 3u);
  EXPECT_EQ(send(*b[0], 200, 2), 2u);
  EXPECT_TRUE(receive(*b[0]).empty());
  EXPECT_TRUE(receive(*a[1]).empty());
  auto on_b1 = receive(*b[1]);
  ASSERT_EQ(on_b1.size(), 3u);
  EXPECT_EQ(seq_of(*on_b1[2]), 102u);
  auto on_a0 = receive(*a[0]);
  ASSERT_EQ(on_a0.size(), 2u);
  EXPECT_EQ(seq_of(*on_a0[0]), 200u);
}

TEST_F(ShmPortTest, AFullRingDropsAndCountsAndLosesNothingElse) {
  Ports a = open(1, ShmPortOptions{.slots = 16});
  Ports b = open(1, ShmPortOptions{.slots = 16});
  EXPECT_EQ(send(*a[0], 0, 20), 16u);
  EXPECT_EQ(a[0]->shm_counters().tx_ring_full.get(), 4u);
  EXPECT_EQ(a[0]->counters().tx_errors.get(), 4u);
  EXPECT_EQ(a[0]->counters().tx_frames.get(), 16u);
  auto got = receive(*b[0], kT0, 10);
  ASSERT_EQ(got.size(), 10u);
  EXPECT_EQ(send(*a[0], 20, 12), 10u);  // the 10 slots handed back, and no more
  for (PacketPtr& p : receive(*b[0], kT0, 64))
    got.push_back(std::move(p));
  ASSERT_EQ(got.size(), 26u);
  for (uint32_t i = 0; i < 26; ++i)
    EXPECT_EQ(seq_of(*got[i]), i < 16 ? i : i + 4) << i;
  EXPECT_EQ(a[0]->shm_counters().tx_ring_full.get(), 6u);
  EXPECT_EQ(b[0]->counters().rx_errors.get(), 0u);
  // Wraps many times over.
  for (uint32_t round = 0; round < 100; ++round) {
    ASSERT_EQ(send(*a[0], 1000 + round * 16, 16), 16u);
    auto r = receive(*b[0]);
    ASSERT_EQ(r.size(), 16u);
    EXPECT_EQ(seq_of(*r[15]), 1000 + round * 16 + 15);
  }
}

TEST_F(ShmPortTest, AnEmptyPoolLeavesFramesWaiting) {
  Ports a = open();
  Ports b = open();
  EXPECT_EQ(send(*a[0], 0, 3), 3u);
  PacketPool small{PoolConfig{.count = 2}};
  std::vector<PacketPtr> out(8);
  EXPECT_EQ(b[0]->rx_burst(small, out, kT0), 2u);
  EXPECT_EQ(b[0]->counters().rx_no_buffer.get(), 1u);
  EXPECT_LE(b[0]->next_event(), kT0);  // the engine must not sleep on it
  out.clear();
  out.resize(8);
  ASSERT_EQ(b[0]->rx_burst(small, out, kT0), 1u);
  EXPECT_EQ(seq_of(*out[0]), 2u);
}

TEST_F(ShmPortTest, ChainsGoWholeAndOversizeFramesDoNot) {
  Ports a = open();
  Ports b = open();
  PacketPtr chain = make_frame(pool_, mac(2), a[0]->mac(), 7, 100);
  std::vector<std::byte> want = bytes_of(*chain);
  for (uint8_t link = 1; link <= 3; ++link) {
    PacketPtr more = pool_.alloc();
    std::byte* d = more->append(200 + link);
    for (uint32_t i = 0; i < 200u + link; ++i)
      d[i] = std::byte(uint8_t(link * 31 + i));
    want.insert(want.end(), d, d + 200 + link);
    chain->append_chain(std::move(more));
  }
  PacketPtr big = pool_.alloc_chain(1500 + 18 + 1, 1000);
  std::vector<PacketPtr> f;
  f.push_back(std::move(chain));
  f.push_back(std::move(big));
  EXPECT_EQ(a[0]->tx_burst(f, kT0), 1u);
  EXPECT_EQ(a[0]->counters().tx_oversize.get(), 1u);
  auto got = receive(*b[0]);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0]->next(), nullptr);
  EXPECT_EQ(bytes_of(*got[0]), want);
}

TEST_F(ShmPortTest, TheDoorbellRingsOnlyForASleepingConsumer) {
  const ShmPortOptions o{.arm_after = Duration::micros(20)};
  Ports a = open(1, o);
  Ports b = open(1, o);
  ShmPort& rx = *b[0];
  // Never busy yet: the first empty poll arms the doorbell.
  EXPECT_TRUE(receive(rx, kT0).empty());
  EXPECT_TRUE(rx.armed());
  EXPECT_EQ(rx.next_event(), Instant::never());
  EXPECT_FALSE(readable(rx.wait_fd(), 0));
  EXPECT_EQ(send(*a[0], 1, 2), 2u);
  EXPECT_TRUE(readable(rx.wait_fd(), 1000));
  EXPECT_EQ(a[0]->shm_counters().doorbells.get(), 1u);

  // Busy: frames disarm it until the ring has been empty for arm_after.
  Instant t = kT0 + Duration::micros(1);
  EXPECT_EQ(receive(rx, t).size(), 2u);
  EXPECT_FALSE(rx.armed());
  EXPECT_EQ(rx.next_event(), t + Duration::micros(20));
  EXPECT_TRUE(receive(rx, t + Duration::micros(5)).empty());  // reads the owed byte
  EXPECT_FALSE(rx.armed());
  EXPECT_FALSE(readable(rx.wait_fd(), 0));
  EXPECT_EQ(send(*a[0], 3, 1), 1u);
  EXPECT_FALSE(readable(rx.wait_fd(), 50));  // a busy consumer costs the sender nothing
  EXPECT_EQ(a[0]->shm_counters().doorbells.get(), 1u);
  t = t + Duration::micros(10);
  EXPECT_EQ(receive(rx, t).size(), 1u);
  EXPECT_TRUE(receive(rx, t + Duration::micros(19)).empty());
  EXPECT_FALSE(rx.armed());
  EXPECT_TRUE(receive(rx, t + Duration::micros(20)).empty());
  EXPECT_TRUE(rx.armed());
  EXPECT_EQ(rx.next_event(), Instant::never());
  EXPECT_FALSE(readable(rx.wait_fd(), 0));
  // Several bursts while asleep: one byte.
  EXPECT_EQ(send(*a[0], 4, 1), 1u);
  EXPECT_EQ(send(*a[0], 5, 1), 1u);
  EXPECT_TRUE(readable(rx.wait_fd(), 1000));
  EXPECT_EQ(a[0]->shm_counters().doorbells.get(), 2u);
  t = t + Duration::micros(30);
  EXPECT_EQ(receive(rx, t).size(), 2u);
  EXPECT_TRUE(receive(rx, t + Duration::micros(20)).empty());  // drains and re-arms
  EXPECT_TRUE(rx.armed());
  EXPECT_FALSE(readable(rx.wait_fd(), 0));
}

// Two threads play ping-pong, each sleeping in poll() on its doorbell
// whenever its ring is empty: a lost wake-up would stall the game.
TEST_F(ShmPortTest, NoWakeUpIsLostBetweenTwoSleepingThreads) {
  const ShmPortOptions o{.arm_after = Duration{}};
  Ports a = open(1, o);
  Ports b = open(1, o);
  constexpr uint32_t kRounds = 3000;
  std::atomic<bool> stalled{false};
  // A sends 0, 1, 2, ... one at a time; B echoes each.
  auto player = [&](ShmPort& port, bool serves) {
    PacketPool pool{PoolConfig{.count = 64}};
    int64_t tick = 0;
    uint32_t next = 0;  // the sequence number this side expects
    auto send_seq = [&](uint32_t seq) {
      PacketPtr f[1] = {make_frame(pool, mac(9), port.mac(), seq)};
      if (port.tx_burst(f, Instant::from_ns(tick)) != 1) stalled.store(true);
    };
    if (serves) send_seq(0);
    while (next < kRounds && !stalled.load()) {
      PacketPtr in[4];
      const size_t n = port.rx_burst(pool, in, Instant::from_ns(++tick));
      if (n == 0) {
        if (port.next_event() != Instant::never()) continue;  // not armed yet
        if (!readable(port.wait_fd(), 5000)) stalled.store(true);
        continue;
      }
      for (size_t i = 0; i < n; ++i) {
        const uint32_t seq = seq_of(*in[i]);
        if (seq != next) stalled.store(true);
        ++next;
        if (!serves)
          send_seq(seq);
        else if (next < kRounds)
          send_seq(next);
      }
    }
  };
  std::thread t1([&] { player(*a[0], true); });
  std::thread t2([&] { player(*b[0], false); });
  t1.join();
  t2.join();
  EXPECT_FALSE(stalled.load());
  EXPECT_EQ(a[0]->counters().rx_frames.get(), kRounds);
  EXPECT_EQ(b[0]->counters().rx_frames.get(), kRounds);
  EXPECT_GT(a[0]->shm_counters().doorbells.get() + b[0]->shm_counters().doorbells.get(), 0u);
}

TEST_F(ShmPortTest, BadLengthsAreCountedAndSkipped) {
  Ports a = open();
  Ports b = open();
  Mapping m(name_);
  ASSERT_NE(m.base(), nullptr);
  EXPECT_EQ(send(*a[0], 0, 4), 4u);
  m.set_length(0, 1, 0xffffffff);
  m.set_length(0, 2, 0);
  m.set_length(0, 3, 1500 + 18 + 1);
  auto got = receive(*b[0]);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(seq_of(*got[0]), 0u);
  EXPECT_EQ(b[0]->counters().rx_errors.get(), 3u);
  EXPECT_EQ(b[0]->shm_counters().rx_bad_length.get(), 3u);
  // The ring goes on.
  EXPECT_EQ(send(*a[0], 4, 1), 1u);
  got = receive(*b[0]);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(seq_of(*got[0]), 4u);
}

TEST_F(ShmPortTest, AnImpossibleIndexBreaksTheRingForGood) {
  ShmPortOptions o{.slots = 16};
  Ports a = open(1, o);
  Ports b = open(1, o);
  Mapping m(name_);
  ASSERT_NE(m.base(), nullptr);
  // A producer's tail more than a ring ahead of the consumer's head.
  m.ring(0).tail.store(17);
  EXPECT_TRUE(receive(*b[0]).empty());
  EXPECT_EQ(b[0]->shm_counters().ring_broken.get(), 1u);
  EXPECT_EQ(send(*a[0], 0, 2), 2u);
  EXPECT_TRUE(receive(*b[0]).empty());  // for good
  // A consumer's head ahead of the producer's tail.
  m.ring(1).head.store(5);
  EXPECT_EQ(send(*b[0], 0, 1), 0u);
  EXPECT_EQ(b[0]->shm_counters().ring_broken.get(), 2u);
  EXPECT_EQ(b[0]->counters().tx_errors.get(), 1u);
  EXPECT_EQ(b[0]->shm_counters().tx_ring_full.get(), 0u);
  EXPECT_EQ(send(*b[0], 0, 1), 0u);
  EXPECT_EQ(b[0]->shm_counters().ring_broken.get(), 2u);  // counted once
}

// Garbage over every byte of the object, between sends and receives on both
// sides: errors are counted, nothing is read or written out of bounds (run
// it under ASan), every frame received fits the MTU.
TEST_F(ShmPortTest, GarbageEverywhereNeverCrashes) {
  ShmPortOptions o{.slots = 8, .arm_after = Duration{}};
  Ports a = open(2, o);
  Ports b = open(2, o);
  Mapping m(name_);
  ASSERT_NE(m.base(), nullptr);
  const size_t members = offsetof(ShmPortHeader, members);
  uint64_t received = 0;
  std::mt19937_64 rng;
  for (int round = 0; round < 6000; ++round) {
    if (round % 1000 == 0) rng.seed(round);  // six seeds in a row
    // Scribble over a few words: indices, flags, lengths, the header, the
    // frames. (The membership word too, now and then.)
    for (int k = 0; k < 4; ++k) {
      size_t at = (rng() % (m.size() / 4)) * 4;
      if (round % 3 == 0) at = (rng() % (sizeof(ShmPortHeader) + 3 * 64 * 4)) & ~size_t{3};
      if (at >= members && at < members + 8 && round % 100 != 0) continue;
      const uint32_t v =
          rng() % 4 == 0 ? static_cast<uint32_t>(rng()) : static_cast<uint32_t>(rng() % 32);
      std::memcpy(m.base() + at, &v, sizeof v);
    }
    for (auto* ports : {&a, &b})
      for (auto& p : *ports) {
        send(*p, round, 3, static_cast<uint32_t>(rng() % 1400));
        for (PacketPtr& f : receive(*p, kT0 + Duration::micros(round))) {
          EXPECT_LE(f->size(), 1500u + 18u);
          EXPECT_EQ(f->next(), nullptr);
          ++received;
        }
      }
  }
  uint64_t errors = 0;
  for (auto* ports : {&a, &b})
    for (auto& p : *ports)
      errors += p->counters().rx_errors.get() + p->shm_counters().ring_broken.get();
  EXPECT_GT(errors, 0u);
  EXPECT_GT(received, 0u);
}

TEST_F(ShmPortTest, AThirdOpenerIsRefused) {
  Ports a = open();
  Ports b = open();
  auto c = try_open();
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().code, Errc::kAddressInUse);
  EXPECT_NE(std::string(c.error().message).find("already joined"), std::string::npos);
  EXPECT_EQ(send(*a[0], 0, 1), 1u);  // the two carry on
  EXPECT_EQ(receive(*b[0]).size(), 1u);
}

TEST_F(ShmPortTest, MismatchedQueuesOrMtuAreRefused) {
  Ports a = open(2);
  auto b = try_open(1);
  ASSERT_FALSE(b.ok());
  EXPECT_NE(std::string(b.error().message).find("--shards"), std::string::npos);
  auto c = try_open(2, {}, 9000);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(std::string(c.error().message).find("mtu"), std::string::npos);
  EXPECT_EQ(open(2).at(0)->side(), 'b');  // the right one still joins
}

TEST_F(ShmPortTest, AForeignObjectIsRefused) {
  Ports a = open();
  Mapping m(name_);
  m.header().magic = 0x1234;
  auto b = try_open();
  ASSERT_FALSE(b.ok());
  EXPECT_NE(std::string(b.error().message).find("not a shardnet port"), std::string::npos);
}

TEST_F(ShmPortTest, BadArgumentsAreRefused) {
  EXPECT_FALSE(try_open(0).ok());
  EXPECT_FALSE(try_open(65).ok());
  EXPECT_FALSE(try_open(1, ShmPortOptions{.slots = 12}).ok());
  EXPECT_FALSE(try_open(1, ShmPortOptions{.slots = 1}).ok());
  EXPECT_FALSE(try_open(1, {}, 67).ok());
  EXPECT_FALSE(ShmPort::open("a/b", 1, mac(1), 1500).ok());
  EXPECT_FALSE(exists(object_path()));
}

// A child process opens a side and dies without closing it.
pid_t open_and_die(const std::string& name, uint32_t queues, uint32_t send_seq = UINT32_MAX) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    auto r = ShmPort::open(name, queues, mac(50), 1500);
    if (!r.ok()) ::_exit(1);
    if (send_seq != UINT32_MAX) {
      PacketPool pool{PoolConfig{.count = 8}};
      PacketPtr f[1] = {make_frame(pool, mac(2), mac(50), send_seq)};
      if ((*r)[0]->tx_burst(f, kT0) != 1) ::_exit(2);
    }
    ::_exit(0);  // no destructors: the side is left held by a dead pid
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  return pid;
}

TEST_F(ShmPortTest, AStaleObjectIsReplaced) {
  open_and_die(name_, 2);
  ASSERT_TRUE(exists(object_path()));
  // Another shard count than the dead engine's: it is stale, so no matter.
  Ports a = open(1);
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0]->side(), 'a');
  EXPECT_FALSE(a[0]->peer_present());
  Ports b = open(1);
  EXPECT_EQ(send(*b[0], 3, 1), 1u);
  EXPECT_EQ(receive(*a[0]).size(), 1u);
}

TEST_F(ShmPortTest, AnObjectWhoseMakerDiedBeforeItWasReadyIsReplaced) {
  const pid_t dead = ::fork();
  if (dead == 0) ::_exit(0);
  ::waitpid(dead, nullptr, 0);
  const int fd = ::shm_open(shm_port_object_name(name_).c_str(), O_RDWR | O_CREAT | O_EXCL, 0600);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::ftruncate(fd, 4096), 0);
  void* p = ::mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  ASSERT_NE(p, MAP_FAILED);
  static_cast<ShmPortHeader*>(p)->members.store(
      shm_members(ShmState::kCreating, static_cast<uint32_t>(dead), 0));
  ::munmap(p, 4096);
  ::close(fd);
  Ports a = open();
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0]->side(), 'a');
}

TEST_F(ShmPortTest, ADeadSideIsTakenOverWhereItLeftOff) {
  Ports a = open();
  open_and_die(name_, 1, 42);  // joins as B, sends one frame, dies
  auto got = receive(*a[0]);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(seq_of(*got[0]), 42u);
  EXPECT_EQ(send(*a[0], 5, 2), 2u);  // to the dead B: they wait in the ring
  Ports b = open();
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(b[0]->side(), 'b');
  got = receive(*b[0]);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(seq_of(*got[0]), 5u);
  EXPECT_EQ(send(*b[0], 43, 1), 1u);
  got = receive(*a[0]);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(seq_of(*got[0]), 43u);
  EXPECT_EQ(a[0]->counters().rx_errors.get(), 0u);
  EXPECT_EQ(a[0]->shm_counters().ring_broken.get(), 0u);
}

TEST_F(ShmPortTest, AnEngineCanRejoinAfterLeaving) {
  Ports a = open();
  Ports b = open();
  EXPECT_EQ(send(*a[0], 0, 3), 3u);
  EXPECT_EQ(receive(*b[0]).size(), 3u);
  a.clear();  // A leaves; B holds the object
  Ports a2 = open();
  ASSERT_EQ(a2.size(), 1u);
  EXPECT_EQ(a2[0]->side(), 'a');
  EXPECT_EQ(send(*a2[0], 3, 2), 2u);
  auto got = receive(*b[0]);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(seq_of(*got[0]), 3u);
  EXPECT_EQ(send(*b[0], 9, 1), 1u);
  EXPECT_EQ(receive(*a2[0]).size(), 1u);
}

}  // namespace
}  // namespace sn
