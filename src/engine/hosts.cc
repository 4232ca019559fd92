// Attached hosts: the attach handshake, detaching, freeing regions.
#include "engine/hosts.h"

#include <fmt/format.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "engine/control.h"

namespace sn {

struct Hosts::Host {
  uint32_t id = 0;
  int fd = -1;  // the control connection; -1 once dropped
  ucred peer{};
  host::Region region;
  int wake_fd = -1;
  bool detaching = false;
  std::vector<bool> detach_sent;
  ~Host() {
    if (wake_fd >= 0) ::close(wake_fd);
  }
};

Hosts::Hosts(std::vector<ShardLink> shards, host::RegionConfig region)
    : shards_(std::move(shards)), region_config_(region) {
  region_config_.shards = static_cast<uint32_t>(shards_.size());
  layout_ = host::RegionLayout::compute(region_config_);
}

Hosts::~Hosts() = default;

namespace {

void say(int fd, const std::string& line) {
  (void)!::send(fd, line.data(), line.size(), MSG_NOSIGNAL);
}

}  // namespace

bool Hosts::attach(ControlServer& control, int fd, const ucred& peer) {
  // The socket file's permissions decided who could connect; the peer's
  // credentials must also match its owner or group (or be root's).
  struct stat st {};
  const bool allowed = peer.uid == 0 || peer.uid == ::geteuid() ||
                       (::stat(control.path().c_str(), &st) == 0 &&
                        (peer.uid == st.st_uid || peer.gid == st.st_gid));
  if (!allowed) {
    ++refused_;
    say(fd,
        fmt::format("error: uid {} may not attach (not the engine's user or group)\n", peer.uid));
    return false;
  }
  uint32_t id = 1;
  while (id < kMaxHosts && hosts_.count(id))
    ++id;
  if (id >= kMaxHosts) {
    ++refused_;
    say(fd,
        fmt::format("error: {} hosts attached already, the most there can be\n", kMaxHosts - 1));
    return false;
  }
  auto h = std::make_unique<Host>();
  h->id = id;
  h->fd = fd;
  h->peer = peer;
  std::string why;
  auto region = host::Region::create(id, layout_, &why);
  if (!region) {
    ++refused_;
    say(fd, "error: " + why + "\n");
    return false;
  }
  h->region = std::move(*region);
  h->wake_fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (h->wake_fd < 0) {
    ++refused_;
    say(fd, std::string("error: eventfd: ") + std::strerror(errno) + "\n");
    return false;
  }
  // A number used before: every shard let that host go. Count from 0.
  for (size_t w : {size_t{id}, size_t{kMaxHosts + id}}) {
    uint64_t old = words_.load(w);
    while (!words_.compare_and_swap(w, old, 0)) {
    }
  }
  why_[id].store(nullptr);
  // The shards take it on first: the library may post the moment it maps.
  if (!send_ops(*h, HostOp::Kind::kAttach)) {
    ++refused_;
    say(fd, "error: the engine is busy, try again\n");
    return false;
  }
  host::AttachReply reply{host::kRegionMagic, host::kProtocolVersion, id,
                          static_cast<uint32_t>(shards_.size()), layout_.size};
  std::vector<int> fds{h->region.fd(), h->wake_fd};
  for (const ShardLink& s : shards_)
    fds.push_back(s.wake_fd);
  iovec iov{&reply, sizeof(reply)};
  std::vector<char> cbuf(CMSG_SPACE(sizeof(int) * fds.size()));
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = cbuf.data();
  msg.msg_controllen = cbuf.size();
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
  std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
  if (::sendmsg(fd, &msg, MSG_NOSIGNAL) != static_cast<ssize_t>(sizeof(reply))) {
    // Gone already: the shards let it go again.
    h->fd = -1;
    ::close(fd);
    Host& ref = *h;
    {
      std::lock_guard lock(mu_);
      hosts_.emplace(id, std::move(h));
    }
    begin_detach(control, ref);
    return true;
  }
  ++attaches_;
  control.keep(fd);
  std::lock_guard lock(mu_);
  hosts_.emplace(id, std::move(h));
  return true;
}

bool Hosts::send_ops(Host& h, HostOp::Kind kind) {
  bool all = true;
  if (h.detach_sent.empty()) h.detach_sent.assign(shards_.size(), false);
  for (size_t s = 0; s < shards_.size(); ++s) {
    if (kind == HostOp::Kind::kDetach && h.detach_sent[s]) continue;
    HostOp op{kind, h.id, h.region.base(), &layout_, h.wake_fd};
    if (!shards_[s].ops->push(std::move(op))) {
      all = false;
      continue;
    }
    if (kind == HostOp::Kind::kDetach) h.detach_sent[s] = true;
    uint64_t one = 1;
    (void)!::write(shards_[s].wake_fd, &one, sizeof(one));
  }
  return all;
}

void Hosts::begin_detach(ControlServer& control, Host& h) {
  if (h.detaching) return;
  h.detaching = true;
  if (h.fd >= 0) {
    control.drop(h.fd);
    h.fd = -1;
  }
  (void)send_ops(h, HostOp::Kind::kDetach);
}

void Hosts::hangup(ControlServer& control, int fd) {
  for (auto& [id, h] : hosts_)
    if (h->fd == fd) return begin_detach(control, *h);
  control.drop(fd);
}

void Hosts::tick(ControlServer& control) {
  for (auto it = hosts_.begin(); it != hosts_.end();) {
    Host& h = *it->second;
    if (!h.detaching && words_.load(kMaxHosts + h.id) != 0) {
      ++violations_;
      const char* why = why_[h.id].load();
      std::lock_guard lock(mu_);
      last_violation_ =
          fmt::format("host {} (pid {}): {}", h.id, h.peer.pid, why ? why : "broke the protocol");
      begin_detach(control, h);
    }
    if (h.detaching) {
      (void)send_ops(h, HostOp::Kind::kDetach);  // any a full ring refused
      if (words_.load(h.id) == shards_.size()) {
        std::lock_guard lock(mu_);
        it = hosts_.erase(it);  // no shard touches the region: unmap it
        continue;
      }
    }
    ++it;
  }
}

void Hosts::violation(uint32_t host, const char* why) {
  const char* none = nullptr;
  why_[host].compare_exchange_strong(none, why);  // the first reason stays
  uint64_t expected = 0;
  (void)words_.compare_and_swap(kMaxHosts + host, expected, 1);
  if (control_) control_->wake();
}

void Hosts::released(uint32_t host) {
  words_.fetch_and_add(host, 1);
  if (control_) control_->wake();
}

std::string Hosts::stats_text() const {
  std::lock_guard lock(mu_);
  std::string out = fmt::format(
      "hosts: {} attached ({} attaches, {} refused, {} detached for "
      "breaking the protocol)\n",
      hosts_.size(), attaches_.load(), refused_.load(), violations_.load());
  if (!last_violation_.empty())
    out += "  last detached for breaking the protocol: " + last_violation_ + "\n";
  for (const auto& [id, h] : hosts_)
    out += fmt::format("  host {}: pid {} uid {}, region {} KiB{}\n", id, h->peer.pid, h->peer.uid,
                       h->region.layout().size >> 10, h->detaching ? ", detaching" : "");
  return out;
}

std::string Hosts::stats_json() const {
  std::lock_guard lock(mu_);
  std::string out =
      fmt::format("{{\"attached\":{},\"attaches\":{},\"refused\":{},\"violations\":{},\"list\":[",
                  hosts_.size(), attaches_.load(), refused_.load(), violations_.load());
  bool first = true;
  for (const auto& [id, h] : hosts_) {
    out +=
        fmt::format("{}{{\"host\":{},\"pid\":{},\"uid\":{},\"region_bytes\":{},\"detaching\":{}}}",
                    first ? "" : ",", id, h->peer.pid, h->peer.uid, h->region.layout().size,
                    h->detaching ? "true" : "false");
    first = false;
  }
  return out + "]}";
}

}  // namespace sn
