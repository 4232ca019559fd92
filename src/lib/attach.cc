// The attach handshake: see attach.h and host/protocol.h.
#include "lib/attach.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace sn {
namespace {

constexpr int kAnswerTimeoutSeconds = 5;
constexpr size_t kMaxFds = 2 + host::kMaxShards;

Error fail(std::string* why, std::string text, Errc code = Errc::kIo) {
  *why = std::move(text);
  return Error{code, "attach failed"};
}

std::string connect_failure(const std::string& path, int err) {
  switch (err) {
    case EACCES:
    case EPERM:
      return "no permission on " + path +
             ": ask the engine's owner, or run as a user in the socket's group";
    case ENOENT:
    case ENOTDIR:
    case ECONNREFUSED:
      return "no engine at " + path + "; is `shardnet run` running?";
    default:
      return "cannot connect to the engine at " + path + ": " + std::strerror(err);
  }
}

bool set_nonblocking(int fd) {
  const int fl = ::fcntl(fd, F_GETFL);
  return fl >= 0 && ::fcntl(fd, F_SETFL, fl | O_NONBLOCK) == 0;
}

// Takes every descriptor of every SCM_RIGHTS message in `msg`.
void take_fds(msghdr* msg, std::vector<Fd>* fds) {
  for (cmsghdr* c = CMSG_FIRSTHDR(msg); c != nullptr; c = CMSG_NXTHDR(msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    const size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < n; ++i) {
      int fd;
      std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
      fds->emplace_back(fd);
    }
  }
}

// The engine's answer: the bytes up to a whole AttachReply or a whole line,
// and the descriptors that came with them.
struct Answer {
  std::string bytes;
  std::vector<Fd> fds;
  bool truncated_fds = false;
};

Result<Answer> read_answer(int fd, const std::string& path, std::string* why) {
  Answer a;
  for (;;) {
    char buf[512];
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxFds)];
    iovec iov{buf, sizeof(buf)};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof(control);
    const ssize_t n = ::recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK)
        return fail(why, "the engine at " + path + " did not answer the attach within " +
                             std::to_string(kAnswerTimeoutSeconds) + " s; is it overloaded?");
      return fail(why, "reading the engine's answer on " + path + ": " + std::strerror(errno));
    }
    take_fds(&msg, &a.fds);
    a.truncated_fds |= (msg.msg_flags & MSG_CTRUNC) != 0;
    if (n == 0) break;
    a.bytes.append(buf, static_cast<size_t>(n));
    uint32_t magic = 0;
    if (a.bytes.size() >= sizeof(magic)) std::memcpy(&magic, a.bytes.data(), sizeof(magic));
    if (magic == host::kRegionMagic) {
      if (a.bytes.size() >= sizeof(host::AttachReply)) break;
    } else if (a.bytes.size() >= sizeof(magic) && a.bytes.find('\n') != std::string::npos) {
      break;
    }
    if (a.bytes.size() > 4096) break;
  }
  return Result<Answer>(std::move(a));
}

// A line of text instead of a reply: the engine's reason for refusing.
std::string refusal(const std::string& path, std::string text) {
  if (auto nl = text.find('\n'); nl != std::string::npos) text.resize(nl);
  if (text.rfind("error: ", 0) == 0) text.erase(0, 7);
  if (text.empty()) return "the engine at " + path + " closed the connection without answering";
  for (char& c : text)
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) > 0x7e) c = '?';
  return "the engine at " + path + " refused the attach: " + text;
}

}  // namespace

std::string default_control_path() {
  if (::geteuid() == 0) return "/run/shardnet/shardnet.sock";
  if (const char* dir = std::getenv("XDG_RUNTIME_DIR"); dir != nullptr && *dir != '\0')
    return std::string(dir) + "/shardnet-shardnet.sock";
  return "/tmp/shardnet-shardnet.sock";
}

Result<Attachment> attach_engine(const std::string& path, std::string* why) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof(addr.sun_path))
    return fail(why, "control socket path empty or too long: " + path, Errc::kInvalidArgument);
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);

  Fd control(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!control.valid()) return fail(why, std::string("socket: ") + std::strerror(errno));
  if (::connect(control.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0)
    return fail(why, connect_failure(path, errno));
  const timeval tv{kAnswerTimeoutSeconds, 0};
  ::setsockopt(control.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  ::setsockopt(control.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  static constexpr char kAttach[] = "attach\n";
  if (::send(control.get(), kAttach, sizeof(kAttach) - 1, MSG_NOSIGNAL) !=
      static_cast<ssize_t>(sizeof(kAttach) - 1))
    return fail(why,
                "the engine at " + path + " hung up before the attach: " + std::strerror(errno));

  auto answer = read_answer(control.get(), path, why);
  if (!answer) return answer.error();
  Answer& a = *answer;
  uint32_t magic = 0;
  if (a.bytes.size() >= sizeof(magic)) std::memcpy(&magic, a.bytes.data(), sizeof(magic));
  if (magic != host::kRegionMagic) return fail(why, refusal(path, a.bytes));
  if (a.bytes.size() < sizeof(host::AttachReply))
    return fail(why, "the engine at " + path + " sent a truncated attach reply");
  host::AttachReply reply;
  std::memcpy(&reply, a.bytes.data(), sizeof(reply));
  if (reply.version != host::kProtocolVersion)
    return fail(why, "the engine at " + path + " speaks host protocol version " +
                         std::to_string(reply.version) + ", this library version " +
                         std::to_string(host::kProtocolVersion) +
                         ": rebuild the application against the engine's libshardnet");
  if (reply.shards == 0 || reply.shards > host::kMaxShards)
    return fail(why,
                "the engine at " + path + " claims " + std::to_string(reply.shards) + " shards");
  if (a.truncated_fds || a.fds.size() != 2 + size_t{reply.shards})
    return fail(why, "the engine at " + path + " sent " + std::to_string(a.fds.size()) +
                         " descriptors, expected " + std::to_string(2 + reply.shards) +
                         " (is RLIMIT_NOFILE too low?)");
  // A region that can shrink under our mapping would turn our next access
  // into SIGBUS: the engine seals its memfd; refuse one that is not.
  const int seals = ::fcntl(a.fds[0].get(), F_GET_SEALS);
  if (seals < 0 || (seals & F_SEAL_SHRINK) == 0)
    return fail(why, "the engine at " + path + " sent a region that is not a sealed memfd");

  Attachment out;
  std::string map_why;
  auto region = host::Region::map(a.fds[0].release(), reply.region_size, &map_why);
  if (!region) return fail(why, "mapping the engine's region: " + map_why);
  out.region = std::move(*region);
  if (out.region.layout().config.shards != reply.shards || out.region.host() != reply.host)
    return fail(why, "the engine at " + path + " sent a region that disagrees with its reply");
  for (size_t i = 1; i < a.fds.size(); ++i)
    if (!set_nonblocking(a.fds[i].get()))
      return fail(why, std::string("fcntl on an engine eventfd: ") + std::strerror(errno));
  if (!set_nonblocking(control.get()))
    return fail(why, std::string("fcntl on the control socket: ") + std::strerror(errno));
  out.control = std::move(control);
  out.host_event = std::move(a.fds[1]);
  for (size_t i = 2; i < a.fds.size(); ++i)
    out.shard_events.push_back(std::move(a.fds[i]));
  return Result<Attachment>(std::move(out));
}

}  // namespace sn
