// ICMP for one shard (RFC 792, RFC 1122 §3.2.2): echo replies of any size a
// datagram can have, and rate-limited errors (port and protocol unreachable,
// reassembly time exceeded) under the rules of §3.2.2 for when not to send one.
#pragma once

#include <cstdint>
#include <span>

#include "base/result.h"
#include "base/token_bucket.h"
#include "wire/address.h"

#include "base/time.h"
#include "buf/packet.h"
#include "stack/config.h"

namespace sn {

class Stack;
struct Ipv4Meta;

class Icmp {
 public:
  Icmp(Stack& stack, const IcmpConfig& config);

  // Handles an ICMP message (a chain; data at the ICMP header).
  void receive(const Ipv4Meta& meta, PacketPtr message);
  // Sends an error of `type`/`code` about the datagram `original` (data at
  // its IPv4 header, as described by `meta`), unless §3.2.2 forbids it or
  // the rate limit is reached.
  void send_error(uint8_t type, uint8_t code, const Ipv4Meta& meta, const Packet& original,
                  uint32_t rest = 0);

  // A minimal ping client: sends an echo request carrying `data`, and hands
  // every echo reply that arrives to the handler (the message is a chain with
  // data at the ICMP header).
  Result<void> send_echo_request(Ipv4Address dst, uint16_t id, uint16_t seq,
                                 std::span<const std::byte> data);
  using EchoReplyFn = void (*)(void* arg, const Ipv4Meta& meta, const Packet& message);
  void set_echo_reply_handler(EchoReplyFn fn, void* arg) {
    on_echo_reply_ = fn;
    on_echo_reply_arg_ = arg;
  }

 private:
  Stack& stack_;
  IcmpConfig config_;
  TokenBucket errors_;  // RFC 1812 §4.3.2.8
  EchoReplyFn on_echo_reply_ = nullptr;
  void* on_echo_reply_arg_ = nullptr;
};

}  // namespace sn
