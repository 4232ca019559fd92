// TCP on one shard: demultiplexing segments to connections (the 4-tuple
// table, the TIME-WAIT table, then listeners), RST for closed ports (RFC 9293
// §3.10.7.1), SYN cookies when a listener's queue is full (RFC 4987 §3.6),
// ephemeral ports (RFC 6056 §3.3.3), the shard's challenge-ACK limit (RFC 5961
// §7), and the shard's socket API over the TCP core in src/tcp. Each
// connection's one deadline is armed on the shard's timer wheel.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <unordered_map>
#include <vector>

#include "base/result.h"
#include "base/timer_wheel.h"
#include "buf/packet.h"
#include "stack/config.h"
#include "stack/route.h"
#include "stack/tcp_key_table.h"
#include "stack/tcp_time_wait.h"
#include "tcp/connection.h"
#include "tcp/isn.h"
#include "tcp/syn_cookie.h"
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
  // Bytes write() would take now (0 unless writable); the pool may still
  // run short and take fewer.
  uint32_t send_space() const { return conn_.send_space(); }
  bool eof() const { return conn_.eof(); }
  TcpState state() const { return conn_.state(); }
  TcpError error() const { return conn_.error(); }
  Result<void> shutdown();  // FIN once queued data is sent
  // Options: TCP_NODELAY (Nagle off), SO_KEEPALIVE (the stack's keepalive
  // times), TCP_CONGESTION.
  void set_nodelay(bool on);
  void set_keepalive(bool on);
  void set_congestion(CongestionAlgorithm algorithm);
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
  Ipv4Address local_address() const { return local_; }
  L4Port local_port() const { return lport_; }
  Ipv4Address remote_address() const { return remote_; }
  L4Port remote_port() const { return rport_; }
  // The connection's own next hop (egress interface), remembered from its
  // first segment on and looked up again only when the routes change.
  const RouteCache& route() const { return route_; }

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
  RouteCache route_;
  ConnectionCounters reported_;      // what the shard's totals hold of conn_'s
  TcpListener* listener_ = nullptr;  // until accepted
  bool released_ = false;            // the application called close()
  bool ack_listed_ = false;          // on Tcp's list of connections owing an ACK
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
  // Removes a listener: the port is free again, and handshakes still in
  // progress on it are reset (they have no one to accept them).
  void unlisten(TcpListener* listener);
  // An active open from an ephemeral port.
  Result<TcpSocket*> connect(Ipv4Address dst, L4Port port);
  // Handles a segment (a chain; data at the TCP header).
  void receive(const Ipv4Meta& meta, PacketPtr segment);
  // Sends the ACKs connections still owe (ConnectionConfig::defer_acks):
  // the stack calls it before it hands its batch to the ports, after the
  // applications had their say.
  void flush_acks();

  size_t connections() const { return table_.size(); }
  size_t time_wait() const { return tw_.size(); }
  Stack& stack() { return stack_; }
  const TcpConfig& config() const { return config_; }

 private:
  friend class TcpSocket;
  TcpSocket* create(Ipv4Address local, L4Port lport, Ipv4Address remote, L4Port rport);
  uint32_t our_mss(Ipv4Address remote) const;  // the MSS we announce to `remote`
  uint32_t tso_max(Ipv4Address remote) const;  // ConnectionConfig::tso_max to `remote`
  // After a socket's connection did anything: re-arm its deadline, hand a
  // finished handshake to its listener, deliver the event, and free it if it
  // is closed and released. The caller must not touch `s` afterwards.
  void after(TcpSocket* s);
  void reap(TcpSocket* s);
  void list_owed_ack(TcpSocket* s);  // if its connection owes one
  // A closed, released socket in TIME-WAIT moves to the TIME-WAIT table.
  void to_time_wait(TcpSocket* s);
  void arm_time_wait();
  void update_gauges();
  // Adds what s's connection counted since last time to the shard's totals.
  void fold_counters(TcpSocket* s);
  // A segment for a TIME-WAIT entry. False: a SYN that may open a new
  // incarnation (RFC 6191), for the listener.
  bool time_wait_input(TimeWaitEntry& tw, const Ipv4Meta& meta, const TcpView& seg,
                       const TcpOptions& opts, uint32_t data_len, SeqNum* reopen_above);
  // `isn_above`: a new incarnation of a TIME-WAIT 4-tuple starts past the old
  // one's sequence space (RFC 1122 §4.2.2.13).
  void listen_input(TcpListener& l, const Ipv4Meta& meta, const TcpView& seg,
                    const TcpOptions& opts, PacketPtr payload,
                    std::optional<SeqNum> isn_above = std::nullopt);
  void send_cookie(const Ipv4Meta& meta, const TcpView& syn, const TcpOptions& opts);
  // Null if the ACK carries no valid cookie, or (*table_full set) if it does
  // but there is no room for the connection.
  TcpSocket* accept_cookie(TcpListener& l, const Ipv4Meta& meta, const TcpView& ack,
                           const TcpOptions& opts, bool* table_full);
  L4Port ephemeral_port(Ipv4Address local, Ipv4Address remote, L4Port rport);
  void send_reset(const Ipv4Meta& meta, const TcpView& seg, uint32_t seg_len);
  // A segment no connection sends: header only, from `local` to `remote`.
  bool send_bare(Ipv4Address local, Ipv4Address remote, const TcpHeader& h);

  Stack& stack_;
  TcpConfig config_;
  IsnGenerator isn_;
  SynCookies cookies_;
  Instant last_cookie_ = Instant::never();  // when a SYN was last answered with one
  SipKey port_key_;                         // RFC 6056's F
  uint16_t next_ephemeral_;
  TokenBucket challenge_acks_;
  std::vector<TcpSocket*> owed_acks_;  // connections that may owe an ACK
  TcpKeyTable<std::unique_ptr<TcpSocket>> table_;
  // Sockets whose connection closed before the application released them:
  // out of the table (their 4-tuple is free again), kept until close().
  std::unordered_map<TcpSocket*, std::unique_ptr<TcpSocket>> closed_;
  TimeWaitTable tw_;
  Timer tw_timer_;
  std::vector<std::unique_ptr<TcpListener>> listeners_;
  std::vector<TcpListener*> by_port_;  // 65536 entries
};

}  // namespace sn
