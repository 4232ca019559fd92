// The engine's attached hosts (Fig. 16): who attached, their regions, and
// the hand-over of each to every shard's socket module and back. Attach and
// detach run on the control thread; each shard takes the news from a ring of
// its own and answers through the group's lock table (a fetch-and-add per
// shard that let a host go, a compare-and-swap for the first violation), so
// a region is unmapped only once no shard can touch it.
#pragma once

#include <sys/socket.h>

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "buf/ring.h"
#include "host/region.h"
#include "shard/lock_table.h"

namespace sn {

class ControlServer;

// What the control thread tells a shard about a host.
struct HostOp {
  enum class Kind : uint8_t { kAttach, kDetach };
  Kind kind = Kind::kAttach;
  uint32_t host = 0;
  std::byte* base = nullptr;                   // kAttach: the engine's mapping
  const host::RegionLayout* layout = nullptr;  // kAttach
  int wake_fd = -1;                            // kAttach: the host's eventfd
};

class Hosts {
 public:
  static constexpr uint32_t kMaxHosts = 256;

  struct ShardLink {
    SpscRing<HostOp>* ops;  // control thread -> shard
    int wake_fd;            // the shard's eventfd
  };
  Hosts(std::vector<ShardLink> shards, host::RegionConfig region);
  ~Hosts();

  // For the shards' wake-ups of the control thread; set before they run.
  void set_control(ControlServer* control) { control_ = control; }

  // Control thread: the ControlServer's host hooks.
  bool attach(ControlServer& control, int fd, const ucred& peer);
  void hangup(ControlServer& control, int fd);
  void tick(ControlServer& control);
  // Control thread: for `shardnet stats`.
  std::string stats_text() const;
  std::string stats_json() const;
  size_t attached() const {
    std::lock_guard lock(mu_);
    return hosts_.size();
  }

  // Shard threads.
  void violation(uint32_t host, const char* why);
  void released(uint32_t host);

 private:
  struct Host;
  void begin_detach(ControlServer& control, Host& h);
  bool send_ops(Host& h, HostOp::Kind kind);

  std::vector<ShardLink> shards_;
  host::RegionConfig region_config_;
  host::RegionLayout layout_;
  ControlServer* control_ = nullptr;
  // Changed on the control thread only; mu_ lets stats read it from others.
  mutable std::mutex mu_;
  std::map<uint32_t, std::unique_ptr<Host>> hosts_;
  // Word h: shards that let host h go (fetch-and-add); word kMaxHosts + h:
  // nonzero once a shard found it breaking the protocol (compare-and-swap).
  LockTable words_{2 * kMaxHosts};
  std::atomic<const char*> why_[kMaxHosts] = {};  // stored by the CAS winner
  std::string last_violation_;
  std::atomic<uint64_t> attaches_{0}, refused_{0}, violations_{0};
};

}  // namespace sn
