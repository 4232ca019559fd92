// The shared-memory port; see shm_port.h for the layout, the membership
// rules and the wake-up protocol.
#include "port/shm_port.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <new>
#include <utility>

#include "base/check.h"

namespace sn {
namespace {

constexpr uint32_t kMinMtu = 68;
constexpr uint32_t kMaxMtu = 65521;
constexpr uint32_t kMaxSlots = 65536;
// Opening retries every 10 ms: a racing opener, an object being made, a stale
// one being replaced. An object still not sized or not ready after
// kCreateWait tries, by a creator that is gone, is stale.
constexpr int kMaxTries = 400;
constexpr int kCreateWait = 100;

Error io(const char* message) {
  return Error{Errc::kIo, message};
}
Error invalid(const char* message) {
  return Error{Errc::kInvalidArgument, message};
}

// Closes a descriptor unless released.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

// Unmaps unless released.
class Mapping {
 public:
  Mapping(void* base, size_t size) : base_(base), size_(size) {}
  ~Mapping() {
    if (base_ != nullptr) ::munmap(base_, size_);
  }
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;
  std::byte* get() const { return static_cast<std::byte*>(base_); }
  void* release() { return std::exchange(base_, nullptr); }

 private:
  void* base_;
  size_t size_;
};

void* map(int fd, size_t size) {
  void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  return p == MAP_FAILED ? nullptr : p;
}

// Whether a process holds `pid`: kill(pid, 0) fails with ESRCH only when none
// does (EPERM: it exists, under another user).
bool alive(uint32_t pid) {
  if (pid == 0) return false;
  return ::kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH;
}

void pause_briefly() {
  timespec ts{0, 10'000'000};
  ::nanosleep(&ts, nullptr);
}

uint64_t with_pid(uint64_t m, int side, uint32_t pid) {
  const uint32_t a = side == 0 ? pid : shm_members_pid(m, 0);
  const uint32_t b = side == 1 ? pid : shm_members_pid(m, 1);
  return shm_members(shm_members_state(m), a, b);
}

Error open_error(int err) {
  return err == EACCES || err == EPERM
             ? io("cannot open the shared-memory port in /dev/shm (made by another user?)")
             : io("cannot open the shared-memory port in /dev/shm (is /dev/shm mounted?)");
}

// Removes the object `name` names and the doorbells of its first `queues`
// queues, if the name still holds the object `fd` holds (else it is gone,
// or a newer object's). The doorbells go first: while the name stands, no
// one can make a new object (O_EXCL), hence no new doorbells to remove by
// mistake. REQUIRES: we retired the object (or made it and give up on it).
void remove_object(const std::string& name, int fd, uint32_t queues) {
  struct stat ours {};
  struct stat named {};
  const std::string obj = shm_port_object_name(name);
  if (::fstat(fd, &ours) != 0 || ::stat(("/dev/shm" + obj).c_str(), &named) != 0 ||
      ours.st_dev != named.st_dev || ours.st_ino != named.st_ino)
    return;
  for (uint32_t q = 0; q < std::min(queues, kShmMaxQueues); ++q)
    for (char side : {'a', 'b'})
      ::unlink(shm_port_doorbell_path(name, q, side).c_str());
  ::shm_unlink(obj.c_str());
}

}  // namespace

std::string shm_port_object_name(const std::string& name) {
  return "/shardnet-port-" + name;
}

std::string shm_port_doorbell_path(const std::string& name, uint32_t queue, char side) {
  return "/dev/shm/shardnet-port-" + name + ".q" + std::to_string(queue) + "." + side;
}

// One side's mapping of the object and its place in the membership word,
// shared by the side's ports; the last port to close leaves.
class ShmSegment {
 public:
  ShmSegment(std::string name, int fd, std::byte* base, size_t size, int side, uint32_t pid,
             uint32_t queues)
      : name_(std::move(name)),
        fd_(fd),
        base_(base),
        size_(size),
        side_(side),
        pid_(pid),
        queues_(queues),
        header_(std::launder(reinterpret_cast<ShmPortHeader*>(base))) {}

  // Clears our pid; the last side out retires the object and removes it. A
  // peer that died without leaving counts as gone.
  ~ShmSegment() {
    for (int i = 0; i < 1000; ++i) {  // bounded: a hostile peer may keep changing the word
      uint64_t m = header_->members.load(std::memory_order_acquire);
      if (shm_members_pid(m, side_) != pid_) break;  // not ours any more
      const bool last = !alive(shm_members_pid(m, 1 - side_));
      const uint64_t next = last ? shm_members(ShmState::kRetired, 0, 0) : with_pid(m, side_, 0);
      if (header_->members.compare_exchange_strong(m, next, std::memory_order_acq_rel)) {
        if (last) remove_object(name_, fd_, queues_);
        break;
      }
    }
    ::munmap(base_, size_);
    ::close(fd_);
  }
  ShmSegment(const ShmSegment&) = delete;
  ShmSegment& operator=(const ShmSegment&) = delete;

  std::byte* base() const { return base_; }
  int side() const { return side_; }
  ShmPortHeader& header() const { return *header_; }

 private:
  std::string name_;
  int fd_;
  std::byte* base_;
  size_t size_;
  int side_;
  uint32_t pid_;
  uint32_t queues_;
  ShmPortHeader* header_;
};

namespace {

struct Geometry {
  uint32_t queues, mtu, slots, slot_size;
  size_t total;
};

// Makes the object `fd` was just created as (O_EXCL): sized, laid out, with
// its doorbells, then ready with us as A.
Result<std::shared_ptr<ShmSegment>> create(const std::string& name, Fd fd, const Geometry& g,
                                           uint32_t me) {
  auto give_up = [&](const char* message) -> Result<std::shared_ptr<ShmSegment>> {
    remove_object(name, fd.get(), g.queues);
    return io(message);
  };
  if (::ftruncate(fd.get(), static_cast<off_t>(g.total)) != 0)
    return give_up("cannot size the shared-memory port (is /dev/shm full?)");
  Mapping m(map(fd.get(), g.total), g.total);
  if (m.get() == nullptr) return give_up("cannot map the shared-memory port");
  auto* h = ::new (m.get()) ShmPortHeader{};
  // An opener that finds the object now waits for kReady, or replaces it if
  // we die before then.
  h->members.store(shm_members(ShmState::kCreating, me, 0), std::memory_order_relaxed);
  h->magic = kShmPortMagic;
  h->version = kShmPortVersion;
  h->queues = g.queues;
  h->mtu = g.mtu;
  h->slots = g.slots;
  h->slot_size = g.slot_size;
  for (uint32_t r = 0; r < 2 * g.queues; ++r)
    ::new (m.get() + shm_port_ring_offset(r, g.slots, g.slot_size)) ShmPortRingHeader{};
  for (uint32_t q = 0; q < g.queues; ++q)
    for (char side : {'a', 'b'}) {
      const std::string path = shm_port_doorbell_path(name, q, side);
      ::unlink(path.c_str());  // a leftover of a stale object
      if (::mkfifo(path.c_str(), 0600) != 0)
        return give_up("cannot make the shared-memory port's doorbells (FIFOs) in /dev/shm");
    }
  h->members.store(shm_members(ShmState::kReady, me, 0), std::memory_order_release);
  auto* base = static_cast<std::byte*>(m.release());
  return std::make_shared<ShmSegment>(name, fd.release(), base, g.total, 0, me, g.queues);
}

// Retires a stale object (if the membership word is still `seen`) and
// removes it. Whoever loses the race leaves it to the winner.
void retire(const std::string& name, int fd, ShmPortHeader& h, uint64_t seen) {
  if (h.members.compare_exchange_strong(seen, shm_members(ShmState::kRetired, 0, 0),
                                        std::memory_order_acq_rel))
    remove_object(name, fd, h.queues);
}

// Joins the existing object `fd` holds. Null (and no error): try again, the
// object was being made, replaced or raced for.
Result<std::shared_ptr<ShmSegment>> join(const std::string& name, Fd fd, const Geometry& g,
                                         uint32_t me, int attempt) {
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return io("cannot look at the shared-memory port");
  const auto size = static_cast<size_t>(st.st_size);
  if (size < sizeof(ShmPortHeader)) {
    // Created and not yet sized; after a while, a creator that died there.
    if (attempt >= kCreateWait) remove_object(name, fd.get(), 0);
    return std::shared_ptr<ShmSegment>();
  }
  Mapping hm(map(fd.get(), sizeof(ShmPortHeader)), sizeof(ShmPortHeader));
  if (hm.get() == nullptr) return io("cannot map the shared-memory port");
  auto* h = std::launder(reinterpret_cast<ShmPortHeader*>(hm.get()));
  const uint64_t m = h->members.load(std::memory_order_acquire);  // pairs with create's release
  const uint32_t pid_a = shm_members_pid(m, 0);
  switch (shm_members_state(m)) {
    case ShmState::kRetired:
      return std::shared_ptr<ShmSegment>();  // its remover unlinks it
    case ShmState::kCreating:
      if (!alive(pid_a) && (pid_a != 0 || attempt >= kCreateWait)) retire(name, fd.get(), *h, m);
      return std::shared_ptr<ShmSegment>();
    case ShmState::kReady:
      break;
    default:
      return invalid(
          "/dev/shm/shardnet-port-NAME is not a shardnet port (remove it if no engine uses it)");
  }
  if (h->magic != kShmPortMagic || h->version != kShmPortVersion)
    return invalid(
        "/dev/shm/shardnet-port-NAME is not a shardnet port of this version (remove it if no "
        "engine uses it)");
  const bool live[2] = {alive(pid_a), alive(shm_members_pid(m, 1))};
  if (!live[0] && !live[1]) {  // stale: both engines are gone
    retire(name, fd.get(), *h, m);
    return std::shared_ptr<ShmSegment>();
  }
  if (live[0] && live[1])
    return Error{Errc::kAddressInUse,
                 "the shared-memory port is already joined by two running engines"};
  if (h->queues != g.queues)
    return invalid(
        "the engine on the other side has a different number of queues: both need the same "
        "--shards");
  if (h->mtu != g.mtu) return invalid("the engine on the other side has a different mtu=");
  if (h->slots != g.slots || h->slot_size != g.slot_size)
    return invalid("the engine on the other side made rings of another size");
  if (size < g.total) return io("the shared-memory port's object is shorter than its rings");
  Mapping whole(map(fd.get(), g.total), g.total);
  if (whole.get() == nullptr) return io("cannot map the shared-memory port");
  auto* wh = std::launder(reinterpret_cast<ShmPortHeader*>(whole.get()));
  const int side = live[0] ? 1 : 0;  // a free or dead side, A first
  uint64_t seen = m;
  if (!wh->members.compare_exchange_strong(seen, with_pid(m, side, me), std::memory_order_acq_rel))
    return std::shared_ptr<ShmSegment>();  // someone else moved first: look again
  auto* base = static_cast<std::byte*>(whole.release());
  return std::make_shared<ShmSegment>(name, fd.release(), base, g.total, side, me, g.queues);
}

Result<std::shared_ptr<ShmSegment>> attach(const std::string& name, const Geometry& g) {
  const std::string obj = shm_port_object_name(name);
  const auto me = static_cast<uint32_t>(::getpid());
  for (int attempt = 0; attempt < kMaxTries; ++attempt) {
    if (attempt > 0) pause_briefly();
    int fd = ::shm_open(obj.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd >= 0) return create(name, Fd(fd), g, me);
    if (errno != EEXIST) return open_error(errno);
    fd = ::shm_open(obj.c_str(), O_RDWR | O_CLOEXEC, 0);
    if (fd < 0) {
      if (errno == ENOENT) continue;  // removed meanwhile: create it
      return open_error(errno);
    }
    auto seg = join(name, Fd(fd), g, me, attempt);
    if (!seg || *seg) return seg;
  }
  return Error{Errc::kAddressInUse,
               "the shared-memory port is being made by another engine that does not finish"};
}

Result<int> open_fifo(const std::string& path) {
  Fd fd(::open(path.c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC | O_NOFOLLOW));
  if (fd.get() < 0) return io("cannot open a doorbell FIFO of the shared-memory port in /dev/shm");
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0 || !S_ISFIFO(st.st_mode))
    return io("a doorbell of the shared-memory port in /dev/shm is not a FIFO");
  return fd.release();
}

}  // namespace

Result<std::vector<std::unique_ptr<ShmPort>>> ShmPort::open(const std::string& name,
                                                            uint32_t queues, MacAddress mac,
                                                            uint32_t mtu,
                                                            const ShmPortOptions& options) {
  if (name.empty() || name.find('/') != std::string::npos || name == "." || name == "..")
    return invalid("the shared-memory port needs a name (no '/')");
  if (queues == 0 || queues > kShmMaxQueues)
    return invalid("a shared-memory port has 1 to 64 queues");
  if (mtu < kMinMtu || mtu > kMaxMtu) return invalid("the shared-memory port's mtu is 68 to 65521");
  if (options.slots < 2 || options.slots > kMaxSlots || !std::has_single_bit(options.slots))
    return invalid("the shared-memory port's rings need 2 to 65536 slots, a power of two");
  const uint32_t slot_size = shm_port_slot_size(mtu);
  const Geometry g{queues, mtu, options.slots, slot_size,
                   shm_port_object_bytes(queues, options.slots, slot_size)};
  auto seg = attach(name, g);
  if (!seg) return seg.error();
  std::vector<std::unique_ptr<ShmPort>> ports;
  for (uint32_t q = 0; q < queues; ++q) {
    std::unique_ptr<ShmPort> p(new ShmPort(*seg, q, mac, mtu, options));
    const char ours = p->side();
    const char theirs = ours == 'a' ? 'b' : 'a';
    auto rx = open_fifo(shm_port_doorbell_path(name, q, ours));
    if (!rx) return rx.error();
    p->rx_bell_ = *rx;
    auto tx = open_fifo(shm_port_doorbell_path(name, q, theirs));
    if (!tx) return tx.error();
    p->tx_bell_ = *tx;
    ports.push_back(std::move(p));
  }
  return ports;
}

ShmPort::ShmPort(std::shared_ptr<ShmSegment> seg, uint32_t queue, MacAddress mac, uint32_t mtu,
                 const ShmPortOptions& options)
    : seg_(std::move(seg)),
      mac_(mac),
      mtu_(mtu),
      max_frame_(mtu + kMaxLinkHeader),
      slots_(options.slots),
      mask_(options.slots - 1),
      slot_size_(shm_port_slot_size(mtu)),
      arm_after_(options.arm_after),
      side_(seg_->side()) {
  // A sends on ring 2q and receives on 2q+1; B the other way round.
  const uint32_t tx = 2 * queue + (side_ == 0 ? 0 : 1);
  const uint32_t rx = 2 * queue + (side_ == 0 ? 1 : 0);
  std::byte* base = seg_->base();
  std::byte* t = base + shm_port_ring_offset(tx, slots_, slot_size_);
  std::byte* r = base + shm_port_ring_offset(rx, slots_, slot_size_);
  tx_ring_ = std::launder(reinterpret_cast<ShmPortRingHeader*>(t));
  tx_slots_ = t + sizeof(ShmPortRingHeader);
  rx_ring_ = std::launder(reinterpret_cast<ShmPortRingHeader*>(r));
  rx_slots_ = r + sizeof(ShmPortRingHeader);
  // Resume from what this side last published: 0 on a new object; where the
  // previous holder left off when we take a side over. The caches show no
  // room and nothing waiting, so the peer's index is read (and checked) first.
  tx_tail_ = tx_ring_->tail.load(std::memory_order_relaxed);
  tx_head_cache_ = tx_tail_ - slots_;
  rx_head_ = rx_ring_->head.load(std::memory_order_relaxed);
  rx_tail_cache_ = rx_head_;
  // A doorbell the previous holder armed is ours now: if the producer takes
  // it, we owe its byte a read.
  armed_ = rx_ring_->armed.load(std::memory_order_relaxed) != 0;
  arm_at_ = armed_ ? Instant::never() : Instant();
}

ShmPort::~ShmPort() {
  if (rx_bell_ >= 0) ::close(rx_bell_);
  if (tx_bell_ >= 0) ::close(tx_bell_);
}

char ShmPort::side() const {
  return side_ == 0 ? 'a' : 'b';
}

bool ShmPort::peer_present() const {
  const uint64_t m = seg_->header().members.load(std::memory_order_acquire);
  return shm_members_pid(m, 1 - side_) != 0;
}

Instant ShmPort::next_event() const {
  if (starved_ != Instant::never()) return starved_;  // in the past: poll again at once
  return armed_ ? Instant::never() : arm_at_;
}

uint32_t ShmPort::rx_waiting(size_t want) {
  uint32_t used = rx_tail_cache_ - rx_head_;
  if (used < want && !rx_broken_) {
    const uint32_t tail = rx_ring_->tail.load(std::memory_order_acquire);  // pairs with tx_burst
    if (tail - rx_head_ > slots_) {  // behind our head, or more than a ring ahead
      rx_broken_ = true;
      shm_.ring_broken.inc();
      rx_tail_cache_ = rx_head_;  // nothing waiting, ever again
      return 0;
    }
    rx_tail_cache_ = tail;
    used = tail - rx_head_;
  }
  return used;
}

uint32_t ShmPort::tx_room() {
  uint32_t free = slots_ - (tx_tail_ - tx_head_cache_);
  if (free == 0 && !tx_broken_) {
    const uint32_t head = tx_ring_->head.load(std::memory_order_acquire);  // pairs with rx_burst
    if (tx_tail_ - head > slots_) {  // ahead of our tail, or more than a ring behind
      tx_broken_ = true;
      shm_.ring_broken.inc();
      tx_head_cache_ = tx_tail_ - slots_;  // no room, ever again
      return 0;
    }
    tx_head_cache_ = head;
    free = slots_ - (tx_tail_ - head);
  }
  return free;
}

void ShmPort::drain_doorbell() {
  uint64_t got = 0;
  std::byte buf[64];
  for (;;) {
    const ssize_t r = ::read(rx_bell_, buf, sizeof buf);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    got += static_cast<uint64_t>(r);
    if (static_cast<size_t>(r) < sizeof buf) break;
  }
  bell_owed_ = got >= bell_owed_ ? 0 : bell_owed_ - static_cast<uint32_t>(got);
}

void ShmPort::ring_peer() {
  const std::byte one{1};
  ssize_t w;
  do {
    w = ::write(tx_bell_, &one, 1);
  } while (w < 0 && errno == EINTR);
  // EAGAIN: the FIFO is full of bytes the peer has not read, so it is readable.
  if (w == 1) shm_.doorbells.inc();
}

size_t ShmPort::rx_burst(PacketPool& pool, std::span<PacketPtr> out, Instant now) {
  if (out.empty()) return 0;
  starved_ = Instant::never();
  uint32_t waiting = rx_waiting(out.size());
  if (waiting == 0) {
    const bool still_armed = rx_ring_->armed.load(std::memory_order_relaxed) != 0;
    if (armed_ && still_armed) {
      // Every frame published from now on rings the doorbell. A byte the
      // peer owed us from an earlier ring may have come since: read it, or
      // the engine would wake on it again and again.
      if (bell_owed_ > 0) drain_doorbell();
      return 0;
    }
    if (!armed_ && now < arm_at_) {  // next_event() brings the engine back then
      if (bell_owed_ > 0) drain_doorbell();
      return 0;
    }
    if (armed_) ++bell_owed_;  // the producer took our flag: it rings (or rang) once
    drain_doorbell();
    // Arm: store, fence, look again. With the producer's publish, fence,
    // load, one of the two sees the other's store (see shm_port.h).
    rx_ring_->armed.store(1, std::memory_order_seq_cst);
    armed_ = true;
    arm_at_ = Instant::never();
    std::atomic_thread_fence(std::memory_order_seq_cst);
    waiting = rx_waiting(out.size());
    if (waiting == 0) return 0;
  }
  if (armed_) {
    // Busy again: disarm, so the producer makes no system calls for us.
    if (rx_ring_->armed.exchange(0, std::memory_order_acq_rel) == 0) ++bell_owed_;
    armed_ = false;
  }
  arm_at_ = now + arm_after_;

  size_t n = 0;
  uint32_t taken = 0;
  while (n < out.size() && taken < waiting) {
    std::byte* slot = rx_slots_ + size_t{(rx_head_ + taken) & mask_} * slot_size_;
    // Read once, checked, then used: the peer may change it at any time.
    const uint32_t len = std::atomic_ref<uint32_t>(*reinterpret_cast<uint32_t*>(slot))
                             .load(std::memory_order_relaxed);
    if (len == 0 || len > max_frame_) {
      ++taken;
      counters_.rx_errors.inc();
      shm_.rx_bad_length.inc();
      continue;
    }
    PacketPtr p = pool.alloc();
    if (!p) {
      counters_.rx_no_buffer.inc();
      starved_ = now;  // the frame stays; next_event() keeps the engine polling
      break;
    }
    ++taken;
    if (len > p->tailroom()) {  // the pool's buffers are smaller than the MTU
      counters_.rx_errors.inc();
      continue;
    }
    std::memcpy(p->append(len), slot + kShmSlotHeader, len);
    // The sender left the TCP checksum partial: the link is memory, and the
    // peer vouches for the bytes (as it could with any checksum it liked).
    p->l4_csum_ok = (std::atomic_ref<uint32_t>(*reinterpret_cast<uint32_t*>(slot + 4))
                         .load(std::memory_order_relaxed) &
                     kShmSlotCsumPartial) != 0;
    counters_.rx_frames.inc();
    counters_.rx_bytes.inc(len);
    out[n++] = std::move(p);
  }
  if (taken > 0) {
    rx_head_ += taken;
    rx_ring_->head.store(rx_head_, std::memory_order_release);  // hands the slots back
  }
  return n;
}

size_t ShmPort::tx_burst(std::span<PacketPtr> frames, Instant) {
  const uint32_t first = tx_tail_;
  const bool peer = peer_present();
  size_t sent = 0;
  for (PacketPtr& f : frames) {
    PacketPtr p = std::move(f);
    if (!p) continue;
    const uint32_t len = p->chain_size();
    if (len > max_frame_) {
      counters_.tx_oversize.inc();
      continue;
    }
    if (!peer) {
      counters_.tx_errors.inc();
      shm_.tx_no_peer.inc();
      continue;
    }
    if (tx_room() == 0) {
      counters_.tx_errors.inc();
      if (!tx_broken_) shm_.tx_ring_full.inc();
      continue;
    }
    std::byte* slot = tx_slots_ + size_t{tx_tail_ & mask_} * slot_size_;
    uint32_t at = kShmSlotHeader;
    for (const Packet* q = p.get(); q != nullptr; q = q->next()) {
      std::memcpy(slot + at, q->data(), q->size());
      at += q->size();
    }
    std::atomic_ref<uint32_t>(*reinterpret_cast<uint32_t*>(slot + 4))
        .store(p->l4_csum_partial ? kShmSlotCsumPartial : 0, std::memory_order_relaxed);
    std::atomic_ref<uint32_t>(*reinterpret_cast<uint32_t*>(slot))
        .store(len, std::memory_order_relaxed);
    ++tx_tail_;
    counters_.tx_frames.inc();
    counters_.tx_bytes.inc(len);
    ++sent;
  }
  if (tx_tail_ != first) {
    tx_ring_->tail.store(tx_tail_, std::memory_order_release);  // publishes the burst
    std::atomic_thread_fence(std::memory_order_seq_cst);        // pairs with rx_burst's arming
    if (tx_ring_->armed.load(std::memory_order_relaxed) != 0 &&
        tx_ring_->armed.exchange(0, std::memory_order_acq_rel) != 0)
      ring_peer();
  }
  return sent;
}

}  // namespace sn
