// UDP for one shard (RFC 768, RFC 1122 §4.1): sockets bound to a port, with a
// bounded receive queue and a readable callback; send_to from bytes or from a
// packet chain (zero-copy); checksums checked and generated; port unreachable
// for closed ports.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "base/result.h"
#include "buf/packet.h"
#include "stack/config.h"
#include "wire/address.h"

namespace sn {

class Stack;
class Udp;
struct Ipv4Meta;

struct UdpDatagram {
  PacketPtr data;  // a chain holding the payload only
  Ipv4Address src;
  L4Port src_port;
  Ipv4Address dst;  // the address it was sent to (ours, or a broadcast)
};

class UdpSocket {
 public:
  using ReadableFn = void (*)(void* arg, UdpSocket& socket);

  L4Port local_port() const { return port_; }
  Ipv4Address local_address() const { return local_; }

  // Copies `data` into packets and sends it as one datagram.
  Result<void> send_to(Ipv4Address dst, L4Port port, std::span<const std::byte> data);
  // Sends `payload` (a chain holding the payload; the first link needs
  // headroom for the headers) as one datagram, without copying it.
  Result<void> send_to(Ipv4Address dst, L4Port port, PacketPtr payload);

  // The oldest queued datagram, if any.
  std::optional<UdpDatagram> recv();
  size_t queued() const { return count_; }
  // Called after each datagram is queued.
  void set_on_readable(ReadableFn fn, void* arg) {
    on_readable_ = fn;
    arg_ = arg;
  }

 private:
  friend class Udp;
  UdpSocket(Udp& udp, Ipv4Address local, L4Port port, uint32_t queue);
  bool push(UdpDatagram d);

  Udp& udp_;
  Ipv4Address local_;
  L4Port port_;
  std::vector<UdpDatagram> ring_;  // fixed size: a full queue drops
  uint32_t head_ = 0;
  uint32_t count_ = 0;
  ReadableFn on_readable_ = nullptr;
  void* arg_ = nullptr;
};

class Udp {
 public:
  Udp(Stack& stack, const UdpConfig& config);
  ~Udp();

  // Binds a socket to `port` on `local` (any: every address of the stack).
  // Port 0 picks a free ephemeral port (49152-65535, RFC 6335).
  Result<UdpSocket*> bind(Ipv4Address local, L4Port port);
  void close(UdpSocket* socket);
  // Handles a datagram (a chain; data at the UDP header).
  void receive(const Ipv4Meta& meta, PacketPtr datagram);

  Stack& stack() { return stack_; }

 private:
  Stack& stack_;
  UdpConfig config_;
  std::vector<std::unique_ptr<UdpSocket>> sockets_;
  std::vector<UdpSocket*> by_port_;  // 65536 entries: a lookup is one load
};

}  // namespace sn
