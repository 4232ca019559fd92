// The control socket: a UNIX stream socket on which the engine answers one
// command per connection ("stats" or "stats json") from its own thread.
#pragma once

#include <atomic>
#include <functional>
#include <string>
#include <thread>

#include "base/result.h"

namespace sn {

class ControlServer {
 public:
  using Handler = std::function<std::string(const std::string& command)>;

  // Listens on `path` (replacing a stale socket file) and serves requests
  // with `handler` on a thread of its own until destroyed.
  static Result<std::unique_ptr<ControlServer>> start(const std::string& path, Handler handler,
                                                      std::string* why);
  ~ControlServer();

 private:
  ControlServer() = default;
  void serve();

  std::string path_;
  Handler handler_;
  int fd_ = -1;
  int wake_[2] = {-1, -1};
  std::thread thread_;
};

// Sends `command` to the engine listening on `path` and returns its answer.
Result<std::string> control_request(const std::string& path, const std::string& command,
                                    std::string* why);

}  // namespace sn
