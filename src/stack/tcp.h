// TCP on one shard: demultiplexing segments to connections (the 4-tuple
// table, then listeners), RST for closed ports (RFC 9293 §3.10.7.1), and the
// shard's socket API over the TCP core in src/tcp. Each connection's one
// deadline is armed on the shard's timer wheel.
//
// Not here yet (issue 4): SYN cookies, a bounded TIME_WAIT table separate from
// the connections, RFC 5961 challenge-ACK rate limiting, ephemeral port choice
// per RFC 6056 beyond a random start.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <unordered_map>
#include <vector>

#include "base/result.h"
#include "base/timer_wheel.h"
#include "buf/packet.h"
#include "stack/config.h"
#include "tcp/connection.h"
#include "tcp/isn.h"
#include "wire/address.h"

namespace sn {

class Stack;
class Tcp;
class TcpListener;
struct Ipv4Meta;

// An application's handle on one connection. Valid until the connection is
// closed and released (close() or abort(), then the connection reaches CLOSED).
class TcpSocket final : public SegmentSink {
 public:
  using EventFn = void (*)(void* arg, TcpSocket& socket);

  uint32_t write(std::span<const std::byte> data);
  uint32_t read(std::span<std::byte> out);
  bool readable() const { return conn_.readable(); }
  bool writable() const { return conn_.writable(); }
  bool eof() const { return conn_.eof(); }
  TcpState state() const { return conn_.state(); }
  TcpError error() const { return conn_.error(); }
  Result<void> shutdown();  // FIN once queued data is sent
  // Done with the socket: FIN after queued data; the stack frees it once the
  // connection has closed. No events are delivered after this.
  void close();
  void abort();  // RST now; freed on the stack's next poll
  // Called whenever the connection may have become readable, writable,
  // connected or closed.
  void set_on_event(EventFn fn, void* arg) {
    on_event_ = fn;
    arg_ = arg;
  }
  const Connection& connection() const { return conn_; }

  // SegmentSink: adds the TCP header to a segment and hands it to IPv4.
  void send(const TcpHeader& h, PacketPtr payload) override;

 private:
  friend class Tcp;
  TcpSocket(Tcp& tcp, const ConnectionConfig& config, Ipv4Address local, L4Port lport,
            Ipv4Address remote, L4Port rport);
  void arm();  // the connection's deadline onto the wheel

  Tcp& tcp_;
  Connection conn_;
  Timer timer_;
  Ipv4Address local_, remote_;
  L4Port lport_, rport_;
  TcpListener* listener_ = nullptr;  // until accepted
  bool released_ = false;            // the application called close()
  EventFn on_event_ = nullptr;
  void* arg_ = nullptr;
};

class TcpListener {
 public:
  using AcceptFn = void (*)(void* arg, TcpSocket& socket);
  L4Port port() const { return port_; }

 private:
  friend class Tcp;
  L4Port port_;
  uint32_t backlog_;
  uint32_t pending_ = 0;  // handshakes not yet complete
  AcceptFn on_accept_;
  void* arg_;
};

class Tcp {
 public:
  Tcp(Stack& stack, const TcpConfig& config);
  ~Tcp();

  // A listener on `port` (every local address). Each connection that completes
  // its handshake is handed to `on_accept`; at most `backlog` handshakes wait.
  Result<TcpListener*> listen(L4Port port, uint32_t backlog, TcpListener::AcceptFn on_accept,
                              void* arg);
  // An active open from an ephemeral port.
  Result<TcpSocket*> connect(Ipv4Address dst, L4Port port);
  // Handles a segment (a chain; data at the TCP header).
  void receive(const Ipv4Meta& meta, PacketPtr segment);

  size_t connections() const { return table_.size(); }
  Stack& stack() { return stack_; }
  const TcpConfig& config() const { return config_; }

 private:
  friend class TcpSocket;
  struct Key {
    uint32_t local, remote;
    uint16_t lport, rport;
    bool operator==(const Key&) const = default;
  };
  struct KeyHash {
    size_t operator()(const Key& k) const {
      uint64_t x = (uint64_t{k.remote} << 32 | k.local) ^
                   (uint64_t{k.rport} << 16 | k.lport) * 0x9e3779b97f4a7c15ULL;
      return static_cast<size_t>(x ^ (x >> 29));
    }
  };
  TcpSocket* create(Ipv4Address local, L4Port lport, Ipv4Address remote, L4Port rport);
  // After a socket's connection did anything: re-arm its deadline, hand a
  // finished handshake to its listener, deliver the event, and free it if it
  // is closed and released. The caller must not touch `s` afterwards.
  void after(TcpSocket* s);
  void reap(TcpSocket* s);
  void send_reset(const Ipv4Meta& meta, const TcpView& seg, uint32_t seg_len);

  Stack& stack_;
  TcpConfig config_;
  IsnGenerator isn_;
  std::unordered_map<Key, std::unique_ptr<TcpSocket>, KeyHash> table_;
  std::vector<std::unique_ptr<TcpListener>> listeners_;
  std::vector<TcpListener*> by_port_;  // 65536 entries
};

}  // namespace sn
