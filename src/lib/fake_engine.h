// A fake engine for the client library's tests: a control socket at a
// temporary path that answers one "attach\n" the way the engine does (an
// AttachReply with the region's memfd and eventfds over SCM_RIGHTS, or a
// line of refusal), and the shard side of every shard's rings, driven by the
// test: pop the library's commands, post events, give frames back. It also
// lets a test misbehave (post garbage, hang up).
//
// Threads: the control socket is served by a thread of its own; the shard
// side is driven by one test thread at a time (the test's, or one it starts
// and joins), with the library at the other end of the rings, as for real.
#pragma once

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "base/check.h"
#include "host/protocol.h"
#include "host/region.h"
#include "host/shm_ring.h"
#include "lib/fd.h"

namespace sn::testing {

// A command the library posted, copied out of its frame. The frame itself
// is the fake's until give_back.
struct FakeCommand {
  uint32_t shard = 0;
  uint32_t offset = 0;
  host::FrameHeader header{};
  std::string payload;
  host::Command kind() const { return static_cast<host::Command>(header.kind); }
};

class FakeEngine {
 public:
  struct Options {
    uint32_t shards = 2;
    uint32_t frame_size = 128;  // 96 payload bytes: multi-frame sends are easy to make
    uint32_t in_frames = 8;
    uint32_t out_frames = 8;
    uint32_t host = 3;
    std::string refuse;  // not empty: answer the attach with this line instead
  };

  FakeEngine() : FakeEngine(Options{}) {}
  explicit FakeEngine(Options o) : options_(std::move(o)) {
    char tmpl[] = "/tmp/sn-lib-test-XXXXXX";
    SN_CHECK(::mkdtemp(tmpl) != nullptr);
    dir_ = tmpl;
    path_ = dir_ + "/control.sock";
    std::string why;
    const host::RegionConfig config{options_.shards, options_.frame_size, options_.in_frames,
                                    options_.out_frames};
    SN_CHECK(host::RegionLayout::validate(config).ok());
    auto r = host::Region::create(options_.host, host::RegionLayout::compute(config), &why);
    SN_CHECK(r.ok());
    region_ = std::move(*r);
    const host::RegionLayout& l = region_.layout();
    host_event_ = Fd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    shards_.resize(options_.shards);
    for (uint32_t s = 0; s < options_.shards; ++s) {
      Shard& k = shards_[s];
      const host::ShardQueues& q = l.queues[s];
      // Region::create filled in_free with a producer of its own, whose
      // private tail is gone: start the ring again with ours.
      shm_ring_init(region_.at(q.in_free), l.ring_capacity);
      k.in_free = ShmRingProducer(region_.at(q.in_free), l.ring_capacity);
      k.in_post = ShmRingConsumer(region_.at(q.in_post), l.ring_capacity);
      k.out_free = ShmRingConsumer(region_.at(q.out_free), l.ring_capacity);
      k.out_post = ShmRingProducer(region_.at(q.out_post), l.ring_capacity);
      const host::FrameSet in = l.in_frames(s);
      for (uint32_t i = 0; i < in.count; ++i)
        SN_CHECK(k.in_free.push(in.offset(i)));
      const host::FrameSet out = l.out_frames(s);
      for (uint32_t i = 0; i < out.count; ++i)
        k.spare_out.push_back(out.offset(i));
      k.event = Fd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    }
    listener_ = Fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, path_.c_str(), path_.size() + 1);
    SN_CHECK(::bind(listener_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
    SN_CHECK(::listen(listener_.get(), 4) == 0);
    server_ = std::thread([this] { serve(); });
  }

  ~FakeEngine() {
    stop_.store(true);
    server_.join();
    ::unlink(path_.c_str());
    ::rmdir(dir_.c_str());
  }

  const std::string& path() const { return path_; }
  host::Region& region() { return region_; }
  uint32_t payload_max() const { return region_.layout().payload_max(); }
  host::WakeFlags& flags() { return region_.flags(); }

  // ---- Shard side ----

  // The oldest command on shard s's in_post, if any.
  std::optional<FakeCommand> pop_command(uint32_t s) {
    Shard& k = shards_[s];
    uint32_t off;
    if (!k.in_post.pop(off)) return std::nullopt;
    SN_CHECK(region_.layout().in_frames(s).index_of(off).has_value());
    FakeCommand c;
    c.shard = s;
    c.offset = off;
    std::memcpy(&c.header, region_.at(off), sizeof(c.header));
    SN_CHECK(c.header.length <= payload_max());
    c.payload.assign(reinterpret_cast<const char*>(region_.at(off) + sizeof(host::FrameHeader)),
                     c.header.length);
    return c;
  }

  // The next command on shard s, sleeping on the shard's eventfd (as a
  // shard does) until the library wakes it; nullopt after `timeout_ms`.
  std::optional<FakeCommand> await_command(uint32_t s, int timeout_ms = 5000) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    for (;;) {
      if (auto c = pop_command(s)) return c;
      std::atomic<uint32_t>& sleeping = flags().shard_sleeping[s];
      sleeping.store(1, std::memory_order_relaxed);
      std::atomic_thread_fence(std::memory_order_seq_cst);
      if (auto c = pop_command(s)) {
        sleeping.store(0, std::memory_order_relaxed);
        return c;
      }
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) {
        sleeping.store(0, std::memory_order_relaxed);
        return std::nullopt;
      }
      pollfd p{shards_[s].event.get(), POLLIN, 0};
      ::poll(&p, 1, static_cast<int>(left.count()));
      sleeping.store(0, std::memory_order_relaxed);
      (void)shard_wakes(s);
    }
  }

  // Gives an inbound frame back to the library (in_free): the shard is done
  // with the command in it.
  void give_back(uint32_t s, uint32_t offset) {
    SN_CHECK(shards_[s].in_free.push(offset));
    wake_host();
  }
  void give_back(const FakeCommand& c) { give_back(c.shard, c.offset); }

  // Posts an event on shard s: the frame's offset, or nullopt if the shard
  // has no spare outbound frame.
  std::optional<uint32_t> post(uint32_t s, host::Event kind, host::FrameHeader h,
                               std::string_view payload = {}) {
    Shard& k = shards_[s];
    if (k.spare_out.empty()) return std::nullopt;
    const uint32_t off = k.spare_out.back();
    k.spare_out.pop_back();
    h.kind = static_cast<uint16_t>(kind);
    h.length = static_cast<uint32_t>(payload.size());
    SN_CHECK(payload.size() <= payload_max());
    std::memcpy(region_.at(off), &h, sizeof(h));
    if (!payload.empty()) std::memcpy(region_.at(off) + sizeof(h), payload.data(), payload.size());
    post_raw(s, off);
    return off;
  }

  // Pushes any entry onto shard s's out_post: a hostile engine's tool.
  void post_raw(uint32_t s, uint32_t entry) {
    SN_CHECK(shards_[s].out_post.push(entry));
    wake_host();
  }

  // Takes back the outbound frames the library released (out_free); returns
  // how many.
  uint32_t reclaim(uint32_t s) {
    Shard& k = shards_[s];
    uint32_t n = 0, off;
    while (k.out_free.pop(off)) {
      SN_CHECK(region_.layout().out_frames(s).index_of(off).has_value());
      k.spare_out.push_back(off);
      ++n;
    }
    return n;
  }
  size_t spare_out(uint32_t s) const { return shards_[s].spare_out.size(); }

  // How many times the fake wrote the host eventfd to wake a sleeping
  // library (after a post or a give_back), since it started.
  uint64_t host_wakes() const { return host_wakes_.load(); }

  // How many times the library woke shard s since the last call (drains
  // its eventfd).
  uint64_t shard_wakes(uint32_t s) {
    uint64_t n = 0;
    if (::read(shards_[s].event.get(), &n, sizeof(n)) != sizeof(n)) return 0;
    return n;
  }

  // ---- Control connection ----

  // Waits until a library attached (the reply was sent).
  bool wait_attached(int timeout_ms = 5000) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (!attached_.load()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return true;
  }
  // The engine goes away: closes the control connection.
  void hang_up() {
    SN_CHECK(wait_attached());
    ::shutdown(conn_.load(), SHUT_RDWR);
  }
  // Whether the library closed the control connection (detached) within
  // `timeout_ms`.
  bool library_hung_up(int timeout_ms = 5000) {
    SN_CHECK(wait_attached());
    pollfd p{conn_.load(), POLLIN, 0};
    if (::poll(&p, 1, timeout_ms) != 1) return false;
    char c;
    return ::recv(conn_.load(), &c, 1, MSG_DONTWAIT) == 0;
  }

 private:
  struct Shard {
    ShmRingProducer in_free;
    ShmRingConsumer in_post;
    ShmRingConsumer out_free;
    ShmRingProducer out_post;
    std::vector<uint32_t> spare_out;  // outbound frames the fake holds
    Fd event;
  };

  // After a post, as a shard does: wake the host if it sleeps.
  void wake_host() {
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (flags().host_sleeping.load(std::memory_order_relaxed) != 0) {
      const uint64_t one = 1;
      (void)!::write(host_event_.get(), &one, sizeof(one));
      host_wakes_.fetch_add(1);
    }
  }

  void serve() {
    int c = -1;
    while (!stop_.load()) {
      pollfd p{listener_.get(), POLLIN, 0};
      if (::poll(&p, 1, 20) != 1) continue;
      c = ::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC);
      if (c >= 0) break;
    }
    if (c < 0) return;
    conn_fd_ = Fd(c);
    std::string line;
    char buf[64];
    while (line.find('\n') == std::string::npos) {
      const ssize_t n = ::read(c, buf, sizeof(buf));
      if (n <= 0) return;
      line.append(buf, static_cast<size_t>(n));
    }
    if (!options_.refuse.empty()) {
      const std::string answer = options_.refuse + "\n";
      (void)!::send(c, answer.data(), answer.size(), MSG_NOSIGNAL);
      ::shutdown(c, SHUT_RDWR);
    } else {
      send_reply(c);
    }
    conn_.store(c);
    attached_.store(true);
  }

  void send_reply(int c) {
    host::AttachReply reply{host::kRegionMagic, host::kProtocolVersion, options_.host,
                            options_.shards, region_.layout().size};
    std::vector<int> fds{region_.fd(), host_event_.get()};
    for (const Shard& k : shards_)
      fds.push_back(k.event.get());
    iovec iov{&reply, sizeof(reply)};
    std::vector<char> control(CMSG_SPACE(sizeof(int) * fds.size()));
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.data();
    msg.msg_controllen = control.size();
    cmsghdr* cm = CMSG_FIRSTHDR(&msg);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
    std::memcpy(CMSG_DATA(cm), fds.data(), sizeof(int) * fds.size());
    SN_CHECK(::sendmsg(c, &msg, MSG_NOSIGNAL) == static_cast<ssize_t>(sizeof(reply)));
  }

  Options options_;
  std::string dir_, path_;
  host::Region region_;
  Fd host_event_;
  std::vector<Shard> shards_;
  Fd listener_;
  Fd conn_fd_;
  std::atomic<int> conn_{-1};
  std::atomic<bool> attached_{false};
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> host_wakes_{0};
  std::thread server_;
};

}  // namespace sn::testing
