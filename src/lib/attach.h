// The attach handshake on the engine's control socket (protocol.h): connect,
// send "attach\n", receive an AttachReply with the region's memfd and the
// eventfds (SCM_RIGHTS), map the region. What comes out is everything a
// Client needs; the control connection stays open for the whole attachment
// (the engine cleans up after the host when it closes).
#pragma once

#include <string>
#include <vector>

#include "base/result.h"
#include "host/region.h"
#include "lib/fd.h"

namespace sn {

struct Attachment {
  Fd control;                    // the control connection, non-blocking
  host::Region region;           // mapped, header checked
  Fd host_event;                 // the eventfd the shards write to wake us, non-blocking
  std::vector<Fd> shard_events;  // one per shard, non-blocking
};

// Where an engine named "shardnet" listens by default (as the engine's own
// default_control_path): /run/shardnet/shardnet.sock for root, else
// $XDG_RUNTIME_DIR/shardnet-shardnet.sock, else /tmp/shardnet-shardnet.sock.
std::string default_control_path();

// Attaches to the engine at `path`. On failure `*why` says what went wrong
// in a sentence a person can act on.
Result<Attachment> attach_engine(const std::string& path, std::string* why);

}  // namespace sn
