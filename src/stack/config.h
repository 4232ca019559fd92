// Configuration of one shard's stack: its interfaces and the bounds of every
// table and queue it keeps.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <vector>

#include "base/time.h"
#include "tcp/connection.h"
#include "wire/address.h"

namespace sn {

struct ArpConfig {
  Duration entry_ttl = Duration::seconds(60);  // a resolved entry is trusted this long
  Duration retry_interval = Duration::seconds(1);
  uint32_t max_retries = 3;         // requests sent before giving up on a next hop
  uint32_t cache_size = 256;        // entries, resolved or pending
  uint32_t pending_per_entry = 16;  // packets waiting for one next hop
  uint32_t pending_total = 256;     // packets waiting for any next hop
};

// RFC 791 §3.2 / RFC 815; bounds per DESIGN "every reassembly buffer has a bound".
struct ReassemblyConfig {
  uint32_t max_datagrams = 64;               // datagrams being reassembled at once
  uint32_t max_fragments = 64;               // fragments of one datagram (at most 64)
  uint32_t max_buffers = 1024;               // packet buffers held by all of them
  Duration timeout = Duration::seconds(30);  // RFC 1122 §3.3.2 suggests 60-120s; Linux uses 30s
};

struct IcmpConfig {
  uint32_t error_rate = 1000;  // ICMP errors per second (token bucket refill), RFC 1812 §4.3.2.8
  uint32_t error_burst = 50;   // bucket depth
};

struct UdpConfig {
  uint32_t rx_queue = 256;  // datagrams waiting in one socket
};

struct TcpConfig {
  ConnectionConfig connection;  // its mss: see max_mss
  // Our MSS (RFC 6691, RFC 9293 §3.7.1): the route's interface MTU less 40,
  // at most this (connection.mss where there is no route).
  uint32_t max_mss = 65495;
  // Send new data as super-segments when the route's port cuts them itself
  // (Port::tx_tso_max; connection.tso_max is set from it).
  bool tso = true;
  uint32_t max_connections = 4096;      // in every state but TIME-WAIT's table
  uint32_t max_time_wait = 4096;        // TIME-WAIT entries (Linux: tcp_max_tw_buckets)
  bool syn_cookies = true;              // when a listener's SYN queue is full (RFC 4987)
  uint32_t challenge_ack_limit = 1000;  // per second, shared (RFC 5961 §7; Linux's default)
  uint16_t ephemeral_first = 49152;     // RFC 6056 §2.1, IANA's range
  uint16_t ephemeral_last = 65535;
  // The keyed hashes' secret (ISNs per RFC 6528, SYN cookies, RFC 6056's
  // port offsets, each under a key derived from it): the engine hands in a
  // random one.
  std::array<uint8_t, 16> isn_secret{};
};

struct StackConfig {
  ArpConfig arp;
  ReassemblyConfig reassembly;
  IcmpConfig icmp;
  UdpConfig udp;
  TcpConfig tcp;
  uint8_t default_ttl = 64;
  uint32_t tx_batch = 32;  // frames gathered before a port's tx_burst
  uint32_t rx_burst = 32;
};

}  // namespace sn
