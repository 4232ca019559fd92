// The counters of one shard's stack: traffic in and out, and one counter per
// drop reason, each named so `shardnet stats` can show it. Written only by the
// shard's thread, readable from any (see base/counter.h).
#pragma once

#include "base/counter.h"
#include "tcp/connection.h"

namespace sn {

// clang-format off
// X(name): traffic and events; tcp_connections and tcp_time_wait are gauges
// (connections in the table now, entries in the TIME-WAIT table now). A TCP
// super-segment (TSO) counts once in tcp_tx_segments, ip_tx_datagrams and
// tx_frames, and in ip_tx_tso; ip_tx_gso_segments counts the segments the
// stack cut from one for a port without TSO.
#define SN_STACK_TRAFFIC_COUNTERS(X) \
  X(rx_frames) \
  X(rx_bytes) \
  X(tx_frames) \
  X(tx_bytes) \
  X(ip_rx_datagrams) \
  X(ip_tx_datagrams) \
  X(ip_tx_fragments) \
  X(ip_tx_tso) \
  X(ip_tx_gso_segments) \
  X(ip_reassembled) \
  X(arp_rx) \
  X(arp_tx_requests) \
  X(arp_tx_replies) \
  X(arp_resolved) \
  X(icmp_rx) \
  X(icmp_tx) \
  X(icmp_echo_replies) \
  X(icmp_tx_unreachable) \
  X(icmp_tx_time_exceeded) \
  X(udp_rx_datagrams) \
  X(udp_tx_datagrams) \
  X(tx_batches) \
  X(tcp_rx_segments) \
  X(tcp_tx_segments) \
  X(tcp_tx_resets) \
  X(tcp_active_opens) \
  X(tcp_passive_opens) \
  X(tcp_accepted) \
  X(tcp_syn_cookies_sent) \
  X(tcp_syn_cookies_accepted) \
  X(tcp_syn_cookies_failed) \
  X(tcp_time_wait_entered) \
  X(tcp_time_wait_overflow) \
  X(tcp_time_wait_reopened) \
  X(tcp_time_wait_acks) \
  X(tcp_connections) \
  X(tcp_time_wait)

// X(name): one per reason a packet is dropped. Names read "where_why".
#define SN_STACK_DROP_COUNTERS(X) \
  X(eth_truncated) \
  X(eth_unsupported) \
  X(eth_not_for_us) \
  X(eth_unknown_type) \
  X(arp_malformed) \
  X(arp_unsupported) \
  X(arp_bad_sender) \
  X(arp_conflict) \
  X(arp_pending_full) \
  X(arp_unresolved) \
  X(arp_cache_full) \
  X(ip_truncated) \
  X(ip_bad_version) \
  X(ip_bad_header_length) \
  X(ip_bad_total_length) \
  X(ip_bad_option) \
  X(ip_bad_checksum) \
  X(ip_bad_source) \
  X(ip_not_for_us) \
  X(ip_unknown_protocol) \
  X(ip_no_route) \
  X(ip_df_too_big) \
  X(ip_too_big) \
  X(frag_duplicate) \
  X(frag_overlap) \
  X(frag_bad_length) \
  X(frag_too_big) \
  X(frag_too_many) \
  X(frag_inconsistent) \
  X(frag_timeout) \
  X(frag_evicted) \
  X(frag_memory) \
  X(icmp_truncated) \
  X(icmp_bad_checksum) \
  X(icmp_broadcast_echo) \
  X(icmp_rate_limited) \
  X(icmp_unhandled_type) \
  X(udp_truncated) \
  X(udp_bad_length) \
  X(udp_bad_checksum) \
  X(udp_no_port) \
  X(udp_rx_queue_full) \
  X(udp_echo_unanswered) \
  X(tcp_malformed) \
  X(tcp_bad_checksum) \
  X(tcp_bad_option) \
  X(tcp_broadcast) \
  X(tcp_no_connection) \
  X(tcp_rst_no_connection) \
  X(tcp_syn_queue_full) \
  X(tcp_time_wait_rst) \
  X(tcp_table_full) \
  X(no_buffer) \
  X(tx_port_full)

// clang-format on

struct StackCounters {
#define SN_DECLARE(name) Counter name;
  SN_STACK_TRAFFIC_COUNTERS(SN_DECLARE)
  struct Drops {
    SN_STACK_DROP_COUNTERS(SN_DECLARE)
  } drop;
  // Every connection's counters, summed (stack/tcp.cc folds them in).
  struct Connections {
    SN_CONNECTION_COUNTERS(SN_DECLARE)
  } conn;
#undef SN_DECLARE

  // Calls f(name, value) for every traffic counter, every connection counter
  // (named "tcp_<name>"), then every drop counter (named "drop_<reason>"), in
  // a fixed order.
  template <typename F>
  void for_each(F&& f) const {
#define SN_VISIT(name) f(#name, name.get());
    SN_STACK_TRAFFIC_COUNTERS(SN_VISIT)
#undef SN_VISIT
#define SN_VISIT(name) f("tcp_" #name, conn.name.get());
    SN_CONNECTION_COUNTERS(SN_VISIT)
#undef SN_VISIT
#define SN_VISIT(name) f("drop_" #name, drop.name.get());
    SN_STACK_DROP_COUNTERS(SN_VISIT)
#undef SN_VISIT
  }

  uint64_t total_drops() const {
    uint64_t n = 0;
#define SN_SUM(name) n += drop.name.get();
    SN_STACK_DROP_COUNTERS(SN_SUM)
#undef SN_SUM
    return n;
  }
};

}  // namespace sn
