// The client library's engine (the patent's OSM, Fig. 13): one attachment to
// a shardnet engine, its sockets, and the four rings per shard it shares
// with the shards. The C API (shardnet.h) is a thin wrapper; the meaning of
// every call is documented there.
//
// Socket handles (Fig. 9B's triple): a socket's number (host << 20 | index)
// is the application's; the engine knows it as `user`, a token of index and
// generation, so an answer for a socket closed meanwhile is recognised as
// stale; each shard names its socket by its own `handle`. A TCP connection
// lives on one shard and every command on it goes to that shard's queues; a
// listener or UDP socket has one handle per shard.
//
// Trust: the engine's rings and frames are shared memory. Every offset
// popped from them is checked to be one of that shard's frames of the right
// kind and not one the library already holds, every length against the
// frame, every handle against the library's own tables; what fails is
// dropped and counted (ClientCounters). A ring whose indices are impossible
// ends the attachment (-EPROTO).
//
// Blocking sockets (sn_set_blocking): a call that cannot go on waits in
// block(), the same loop as sn_wait (pump, wake the shards, sleep on the host
// eventfd), until what it waits for, the engine's end, or its timeout.
//
// Threads: one at a time (see shardnet.h).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/fifo.h"
#include "base/result.h"
#include "host/protocol.h"
#include "host/region.h"
#include "host/shm_ring.h"
#include "lib/attach.h"
#include "lib/fd.h"
#include "lib/shardnet.h"

namespace sn {

// One counter per reason an engine's message was dropped, and a few of the
// library's own moves.
struct ClientCounters {
  uint64_t events = 0;          // frames popped from out_post and accepted as frames
  uint64_t bad_offset = 0;      // an out_post or in_free entry that is not a frame of its kind
  uint64_t frame_not_ours = 0;  // a frame posted (or given) to us that we already held
  uint64_t bad_length = 0;      // a payload length past the frame
  uint64_t unknown_event = 0;   // an event kind we do not know
  uint64_t unexpected_event =
      0;                        // a known event nobody asked for (a second answer, data after FIN)
  uint64_t stale_events = 0;    // events for handles we closed (expected: they were in flight)
  uint64_t orphans_closed = 0;  // handles the engine gave for sockets already closed: kClose sent
  uint64_t handle_reused = 0;   // a shard named a new connection with a handle still open here
  uint64_t no_socket_slot = 0;  // accepted connections closed because the socket table was full
  uint64_t shard_wakes = 0;     // eventfd writes to wake a sleeping shard
  uint64_t sleeps = 0;          // times sn_wait or a blocking call slept on the host eventfd
  uint64_t blocks = 0;          // times a call on a blocking socket had to wait
};

class Client {
 public:
  // Connects to the control socket at `control_path` (empty: the default).
  static Result<std::unique_ptr<Client>> attach(const std::string& control_path, std::string* why);
  explicit Client(Attachment attachment);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // The C API's handle is the Client itself.
  sn_host* as_c() { return reinterpret_cast<sn_host*>(this); }
  static Client* from_c(sn_host* h) { return reinterpret_cast<Client*>(h); }

  int listen(uint16_t port, int backlog);
  int accept(sn_socket listener, uint32_t* addr, uint16_t* port);
  int connect(uint32_t addr, uint16_t port);
  int udp_bind(uint16_t port);
  ssize_t send(sn_socket s, const void* data, size_t len);
  ssize_t recv(sn_socket s, void* buf, size_t len);
  ssize_t sendto(sn_socket s, const void* data, size_t len, uint32_t addr, uint16_t port);
  ssize_t recvfrom(sn_socket s, void* buf, size_t len, uint32_t* addr, uint16_t* port);
  ssize_t recv_view(sn_socket s, const void** data);
  void recv_done(sn_socket s, size_t consumed);
  int shutdown(sn_socket s);
  int close(sn_socket s);
  int setsockopt(sn_socket s, int option, int value);
  int watch(sn_socket s, uint32_t events);
  int wait(sn_event* out, int max, int timeout_ms);
  int set_blocking(sn_socket s, bool blocking);
  int set_timeout(sn_socket s, int timeout_ms);

  const ClientCounters& counters() const { return counters_; }
  uint32_t shards() const { return shards_; }
  uint32_t host() const { return region_.host(); }
  // 0 while attached; -EPIPE once the engine went away, -EPROTO once it
  // broke the protocol.
  int failed() const { return failed_; }
  // What the engine wrote on the control connection after the attach (a
  // reason for a detach, say), if anything.
  const std::string& engine_message() const { return engine_message_; }
  // How long listen and udp_bind wait for every shard's answer.
  void set_setup_timeout_ms(int ms) { setup_timeout_ms_ = ms; }

 private:
  enum class Kind : uint8_t { kFree, kListener, kStream, kUdp };
  enum class StreamState : uint8_t { kConnecting, kConnected, kFailed };
  // A shard's answer to a replicated kListen / kUdpBind.
  enum class Answer : uint8_t { kNone, kOk, kFailed };

  // Received bytes or a datagram, in an outbound frame we hold.
  struct RxFrame {
    uint32_t offset;
    uint32_t length;
    uint32_t consumed;
    uint32_t addr;  // datagrams: the sender
    uint16_t port;
    uint8_t shard;
  };

  struct Sock {
    Kind kind = Kind::kFree;
    uint16_t gen = 0;  // bumped when freed: the token's upper bits
    uint32_t interest = 0;
    bool candidate = false;   // in candidates_
    bool blocking = false;    // sn_set_blocking
    int32_t timeout_ms = -1;  // sn_set_timeout: a blocking call's longest wait (-1: none)
    uint64_t waiting = 0;     // bit s: in shard s's write_waiters
    // Stream.
    StreamState state = StreamState::kConnecting;
    bool has_handle = false;
    bool eof = false;      // kEof seen
    bool closed = false;   // kClosed seen, or the engine is gone
    bool shut_wr = false;  // sn_shutdown called
    uint8_t shard = 0;
    uint32_t handle = 0;
    int32_t error = 0;  // a failed connect's or a broken connection's -errno
    uint32_t peer_addr = 0;
    uint16_t peer_port = 0;
    Fifo<RxFrame> rx;  // streams: bytes; UDP: datagrams
    // Listener, UDP: per shard.
    std::vector<uint32_t> handles;
    std::vector<Answer> answered;
    uint32_t answers = 0;
    int32_t setup_error = 0;
    Fifo<uint32_t> accepted;  // listener: indices of accepted streams
  };

  // The library's side of one shard's queues.
  struct Link {
    ShmRingConsumer in_free;
    ShmRingProducer in_post;
    ShmRingProducer out_free;
    ShmRingConsumer out_post;
    host::FrameSet in, out;
    std::vector<uint8_t> in_owned;        // by frame index: popped from in_free, not posted yet
    std::vector<uint8_t> out_held;        // by frame index: popped from out_post, not freed yet
    Fifo<host::FrameHeader> backlog;      // commands waiting for an inbound frame, in order
    std::vector<uint32_t> write_waiters;  // sockets not writable for want of a frame
    Fd event;
  };

  // Sets shards' wake bits as commands are posted; writes their eventfds
  // once, when the public call ends.
  struct WakeGuard {
    Client* c;
    ~WakeGuard() { c->flush_wakes(); }
  };

  // Socket table (client.cc).
  int alloc(Kind kind);
  void free_slot(uint32_t index);
  Sock* lookup(sn_socket s, uint32_t* index = nullptr);
  Sock* by_user(uint32_t user, uint32_t* index = nullptr);
  Sock* by_handle(uint32_t shard, uint32_t handle, Kind kind);
  sn_socket socket_of(uint32_t index) const {
    return static_cast<sn_socket>(host_bits_ << 20 | index);
  }
  uint32_t token_of(uint32_t index) const {
    return static_cast<uint32_t>(socks_[index].gen & 0xfff) << 20 | index;
  }
  static uint64_t handle_key(uint32_t shard, uint32_t handle) {
    return uint64_t{shard} << 32 | handle;
  }
  int replicated_setup(Kind kind, host::Command command, uint16_t port, uint32_t arg);
  void close_socket(uint32_t index);

  // Frames and commands (client.cc).
  host::FrameHeader read_header(uint32_t offset) const;
  const std::byte* payload(uint32_t offset) const {
    return region_.at(offset) + sizeof(host::FrameHeader);
  }
  bool take_in_frame(uint32_t shard, uint32_t* offset);
  bool frame_available(uint32_t shard);
  void post_in(uint32_t shard, uint32_t offset, const host::FrameHeader& h, const void* data);
  void release_out(uint32_t shard, uint32_t offset);
  void send_command(uint32_t shard, const host::FrameHeader& h);
  void close_handle(uint32_t shard, uint32_t handle);
  void flush_backlog(uint32_t shard);
  void flush_wakes();

  // Stream and datagram I/O helpers (client_io.cc).
  int recv_state(const Sock& k) const;
  ssize_t send_once(Sock& k, const void* data, size_t len);
  ssize_t sendto_once(Sock& k, const void* data, size_t len, uint32_t addr, uint16_t port);
  bool can_send(const Sock& k);
  bool can_sendto(const Sock& k);
  ssize_t await_rx(Sock& k);
  void release_rx(Sock& k);
  void drop_rx_front(Sock& k);

  // Events (client_events.cc).
  void pump();
  void drain_shard(uint32_t shard);
  void on_out_frame(uint32_t shard, uint32_t offset);
  bool dispatch(uint32_t shard, uint32_t offset, const host::FrameHeader& h);
  void on_setup_answer(uint32_t shard, const host::FrameHeader& h, Kind kind);
  void on_connected(uint32_t shard, const host::FrameHeader& h);
  void on_accepted(uint32_t shard, const host::FrameHeader& h);
  void adopt_handle(uint32_t shard, uint32_t handle, uint32_t index);
  void forget_handle(uint32_t shard, uint32_t handle, uint32_t index);
  bool on_stream_event(uint32_t shard, uint32_t offset, const host::FrameHeader& h);
  bool on_datagram(uint32_t shard, uint32_t offset, const host::FrameHeader& h);
  void check_rings();
  void check_control();
  void fail(int err);

  // Readiness and sleeping (client_wait.cc).
  using Clock = std::chrono::steady_clock;
  void mark(uint32_t index);
  uint32_t readiness(uint32_t index);
  int collect(sn_event* out, int max);
  bool work_pending();
  // Sleeps on the host eventfd unless work is pending, or `recheck` (if
  // given) is already true once the sleep flag is up.
  void sleep(int timeout_ms, const std::function<bool()>* recheck = nullptr);
  // Pumps and sleeps until `done` or the timeout (-1: none).
  bool wait_until(const std::function<bool()>& done, int timeout_ms);
  // Likewise until the deadline (none: forever); with `recheck`, `done` is
  // asked again after the sleep flag is up (for conditions on the rings).
  bool wait_until(const std::function<bool()>& done, std::optional<Clock::time_point> deadline,
                  bool recheck);
  // A blocking call on `k` that cannot go on: waits as sn_wait does until
  // `ready`, or the engine is gone, or k's timeout from `start` ends (then
  // false). `ready` may read the rings (a free frame): it is asked again
  // before each sleep, so a frame given back meanwhile is not slept through.
  bool block(const Sock& k, Clock::time_point start, const std::function<bool()>& ready);

  host::Region region_;
  Fd control_;
  Fd host_event_;
  uint32_t shards_ = 0;
  uint32_t host_bits_ = 0;
  uint32_t payload_max_ = 0;
  std::vector<Link> links_;
  std::deque<Sock> socks_;  // [0] unused: socket numbers are > 0; a deque keeps references stable
  std::vector<uint32_t> free_slots_;
  std::unordered_map<uint64_t, uint32_t> by_handle_;  // (shard, handle) -> index
  std::vector<uint32_t> candidates_;                  // sockets that may be ready
  uint64_t wake_mask_ = 0;                            // shards posted to since the last flush
  uint32_t next_shard_ = 0;                           // round robin for connects
  uint32_t wait_calls_ = 0;
  int failed_ = 0;
  int setup_timeout_ms_ = 5000;
  std::string engine_message_;
  ClientCounters counters_;
};

}  // namespace sn
