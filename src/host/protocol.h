// The host interface's shared-memory protocol (the patent's I2O queues,
// Fig. 13): what an application process ("host") and the engine's shards
// agree on, byte for byte, in the region the engine gives each host.
//
// A region is one memfd, mapped by the engine and by its host only. It holds,
// for every shard s:
//   in_free[s]   ring, shard -> host: inbound frames the host may fill
//   in_post[s]   ring, host -> shard: inbound frames holding a command
//   out_free[s]  ring, host -> shard: outbound frames the host is done with
//   out_post[s]  ring, shard -> host: outbound frames holding an event
// and the frames themselves: `in_frames` inbound and `out_frames` outbound
// frames per shard, `frame_size` bytes each. Ring entries are frame offsets
// from the region's start. (The patent's per-host outbound queues fed by all
// shards are here one outbound pair per shard, which the library reads
// together: the same queue without a lock shared between shards and host.)
//
// A frame changes owner only through a ring: inbound frames start in
// in_free (the host's), come back to the shard in in_post, and return to
// in_free when the shard has used them (a send's bytes are in the socket);
// outbound frames start with the shard, reach the host in out_post, and come
// back in out_free once the application released them. So a host that holds
// frames only slows itself: a shard with no outbound frame leaves data in the
// socket (TCP's window closes), a host with no inbound frame waits.
//
// The engine trusts nothing in the region: it keeps the layout, every ring's
// own index and every frame's owner in its own memory; an offset that is not
// one of this shard's frames, a frame the host does not own, a length past
// the frame, an unknown command or a handle not of this host's sockets is a
// protocol violation: counted, and the host is detached. The header below is
// written by the engine for the library's benefit and never read back.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace sn::host {

inline constexpr uint32_t kRegionMagic = 0x534e4852;  // "SNHR"
inline constexpr uint32_t kProtocolVersion = 1;
inline constexpr uint32_t kMaxShards = 64;

// Where shard s's queues and frames are in the region.
struct ShardQueues {
  uint32_t in_free, in_post, out_free, out_post;  // ring offsets
  uint32_t in_frames, out_frames;                 // offset of the first frame of each kind
};

// At offset 0 of the region.
struct RegionHeader {
  uint32_t magic;
  uint32_t version;
  uint32_t host;  // this host's number
  uint32_t shards;
  uint32_t frame_size;
  uint32_t in_frames;   // per shard
  uint32_t out_frames;  // per shard
  uint32_t ring_capacity;
  uint64_t size;  // of the whole region
  ShardQueues queues[kMaxShards];
};

// Sleep flags, at RegionLayout::flags: written by one side, read by the
// other to know whether a write to its eventfd is needed after a post.
struct WakeFlags {
  alignas(64) std::atomic<uint32_t> host_sleeping;  // the host waits on its eventfd
  alignas(64) std::atomic<uint32_t> shard_sleeping[kMaxShards];
};

// ---- Frames -----------------------------------------------------------------

// Commands, host -> shard (in_post).
enum class Command : uint16_t {
  kListen = 1,  // port, arg = backlog, user: the host's handle. Sent to every shard.
  kConnect,     // addr, port, user
  kSend,        // handle, payload: bytes for the socket's stream
  kShutdown,    // handle: FIN after what is queued
  kClose,       // handle: the host is done with the socket (and with its events)
  kUdpBind,     // port, user. Sent to every shard.
  kSendTo,      // handle (a UDP socket), addr, port, payload: one datagram
  kSetOption,   // handle (a connection), arg: an Option, addr: its value
};

// Socket options (kSetOption), for connections.
enum class Option : uint32_t {
  kNoDelay = 1,    // TCP_NODELAY: value 0 or 1
  kKeepAlive = 2,  // SO_KEEPALIVE: value 0 or 1 (the engine's keepalive times)
};

// Events, shard -> host (out_post).
enum class Event : uint16_t {
  kListening = 101,  // user, handle (the shard's listener), status
  kConnected,        // user, handle, status; addr/port: the local end
  kAccepted,         // handle (new), user (the listener's), addr/port: the peer
  kData,             // handle, payload
  kEof,              // handle: the peer sent FIN
  kClosed,           // handle, status: the connection is gone (0: closed; else -errno)
  kBound,            // user, handle (a UDP socket), status
  kDatagram,         // handle, addr/port: the sender, payload
};

// The first bytes of every frame; the payload follows.
struct FrameHeader {
  uint16_t kind;    // a Command or an Event
  uint16_t flags;   // 0
  uint32_t length;  // payload bytes after the header
  uint32_t handle;  // the shard's socket handle
  uint32_t user;    // the host's handle, echoed back in events
  int32_t status;   // events: 0 or -errno
  uint32_t addr;    // IPv4, host order
  uint16_t port;    // host order
  uint16_t reserved;
  uint32_t arg;
};
static_assert(sizeof(FrameHeader) == 32);

// How to wake a sleeping shard or host: each has an eventfd, passed to the
// host at attach (SCM_RIGHTS, in this order: region, host eventfd, shard 0's
// eventfd, ...). After a post: a seq_cst fence, then if the other side's
// sleep flag is set, write 1 to its eventfd. Before sleeping: set one's own
// flag, a seq_cst fence, look at one's rings once more, then poll.

// The attach handshake on the control socket: the host sends "attach\n"; the
// engine answers with one AttachReply (and the descriptors above) or a line
// of text saying why not.
struct AttachReply {
  uint32_t magic;  // kRegionMagic
  uint32_t version;
  uint32_t host;
  uint32_t shards;
  uint64_t region_size;
};

}  // namespace sn::host
