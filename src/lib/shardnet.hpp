// libshardnet for C++: RAII owners over the C API (shardnet.h), nothing more.
#pragma once

#include <cerrno>
#include <string>
#include <utility>

#include "lib/shardnet.h"

namespace sn {

// An attachment; detaches when destroyed.
class Host {
 public:
  Host() = default;
  explicit Host(sn_host* h) : h_(h) {}
  Host(Host&& o) noexcept : h_(std::exchange(o.h_, nullptr)) {}
  Host& operator=(Host&& o) noexcept {
    if (this != &o) {
      reset();
      h_ = std::exchange(o.h_, nullptr);
    }
    return *this;
  }
  ~Host() { reset(); }

  // An empty Host, with the reason in *why, if the attach failed.
  static Host attach(const char* control_path, std::string* why) {
    char buf[512] = {};
    Host h(sn_attach(control_path, buf, sizeof(buf)));
    if (!h && why != nullptr) *why = buf;
    return h;
  }

  sn_host* get() const { return h_; }
  explicit operator bool() const { return h_ != nullptr; }
  void reset() {
    if (h_ != nullptr) sn_detach(std::exchange(h_, nullptr));
  }

 private:
  sn_host* h_ = nullptr;
};

// A socket; closed when destroyed. REQUIRES: destroyed before its Host.
class Socket {
 public:
  Socket() = default;
  Socket(sn_host* h, sn_socket s) : h_(h), s_(s) {}
  Socket(Socket&& o) noexcept : h_(o.h_), s_(std::exchange(o.s_, 0)) {}
  Socket& operator=(Socket&& o) noexcept {
    if (this != &o) {
      reset();
      h_ = o.h_;
      s_ = std::exchange(o.s_, 0);
    }
    return *this;
  }
  ~Socket() { reset(); }

  sn_socket get() const { return s_; }
  explicit operator bool() const { return s_ > 0; }
  sn_socket release() { return std::exchange(s_, 0); }
  void reset() {
    if (s_ > 0) sn_close(h_, std::exchange(s_, 0));
  }
  // sn_set_blocking, sn_set_timeout: 0 or a negative errno (-EBADF when empty).
  int set_blocking(bool blocking) const {
    return s_ > 0 ? sn_set_blocking(h_, s_, blocking ? 1 : 0) : -EBADF;
  }
  int set_timeout(int timeout_ms) const {
    return s_ > 0 ? sn_set_timeout(h_, s_, timeout_ms) : -EBADF;
  }

 private:
  sn_host* h_ = nullptr;
  sn_socket s_ = 0;
};

}  // namespace sn
