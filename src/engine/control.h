// The control socket: a UNIX stream socket on which the engine answers one
// command per connection ("stats" or "stats json") from its own thread, and
// on which hosts attach ("attach"): such a connection is kept open for the
// host's lifetime, and its end (the host exited, crashed or detached) is
// reported.
#pragma once

#include <sys/socket.h>

#include <atomic>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "base/result.h"

namespace sn {

class ControlServer {
 public:
  using Handler = std::function<std::string(const std::string& command)>;
  // All called on the control thread, with the server itself.
  struct HostHooks {
    // "attach" from a peer with these credentials: true if it took the
    // connection (then keep() it); false: the connection is closed.
    std::function<bool(ControlServer&, int fd, const ucred& peer)> attach;
    // A kept connection ended (or its host wrote to it, which it must not).
    std::function<void(ControlServer&, int fd)> hangup;
    // Every 100 ms, and soon after wake().
    std::function<void(ControlServer&)> tick;
  };

  // Listens on `path` (replacing a stale socket file) and serves requests
  // with `handler` on a thread of its own until destroyed.
  static Result<std::unique_ptr<ControlServer>> start(const std::string& path, Handler handler,
                                                      std::string* why,
                                                      HostHooks hooks = HostHooks{});
  ~ControlServer();

  // Control thread: watch a connection `attach` took, until drop().
  void keep(int fd) { kept_.push_back(fd); }
  // Control thread: stop watching and close it.
  void drop(int fd);
  // Any thread: run the tick hook soon.
  void wake();
  const std::string& path() const { return path_; }

 private:
  ControlServer() = default;
  void serve();
  void answer(int c);

  std::string path_;
  Handler handler_;
  HostHooks hooks_;
  int fd_ = -1;
  int wake_[2] = {-1, -1};
  std::vector<int> kept_;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

// Sends `command` to the engine listening on `path` and returns its answer.
Result<std::string> control_request(const std::string& path, const std::string& command,
                                    std::string* why);

}  // namespace sn
