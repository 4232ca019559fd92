// A shared-memory port: two engines (two processes on one machine) joined by
// rings of Ethernet frames in a POSIX shared-memory object, so that
// stack-to-stack speed can be measured with no kernel on the data path. The
// cable is `/dev/shm/shardnet-port-NAME`; the first engine to open it makes it
// (side A), the second joins it (side B). Each has one queue per shard, and
// queue i of one engine is wired to queue i of the other: both must run the
// same number of shards and the same MTU.
//
// Layout of the object (the contract between the two processes; native-endian
// words; the membership word, indices, flags and lengths accessed only as
// lock-free atomics, the frames' bytes with memcpy, the fixed fields written
// before the object is ready and read once when joining):
//
//   offset 0     ShmPortHeader: magic, version, queues, mtu, slots, slot size,
//                then on its own cache line the membership word (below)
//   offset 128   the rings, two per queue: ring 2q carries A -> B, ring 2q+1
//                carries B -> A, each shm_port_ring_bytes() long:
//                  +0    uint32 tail   next slot to fill; the producer's
//                  +64   uint32 head   next slot to drain; the consumer's
//                  +128  uint32 armed  the consumer sleeps: ring its doorbell
//                  +192  slots[slots], each slot_size bytes: uint32 length,
//                        uint32 flags (kShmSlotCsumPartial), 8 bytes
//                        reserved, the frame's bytes from +16
//
// Indices count modulo 2^32; the slot of position p is p & (slots - 1). A
// producer writes the frame and its length, then publishes tail with release,
// once per burst; the consumer loads tail with acquire, copies frames out
// into its own pool's packets and publishes head with release, once per
// burst. The ring is src/host/shm_ring.h's scheme (that ring carries
// uint32_t entries and lives a layer below; this one carries frame slots):
// each side keeps its own index privately and only publishes it, and treats
// everything the peer can write as hostile. A peer index that no honest peer
// could publish (tail - head > slots as we see it) breaks the ring for good:
// every later send is dropped (tx_errors) and nothing more is received;
// counted once in shm_ring_broken. A length of 0 or more than mtu + 18 bytes
// is counted in rx_errors and shm_rx_bad_length and the slot skipped. No
// value read from shared memory locates or sizes anything but what the
// checks bound, so a hostile peer cannot make us read or write outside the
// mapping. (It can change a frame's bytes while we copy them: we then
// deliver garbage, which the stack's parsers are there for. It can also
// shrink the object, which makes our next access fault: an shm_open object
// cannot be sealed against that. Both engines run as the same user.)
//
// Membership: one 64-bit atomic word holds the object's state (creating,
// ready, retired) and the pid of the process on each side (0: nobody). Every
// change to it is one compare-and-swap, so joining, taking over a side
// whose process died, retiring a stale object and leaving cannot interleave
// badly. Opening:
//   - no object: create it (O_CREAT|O_EXCL) and be A;
//   - a ready object with a free or dead side (A first): take that side over,
//     resuming from the indices the last holder published (an engine may so
//     be restarted while its peer keeps running);
//   - both sides held by live processes: refused, "already joined";
//   - neither side held by a live process (or an object whose creator died
//     before it was ready): stale; the opener retires it, unlinks it and
//     makes a fresh one.
// The last side to leave unlinks the object and its doorbells. A side whose
// peer has left (pid 0) or not joined yet drops what it sends, counted in
// tx_errors and shm_tx_no_peer; a peer that died without leaving fills the
// ring, and then frames are dropped as shm_tx_ring_full.
//
// Waking a sleeping engine: the engine sleeps in ppoll on wait_fd(), and
// nothing on the data path makes a system call unless the consumer armed
// its doorbell. The doorbell of a ring is a named FIFO beside the object
// (`/dev/shm/shardnet-port-NAME.q<i>.<a|b>`, the consumer's side letter),
// opened by both sides O_RDWR | O_NONBLOCK; wait_fd() is the receiving
// ring's FIFO. The protocol on the ring's `armed` word:
//   consumer (rx_burst), finding the ring empty, once it has been empty for
//     arm_after: stores armed = 1, a seq_cst fence, then loads tail again
//     and receives what it finds;
//   consumer, finding frames while armed: exchanges armed to 0 (so that a
//     busy consumer costs the producer no system calls);
//   producer (tx_burst), after publishing tail: a seq_cst fence, then loads
//     armed; if it is set and its exchange to 0 returns 1, writes one byte
//     to the FIFO.
// Why no wake-up is lost: the fences make the two store-then-load sequences
// a Dekker pair, so either the consumer's re-check sees the new tail or the
// producer's load sees armed = 1 and rings. The engine sleeps only after a
// poll that found nothing, and asks next_event() how long it may: until the
// consumer is armed, that is the time it will arm (the engine wakes by then,
// polls, and arms); once armed, never, and any frame published since rings
// the FIFO, which ppoll sees. The Port interface has no "about to sleep"
// call; arming after arm_after of emptiness is what keeps a busy exchange
// free of system calls while the engine spins before it sleeps.
//
// Spurious bytes are harmless but must not pile up, or the FIFO would stay
// readable and the engine never sleep: the consumer reads the FIFO dry each
// time it arms. A consumer that finds armed already 0 where it had set it
// knows the producer took it and owes one byte (perhaps not written yet); it
// reads the FIFO on each empty poll until that byte has come. A hostile peer
// that writes bytes of its own can keep the engine from sleeping (it spins),
// no more.
//
// A frame waiting while the pool is empty is counted in rx_no_buffer, and
// next_event() is then now: the engine keeps polling, as it does when a
// TAP descriptor stays readable.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "base/result.h"
#include "port/port.h"

namespace sn {

struct ShmPortOptions {
  uint32_t slots = 1024;  // frame slots per ring: a power of two, 2 to 65536
  // How long the receive ring is found empty before its doorbell is armed
  // (then the peer pays a system call to wake us). The engine spins 50 us
  // before it sleeps by default, so a busy conversation rarely arms it.
  Duration arm_after = Duration::micros(20);
};

struct ShmCounters {
  Counter tx_ring_full;   // frames dropped: the peer's receive ring was full
  Counter tx_no_peer;     // frames dropped: no engine on the other side
  Counter rx_bad_length;  // slots skipped: a length of 0 or beyond the MTU
  Counter ring_broken;    // a ring seen with an impossible peer index (then dead)
  Counter doorbells;      // bytes written to the peer's doorbell
};

// The object's fixed part (see the layout above).
struct ShmPortHeader {
  uint64_t magic;
  uint32_t version;
  uint32_t queues;
  uint32_t mtu;
  uint32_t slots;
  uint32_t slot_size;
  uint32_t reserved;
  alignas(64) std::atomic<uint64_t> members;  // see shm_members_*
};
static_assert(sizeof(ShmPortHeader) == 128);
static_assert(std::atomic<uint64_t>::is_always_lock_free);

// One ring's indices and doorbell flag, each on its own cache line.
struct ShmPortRingHeader {
  alignas(64) std::atomic<uint32_t> tail;
  alignas(64) std::atomic<uint32_t> head;
  alignas(64) std::atomic<uint32_t> armed;
};
static_assert(sizeof(ShmPortRingHeader) == 192);

inline constexpr uint64_t kShmPortMagic = 0x3154524f504e5353;  // "SSNPORT1" little-endian
inline constexpr uint32_t kShmPortVersion = 2;                 // 2: a slot's flags word
inline constexpr uint32_t kShmSlotHeader = 16;  // a slot's length and flags words, padding
// A slot's flags: the frame's TCP checksum is partial (Packet::l4_csum_partial).
inline constexpr uint32_t kShmSlotCsumPartial = 1;
inline constexpr uint32_t kShmMaxQueues = 64;

// The membership word: state in bits 62..63, A's pid in 0..30, B's in 31..61.
enum class ShmState : uint64_t { kCreating = 0, kReady = 1, kRetired = 2 };
constexpr uint64_t shm_members(ShmState s, uint32_t pid_a, uint32_t pid_b) {
  return (uint64_t(s) << 62) | (uint64_t(pid_b & 0x7fffffff) << 31) | (pid_a & 0x7fffffff);
}
constexpr ShmState shm_members_state(uint64_t m) {
  return static_cast<ShmState>(m >> 62);
}
constexpr uint32_t shm_members_pid(uint64_t m, int side) {
  return static_cast<uint32_t>(side == 0 ? m & 0x7fffffff : (m >> 31) & 0x7fffffff);
}

// A slot's size for a given MTU: its header and the largest frame, rounded
// up to a cache line.
constexpr uint32_t shm_port_slot_size(uint32_t mtu) {
  return (kShmSlotHeader + mtu + kMaxLinkHeader + 63) / 64 * 64;
}
constexpr size_t shm_port_ring_bytes(uint32_t slots, uint32_t slot_size) {
  return sizeof(ShmPortRingHeader) + size_t{slots} * slot_size;
}
// Where ring `index` (2q: A -> B, 2q+1: B -> A) starts in the object.
constexpr size_t shm_port_ring_offset(uint32_t index, uint32_t slots, uint32_t slot_size) {
  return sizeof(ShmPortHeader) + index * shm_port_ring_bytes(slots, slot_size);
}
constexpr size_t shm_port_object_bytes(uint32_t queues, uint32_t slots, uint32_t slot_size) {
  return shm_port_ring_offset(2 * queues, slots, slot_size);
}
// "/shardnet-port-NAME" (for shm_open) and the doorbell of queue q's ring that
// side ('a' or 'b') receives on.
std::string shm_port_object_name(const std::string& name);
std::string shm_port_doorbell_path(const std::string& name, uint32_t queue, char side);

class ShmSegment;  // one side's mapping and membership, shared by its ports

class ShmPort final : public Port {
 public:
  // Opens (creating or joining) the shared-memory cable `name` with `queues`
  // queues, one port per queue. `mac` is this engine's address.
  static Result<std::vector<std::unique_ptr<ShmPort>>> open(const std::string& name,
                                                            uint32_t queues, MacAddress mac,
                                                            uint32_t mtu,
                                                            const ShmPortOptions& options = {});
  // The last port of a side to close leaves the cable.
  ~ShmPort() override;
  ShmPort(const ShmPort&) = delete;
  ShmPort& operator=(const ShmPort&) = delete;

  size_t rx_burst(PacketPool& pool, std::span<PacketPtr> out, Instant now) override;
  size_t tx_burst(std::span<PacketPtr> frames, Instant now) override;
  MacAddress mac() const override { return mac_; }
  uint32_t mtu() const override { return mtu_; }
  int wait_fd() const override { return rx_bell_; }
  Instant next_event() const override;
  // Partial TCP checksums cross the link as they are: both ends are engines.
  bool tx_l4_csum_offload() const override { return true; }
  const PortCounters& counters() const override { return counters_; }
  std::span<const DeviceCounter> device_counters() const override { return named_; }
  const ShmCounters& shm_counters() const { return shm_; }

  char side() const;          // 'a' (made the object) or 'b'
  bool peer_present() const;  // the other side's pid is set
  bool armed() const { return armed_; }

 private:
  ShmPort(std::shared_ptr<ShmSegment> seg, uint32_t queue, MacAddress mac, uint32_t mtu,
          const ShmPortOptions& options);
  // Frames waiting, reading (and checking) the peer's tail when the cached
  // copy shows fewer than `want`.
  uint32_t rx_waiting(size_t want);
  // Free slots to send into, reading (and checking) the peer's head when the
  // cached copy shows none.
  uint32_t tx_room();
  void drain_doorbell();  // reads what is in our FIFO; settles bell_owed_
  void ring_peer();       // one byte into the peer's FIFO

  std::shared_ptr<ShmSegment> seg_;
  MacAddress mac_;
  uint32_t mtu_;
  uint32_t max_frame_;
  uint32_t slots_;
  uint32_t mask_;
  uint32_t slot_size_;
  Duration arm_after_;
  int side_;  // 0: A, 1: B
  // Receiving ring (we consume) and sending ring (we produce).
  ShmPortRingHeader* rx_ring_;
  std::byte* rx_slots_;
  ShmPortRingHeader* tx_ring_;
  std::byte* tx_slots_;
  uint32_t rx_head_ = 0;        // the truth; the shared head is its published copy
  uint32_t rx_tail_cache_ = 0;  // the last tail that passed the bound
  bool rx_broken_ = false;
  uint32_t tx_tail_ = 0;        // the truth; the shared tail is its published copy
  uint32_t tx_head_cache_ = 0;  // the last head that passed the bound
  bool tx_broken_ = false;
  int rx_bell_ = -1;                    // our doorbell's FIFO: wait_fd()
  int tx_bell_ = -1;                    // the peer's
  bool armed_ = false;                  // we set the ring's armed word (the peer may have taken it)
  uint32_t bell_owed_ = 0;              // bytes the peer wrote or will write to our FIFO
  Instant arm_at_;                      // when an empty ring arms the doorbell; never while armed
  Instant starved_ = Instant::never();  // a frame waited for a buffer at this time
  PortCounters counters_;
  ShmCounters shm_;
  const DeviceCounter named_[5] = {{"shm_tx_ring_full", &shm_.tx_ring_full},
                                   {"shm_tx_no_peer", &shm_.tx_no_peer},
                                   {"shm_rx_bad_length", &shm_.rx_bad_length},
                                   {"shm_ring_broken", &shm_.ring_broken},
                                   {"shm_doorbells", &shm_.doorbells}};
};

}  // namespace sn
