// A test fixture for the client library: a FakeEngine (fake_engine.h) and a
// library attached to it, with helpers for the shard's side of the usual
// exchanges (a replicated listen, an accepted connection).
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "lib/client.h"
#include "lib/fake_engine.h"
#include "lib/shardnet.h"

namespace sn::testing {

// An event's header fields, the rest zero.
inline host::FrameHeader header(uint32_t handle, uint32_t user = 0, int32_t status = 0,
                                uint32_t addr = 0, uint16_t port = 0) {
  host::FrameHeader h{};
  h.handle = handle;
  h.user = user;
  h.status = status;
  h.addr = addr;
  h.port = port;
  return h;
}

// Until the library sleeps on its eventfd (or 5 s pass).
inline bool await_host_sleeping(FakeEngine& fake) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (fake.flags().host_sleeping.load() == 0) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::yield();
  }
  return true;
}

class ClientTest : public ::testing::Test {
 protected:
  void attach(FakeEngine::Options options = {}) {
    fake_ = std::make_unique<FakeEngine>(options);
    char why[256] = {};
    h_ = sn_attach(fake_->path().c_str(), why, sizeof(why));
    ASSERT_NE(h_, nullptr) << why;
    ASSERT_TRUE(fake_->wait_attached());
  }
  void TearDown() override {
    if (h_ != nullptr) sn_detach(h_);
  }
  Client& client() { return *Client::from_c(h_); }
  FakeEngine& fake() { return *fake_; }

  // What a replicated setup (listen, udp bind) did: its result and the
  // command each shard saw. Shard s answers with handle 100 + s.
  struct Setup {
    int result = 0;
    std::vector<FakeCommand> commands;
  };
  Setup setup(const std::function<int()>& call, host::Command expect, host::Event answer,
              std::vector<int32_t> statuses = {0, 0}) {
    Setup out;
    out.commands.resize(statuses.size());
    std::thread shards([&] {
      for (uint32_t s = 0; s < statuses.size(); ++s) {
        auto c = fake_->await_command(s);
        if (!c) {
          ADD_FAILURE() << "shard " << s << " got no command";
          return;
        }
        EXPECT_EQ(c->kind(), expect);
        fake_->give_back(*c);
        EXPECT_TRUE(fake_->post(s, answer, header(100 + s, c->header.user, statuses[s])));
        out.commands[s] = *c;
      }
    });
    out.result = call();
    shards.join();
    reclaim_all();  // the answers' frames: tests count frames from here on
    return out;
  }

  // A listener on `port` that every shard accepted; its user token in *user.
  sn_socket listen_ok(uint16_t port, uint32_t* user = nullptr) {
    Setup s = setup([&] { return sn_listen(h_, port, 16); }, host::Command::kListen,
                    host::Event::kListening);
    EXPECT_GT(s.result, 0) << sn_strerror(s.result);
    if (user != nullptr) *user = s.commands[0].header.user;
    return s.result;
  }

  // A connection shard `shard` accepted for the listener, with `handle`.
  sn_socket accept_on(uint32_t shard, uint32_t handle, uint32_t addr = 0x0a000002,
                      uint16_t port = 40000) {
    uint32_t user;
    listener_ = listen_ok(8080, &user);
    EXPECT_TRUE(fake_->post(shard, host::Event::kAccepted, header(handle, user, 0, addr, port)));
    const int c = sn_accept(h_, listener_, nullptr, nullptr);
    EXPECT_GT(c, 0) << sn_strerror(c);
    reclaim_all();
    return c;
  }

  void reclaim_all() {
    for (uint32_t s = 0; s < client().shards(); ++s)
      fake_->reclaim(s);
  }

  std::string recv_all(sn_socket s) {
    std::string got;
    char buf[64];
    for (;;) {
      const ssize_t n = sn_recv(h_, s, buf, sizeof(buf));
      if (n <= 0) return got;
      got.append(buf, static_cast<size_t>(n));
    }
  }

  std::unique_ptr<FakeEngine> fake_;
  sn_host* h_ = nullptr;
  sn_socket listener_ = 0;
};

}  // namespace sn::testing
