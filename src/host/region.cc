// A host's region: layout, creation (engine), mapping (library).
#include "host/region.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <bit>
#include <cerrno>
#include <cstring>
#include <new>
#include <utility>

#include "host/shm_ring.h"

namespace sn::host {
namespace {

constexpr uint64_t kPage = 4096;

constexpr uint64_t round_up(uint64_t v, uint64_t to) {
  return (v + to - 1) / to * to;
}

// Maps `size` bytes of `fd` between two inaccessible guard pages, so that a
// stray access just past either end faults instead of touching whatever
// happens to be mapped there. Null on failure (errno set).
std::byte* map_guarded(int fd, uint64_t size) {
  void* reserve = ::mmap(nullptr, size + 2 * kPage, PROT_NONE,
                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (reserve == MAP_FAILED) return nullptr;
  auto* base = static_cast<std::byte*>(reserve) + kPage;
  if (::mmap(base, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0) == MAP_FAILED) {
    ::munmap(reserve, size + 2 * kPage);
    return nullptr;
  }
  return base;
}

}  // namespace

Result<void> RegionLayout::validate(const RegionConfig& c) {
  if (c.shards == 0 || c.shards > kMaxShards)
    return Error{Errc::kInvalidArgument, "shards must be 1..64"};
  if (c.frame_size < 128 || c.frame_size % 64 != 0 || c.frame_size > (1u << 20))
    return Error{Errc::kInvalidArgument, "frame size must be a multiple of 64 in 128..1 MiB"};
  for (uint32_t n : {c.in_frames, c.out_frames})
    if (n < 2 || n > (1u << 16) || !std::has_single_bit(n))
      return Error{Errc::kInvalidArgument, "frame counts must be powers of two in 2..65536"};
  const uint64_t frames = uint64_t{c.shards} * (c.in_frames + c.out_frames) * c.frame_size;
  if (frames > (uint64_t{1} << 31))
    return Error{Errc::kInvalidArgument, "region over 2 GiB: fewer or smaller frames"};
  return ok();
}

RegionLayout RegionLayout::compute(const RegionConfig& c) {
  RegionLayout l;
  l.config = c;
  // A ring can hold every frame of its kind: a post never finds it full.
  l.ring_capacity = std::max(c.in_frames, c.out_frames);
  uint64_t at = round_up(sizeof(RegionHeader), kPage);
  l.flags = static_cast<uint32_t>(at);
  at = round_up(at + sizeof(WakeFlags), kPage);
  const uint64_t ring = shm_ring_bytes(l.ring_capacity);
  for (uint32_t s = 0; s < c.shards; ++s) {
    ShardQueues& q = l.queues[s];
    q.in_free = static_cast<uint32_t>(at);
    q.in_post = static_cast<uint32_t>(at + ring);
    q.out_free = static_cast<uint32_t>(at + 2 * ring);
    q.out_post = static_cast<uint32_t>(at + 3 * ring);
    at += 4 * ring;
  }
  at = round_up(at, kPage);
  for (uint32_t s = 0; s < c.shards; ++s) {
    ShardQueues& q = l.queues[s];
    q.in_frames = static_cast<uint32_t>(at);
    at += uint64_t{c.in_frames} * c.frame_size;
    q.out_frames = static_cast<uint32_t>(at);
    at += uint64_t{c.out_frames} * c.frame_size;
  }
  l.size = round_up(at, kPage);
  return l;
}

Region& Region::operator=(Region&& o) noexcept {
  if (this != &o) {
    this->~Region();
    base_ = std::exchange(o.base_, nullptr);
    size_ = std::exchange(o.size_, 0);
    fd_ = std::exchange(o.fd_, -1);
    host_ = o.host_;
    layout_ = o.layout_;
  }
  return *this;
}

Region::~Region() {
  if (base_ != nullptr) ::munmap(base_ - kPage, size_ + 2 * kPage);
  if (fd_ >= 0) ::close(fd_);
  base_ = nullptr;
  fd_ = -1;
}

Result<Region> Region::create(uint32_t host, const RegionLayout& layout, std::string* why) {
  Region r;
  r.layout_ = layout;
  r.host_ = host;
  r.fd_ = ::memfd_create("shardnet-host", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (r.fd_ < 0 || ::ftruncate(r.fd_, static_cast<off_t>(layout.size)) != 0) {
    *why = std::string("memfd: ") + std::strerror(errno);
    return Error{Errc::kIo, "memfd"};
  }
  // Its size is fixed: a host cannot shrink it under the engine's mapping
  // (which would turn the engine's next access into SIGBUS).
  if (::fcntl(r.fd_, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) != 0) {
    *why = std::string("memfd seals: ") + std::strerror(errno);
    return Error{Errc::kIo, "memfd"};
  }
  r.base_ = map_guarded(r.fd_, layout.size);
  if (r.base_ == nullptr) {
    *why = std::string("mmap: ") + std::strerror(errno);
    return Error{Errc::kIo, "mmap"};
  }
  r.size_ = layout.size;
  auto* h = reinterpret_cast<RegionHeader*>(r.base_);
  h->magic = kRegionMagic;
  h->version = kProtocolVersion;
  h->host = host;
  h->shards = layout.config.shards;
  h->frame_size = layout.config.frame_size;
  h->in_frames = layout.config.in_frames;
  h->out_frames = layout.config.out_frames;
  h->ring_capacity = layout.ring_capacity;
  h->size = layout.size;
  for (uint32_t s = 0; s < layout.config.shards; ++s) {
    const ShardQueues& q = layout.queues[s];
    h->queues[s] = q;
    for (uint32_t off : {q.in_free, q.in_post, q.out_free, q.out_post})
      shm_ring_init(r.base_ + off, layout.ring_capacity);
  }
  new (&r.flags()) WakeFlags();
  return r;
}

Result<Region> Region::map(int fd, uint64_t size, std::string* why) {
  Region r;
  r.fd_ = fd;
  if (size < sizeof(RegionHeader) || size > (uint64_t{1} << 32)) {
    *why = "the engine sent a region of an impossible size";
    return Error{Errc::kInvalidArgument, "region"};
  }
  r.base_ = map_guarded(fd, size);
  if (r.base_ == nullptr) {
    *why = std::string("mmap: ") + std::strerror(errno);
    return Error{Errc::kIo, "mmap"};
  }
  r.size_ = size;
  RegionHeader h;
  std::memcpy(&h, r.base_, sizeof(h));
  if (h.magic != kRegionMagic || h.version != kProtocolVersion) {
    *why = "the engine speaks another protocol version";
    return Error{Errc::kInvalidArgument, "region"};
  }
  const RegionConfig c{h.shards, h.frame_size, h.in_frames, h.out_frames};
  if (auto v = RegionLayout::validate(c); !v) {
    *why = std::string("the engine sent a bad region: ") + v.error().message;
    return Error{Errc::kInvalidArgument, "region"};
  }
  r.layout_ = RegionLayout::compute(c);
  if (r.layout_.size != size || h.size != size ||
      std::memcmp(h.queues, r.layout_.queues, sizeof(ShardQueues) * c.shards) != 0) {
    *why = "the engine's region layout is not this library's";
    return Error{Errc::kInvalidArgument, "region"};
  }
  r.host_ = h.host;
  return r;
}

}  // namespace sn::host
