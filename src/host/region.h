// A host's shared-memory region: its layout (computed the same way by the
// engine and, from the header, checked by the library), and the memfd that
// holds it. See protocol.h for what lives where and who may write it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "base/result.h"
#include "host/protocol.h"

namespace sn::host {

struct RegionConfig {
  uint32_t shards = 1;
  uint32_t frame_size = 2048;  // a multiple of 64, at least 128
  uint32_t in_frames = 256;    // per shard, a power of two
  uint32_t out_frames = 256;   // per shard, a power of two
};

// One kind of frame of one shard: `count` frames of `size` bytes from `first`.
struct FrameSet {
  uint32_t first = 0;
  uint32_t count = 0;
  uint32_t size = 0;
  uint32_t offset(uint32_t index) const { return first + index * size; }
  // The index of the frame at `offset`, if it is exactly one of these.
  std::optional<uint32_t> index_of(uint32_t offset) const {
    if (offset < first) return std::nullopt;
    const uint32_t d = offset - first;
    if (d % size != 0 || d / size >= count) return std::nullopt;
    return d / size;
  }
};

struct RegionLayout {
  RegionConfig config;
  uint32_t ring_capacity = 0;
  uint32_t flags = 0;  // offset of WakeFlags
  ShardQueues queues[kMaxShards] = {};
  uint64_t size = 0;

  // REQUIRES: config valid (validate()).
  static RegionLayout compute(const RegionConfig& config);
  static Result<void> validate(const RegionConfig& config);
  FrameSet in_frames(uint32_t shard) const {
    return {queues[shard].in_frames, config.in_frames, config.frame_size};
  }
  FrameSet out_frames(uint32_t shard) const {
    return {queues[shard].out_frames, config.out_frames, config.frame_size};
  }
  // The payload room of a frame.
  uint32_t payload_max() const { return config.frame_size - sizeof(FrameHeader); }
};

// A mapping of a region (engine or library side), between two inaccessible
// guard pages: a stray access just past it faults rather than touching some
// other memory. Unmaps and closes on destruction.
class Region {
 public:
  Region() = default;
  Region(Region&& o) noexcept { *this = std::move(o); }
  Region& operator=(Region&& o) noexcept;
  ~Region();

  // Engine: a new memfd of layout.size bytes, mapped, with the header
  // written and every ring empty (each shard, the producer of in_free[s],
  // puts its inbound frames there when it takes the host on).
  static Result<Region> create(uint32_t host, const RegionLayout& layout, std::string* why);
  // Library: maps `fd` (taking it) of `size` bytes and checks the header
  // against a layout computed from it; the layout is then the library's.
  static Result<Region> map(int fd, uint64_t size, std::string* why);

  std::byte* base() const { return base_; }
  int fd() const { return fd_; }
  const RegionLayout& layout() const { return layout_; }
  uint32_t host() const { return host_; }
  WakeFlags& flags() const { return *reinterpret_cast<WakeFlags*>(base_ + layout_.flags); }
  std::byte* at(uint32_t offset) const { return base_ + offset; }

 private:
  std::byte* base_ = nullptr;
  uint64_t size_ = 0;
  int fd_ = -1;
  uint32_t host_ = 0;
  RegionLayout layout_;
};

}  // namespace sn::host
