// The socket module (the patent's ISM, Fig. 13): on each shard, it turns the
// frames that attached hosts post to this shard's queues into socket calls on
// the shard's stack, and the stack's events into frames back to the hosts.
// It runs on the shard's thread only; what it shares with a host is that
// host's region, which it never trusts (see src/host/protocol.h): the layout,
// the rings' own indices and every frame's owner are kept here.
//
// Sockets: a host's listen is replicated (the library sends it to every
// shard); each shard reports the connections it accepts; a connection's
// every later command comes to its shard. A handle is (generation << 20 |
// slot + 1), valid for one host until that host closes it.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <vector>

#include "base/counter.h"
#include "host/protocol.h"
#include "host/region.h"
#include "host/shm_ring.h"
#include "stack/stack.h"

namespace sn {

// clang-format off
#define SN_SOCKET_MODULE_COUNTERS(X) \
  X(host_attaches) \
  X(host_detaches) \
  X(host_commands) \
  X(host_events) \
  X(host_violations)       /* a host broke the protocol: it is detached */ \
  X(host_out_of_frames)    /* a socket had something for a host holding every outbound frame */ \
  X(host_udp_truncated)    /* a datagram longer than a frame, cut (the host is told) */ \
  X(host_socket_limit)     /* a socket refused (EMFILE) or a connection reset: the host has too many */ \
  X(host_sockets)          /* gauge: the hosts' sockets on this shard now */
// clang-format on

struct SocketModuleCounters {
#define SN_DECLARE(name) Counter name;
  SN_SOCKET_MODULE_COUNTERS(SN_DECLARE)
#undef SN_DECLARE
  template <typename F>
  void for_each(F&& f) const {
#define SN_VISIT(name) f(#name, name.get());
    SN_SOCKET_MODULE_COUNTERS(SN_VISIT)
#undef SN_VISIT
  }
};

class SocketModule {
 public:
  // Called (on the shard's thread) when a host breaks the protocol.
  using ViolationFn = void (*)(void* arg, uint32_t host, const char* why);

  SocketModule(Stack& stack, uint32_t shard, ViolationFn on_violation, void* arg);
  ~SocketModule();
  SocketModule(const SocketModule&) = delete;
  SocketModule& operator=(const SocketModule&) = delete;

  // A host attached: `base` is the engine's mapping of its region, `wake_fd`
  // its eventfd. The module serves it until detach().
  void attach(uint32_t host, std::byte* base, const host::RegionLayout& layout, int wake_fd);
  // The host is gone: its connections end (RST where it left data unread,
  // else FIN after what it sent), its listeners and UDP sockets close. The
  // module touches its region no more.
  void detach(uint32_t host);

  // Takes every host's commands and returned frames, and posts the events
  // that fit in the outbound frames it has. Returns the work done.
  size_t poll();
  // A host has posted something this shard has not taken yet.
  bool has_input();
  // Tells every host whether this shard sleeps (it then needs a wake-up).
  void set_sleeping(bool sleeping);

  // Per host: at most `n` sockets on this shard (past that, EMFILE, and a
  // connection for it is reset), and 2n events waiting for a frame (past
  // that, it holds its frames while its events pile up: it is detached).
  void set_max_sockets_per_host(uint32_t n) { max_sockets_ = n; }

  size_t hosts() const { return links_.size(); }
  size_t sockets() const { return sockets_in_use_; }
  const SocketModuleCounters& counters() const { return counters_; }

 private:
  struct Link;
  struct Sock;

  Link* link_of(uint32_t host);
  void violation(Link& l, const char* why);
  void take_commands(Link& l);
  void take_returned_frames(Link& l);
  void command(Link& l, uint32_t offset, const host::FrameHeader& h);
  Sock* sock_of(Link& l, uint32_t handle, const char* what);
  Sock& new_sock(Link& l, uint8_t kind, uint32_t user);
  void free_sock(Sock& s);
  uint32_t handle_of(const Sock& s) const;
  // The inbound frame at `offset` goes back to the host.
  void give_back(Link& l, uint32_t offset);
  // Posts an event; false if the host holds every outbound frame.
  bool post(Link& l, const host::FrameHeader& h, std::span<const std::byte> payload = {});
  // The outbound frame at `off` (filled) goes to the host.
  void commit(Link& l, uint32_t off, const host::FrameHeader& h);
  // A control event, in order after those that wait for a frame; once out,
  // the socket `announce` (a handle, or 0) may send its data.
  bool post_control(Link& l, const host::FrameHeader& h, uint32_t announce);
  void ready(Sock& s);
  // What a socket has for its host: events, data, datagrams. True when done.
  bool pump_out(Sock& s);
  void pump_sends(Sock& s);
  static void on_tcp_event(void* arg, TcpSocket& socket);
  static void on_accept(void* arg, TcpSocket& socket);
  static void on_udp(void* arg, UdpSocket& socket);

  Stack& stack_;
  const uint32_t shard_;
  ViolationFn on_violation_;
  void* violation_arg_;
  std::vector<std::unique_ptr<Link>> links_;
  std::deque<Sock> socks_;  // stable addresses: the stack's callbacks hold them
  std::vector<uint32_t> free_socks_;
  size_t sockets_in_use_ = 0;
  uint32_t max_sockets_ = 16384;
  std::vector<Sock*> ready_;      // sockets with something for their host
  std::vector<Sock*> ready_now_;  // poll()'s working copy of ready_
  SocketModuleCounters counters_;
};

}  // namespace sn
