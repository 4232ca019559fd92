// The TIME-WAIT table (RFC 9293 §3.10.7.4 step 8, 2*MSL): what a connection
// needs after the application has closed it and both FINs are acknowledged,
// kept small (about 40 bytes) instead of the whole connection with its
// buffers, and bounded. When it is full the oldest entry goes early, as Linux
// does past tcp_max_tw_buckets (counted: a new incarnation of that 4-tuple
// could then meet an old duplicate, which ISNs from RFC 6528's clock and PAWS
// make unlikely).
//
// Entries live in a ring in the order they were added, which is the order
// they expire (every one gets 2*MSL); one restarted by a retransmitted FIN
// moves to the back when it reaches the front. No allocation after
// construction (the index has room for `capacity` entries).
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "base/time.h"
#include "stack/tcp_key_table.h"
#include "wire/seqnum.h"

namespace sn {

struct TimeWaitEntry {
  TcpKey key;
  SeqNum snd_nxt;      // one past our FIN
  SeqNum rcv_nxt;      // one past the peer's FIN
  uint32_t ts_recent;  // RFC 7323 §5.3 (PAWS), if ts_ok
  bool ts_ok;
  uint16_t window;  // the window field our ACKs carry (already scaled down)
  Instant expires;
};

class TimeWaitTable {
 public:
  // `secret` keys the index's hash (TcpKeyTable).
  TimeWaitTable(uint32_t capacity, uint64_t secret);

  // Adds an entry. Returns true if the oldest one had to go to make room.
  bool insert(const TimeWaitEntry& e);
  // The entry for `key` whose time is not up at `now`, or null.
  TimeWaitEntry* find(const TcpKey& key, Instant now);
  void erase(const TcpKey& key);
  // A retransmitted FIN: the entry's 2*MSL starts again.
  void restart(const TcpKey& key, Instant expires);
  // Drops the entries whose time is up; returns the earliest deadline left
  // (Instant::never() if none).
  Instant expire(Instant now);

  size_t size() const { return index_.size(); }
  uint32_t capacity() const { return static_cast<uint32_t>(ring_.size()); }

 private:
  struct Slot {
    TimeWaitEntry e;
    bool live = false;
    bool restarted = false;
  };
  void pop_front();
  // Closes the gaps erased entries left, keeping the order.
  void compact();

  std::vector<Slot> ring_;
  uint32_t head_ = 0, count_ = 0;  // slots in use, live or erased
  TcpKeyTable<uint32_t> index_;    // key -> ring slot
};

}  // namespace sn
