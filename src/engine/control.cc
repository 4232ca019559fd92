// The control socket, server and client.
#include "engine/control.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>

namespace sn {

namespace {

bool make_address(const std::string& path, sockaddr_un* addr, std::string* why) {
  std::memset(addr, 0, sizeof(*addr));
  addr->sun_family = AF_UNIX;
  if (path.size() >= sizeof(addr->sun_path)) {
    *why = "control socket path too long: " + path;
    return false;
  }
  std::memcpy(addr->sun_path, path.c_str(), path.size() + 1);
  return true;
}

}  // namespace

Result<std::unique_ptr<ControlServer>> ControlServer::start(const std::string& path,
                                                            Handler handler, std::string* why,
                                                            HostHooks hooks) {
  std::unique_ptr<ControlServer> s(new ControlServer());
  s->handler_ = std::move(handler);
  s->hooks_ = std::move(hooks);
  sockaddr_un addr;
  if (!make_address(path, &addr, why)) return Error{Errc::kInvalidArgument, "bad control path"};
  auto slash = path.rfind('/');
  if (slash != std::string::npos && slash > 0) ::mkdir(path.substr(0, slash).c_str(), 0755);
  s->fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s->fd_ < 0) {
    *why = std::string("cannot create the control socket: ") + std::strerror(errno);
    return Error{Errc::kIo, "control socket"};
  }
  // A socket file someone still answers on belongs to a running engine: do
  // not take it over. One nobody answers on was left by an engine that died.
  if (int probe = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0); probe >= 0) {
    bool live = ::connect(probe, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
    ::close(probe);
    if (live) {
      *why =
          "an engine is already serving " + path + " (give this one another --name or --control)";
      return Error{Errc::kAddressInUse, "control socket in use"};
    }
  }
  ::unlink(path.c_str());
  if (::bind(s->fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::listen(s->fd_, 16) != 0) {
    *why = "cannot listen on " + path + ": " + std::strerror(errno);
    return Error{Errc::kIo, "control socket"};
  }
  s->path_ = path;  // bound: ours to remove when done
  if (::pipe2(s->wake_, O_CLOEXEC | O_NONBLOCK) != 0) {
    *why = std::string("pipe: ") + std::strerror(errno);
    return Error{Errc::kIo, "control socket"};
  }
  s->thread_ = std::thread([p = s.get()] { p->serve(); });
  return s;
}

ControlServer::~ControlServer() {
  if (thread_.joinable()) {
    stopping_.store(true);
    wake();
    thread_.join();
  }
  for (int k : kept_)
    ::close(k);
  if (fd_ >= 0) ::close(fd_);
  if (!path_.empty()) ::unlink(path_.c_str());
  for (int fd : wake_)
    if (fd >= 0) ::close(fd);
}

void ControlServer::wake() {
  char c = 0;
  (void)!::write(wake_[1], &c, 1);
}

void ControlServer::drop(int fd) {
  std::erase(kept_, fd);
  ::close(fd);
}

void ControlServer::serve() {
  std::vector<pollfd> fds;
  while (!stopping_.load()) {
    fds.assign({{fd_, POLLIN, 0}, {wake_[0], POLLIN, 0}});
    for (int k : kept_)
      fds.push_back({k, POLLIN, 0});
    if (::poll(fds.data(), fds.size(), 100) < 0 && errno != EINTR) return;
    if (stopping_.load()) return;
    if (fds[1].revents) {
      char buf[64];
      while (::read(wake_[0], buf, sizeof(buf)) > 0) {
      }
    }
    // A host never writes after attaching: readable means gone (or broken).
    for (size_t i = 2; i < fds.size(); ++i)
      if (fds[i].revents != 0 && hooks_.hangup) hooks_.hangup(*this, fds[i].fd);
    if (hooks_.tick) hooks_.tick(*this);
    if (fds[0].revents & POLLIN) {
      int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c >= 0) answer(c);
    }
  }
}

void ControlServer::answer(int c) {
  // One short command line; a slow or silent client gets a second, no more.
  timeval tv{1, 0};
  ::setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  ::setsockopt(c, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  std::string cmd;
  char buf[256];
  while (cmd.size() < 1024 && cmd.find('\n') == std::string::npos) {
    ssize_t n = ::read(c, buf, sizeof(buf));
    if (n <= 0) break;
    cmd.append(buf, static_cast<size_t>(n));
  }
  if (auto nl = cmd.find('\n'); nl != std::string::npos) cmd.resize(nl);
  if (cmd == "attach" && hooks_.attach) {
    ucred peer{};
    socklen_t len = sizeof(peer);
    if (::getsockopt(c, SOL_SOCKET, SO_PEERCRED, &peer, &len) == 0 && hooks_.attach(*this, c, peer))
      return;  // the host's now
    ::close(c);
    return;
  }
  std::string answer = handler_(cmd);
  size_t done = 0;
  while (done < answer.size()) {
    // MSG_NOSIGNAL: a client that hung up must not kill the engine with SIGPIPE.
    ssize_t n = ::send(c, answer.data() + done, answer.size() - done, MSG_NOSIGNAL);
    if (n <= 0) break;
    done += static_cast<size_t>(n);
  }
  ::close(c);
}

Result<std::string> control_request(const std::string& path, const std::string& command,
                                    std::string* why) {
  sockaddr_un addr;
  if (!make_address(path, &addr, why)) return Error{Errc::kInvalidArgument, "bad control path"};
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    *why = std::string("socket: ") + std::strerror(errno);
    return Error{Errc::kIo, "control socket"};
  }
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    *why = "no engine answers on " + path + " (" + std::strerror(errno) +
           "); is `shardnet run` running, and is --control the same?";
    ::close(fd);
    return Error{Errc::kIo, "control socket"};
  }
  std::string line = command + "\n";
  (void)!::send(fd, line.data(), line.size(), MSG_NOSIGNAL);
  std::string answer;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n <= 0) break;
    answer.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return answer;
}

}  // namespace sn
