// sn-loadgen: the load generator of `shardnet bench`. One thread, one epoll
// instance, Linux sockets, against either the engine or sn-linux-server:
//   rpc       N persistent connections, each closed-loop with D requests of
//             --size bytes in flight to an echo server; a request is done when
//             its --size bytes have come back.
//   short     N connection attempts in flight: connect, send --size bytes, read
//             them back, close, start another; latency from connect() on.
//   upload    N connections writing 64 KiB at a time to a discard server.
//   download  N connections reading from a source server.
// Counting starts after --warmup and lasts --duration; each event counts if it
// happens inside that window. Output: one line of JSON on stdout (see
// print_result), even when nothing worked; diagnostics on stderr. Exit code 1
// if no connection was ever made. `bytes` counts both directions in rpc and
// short (2 * size per op); `ops` and `rate` are 0 in the bulk modes.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fmt/core.h>
#include <CLI/CLI.hpp>
#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "fd_limit.h"
#include "histogram.h"

namespace {

using sn::bench::Histogram;

volatile std::sig_atomic_t g_stop = 0;  // SIGINT or SIGTERM: end the window now

using Nanos = int64_t;

Nanos now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

enum class Mode { kRpc, kShort, kUpload, kDownload };

struct Options {
  Mode mode = Mode::kRpc;
  std::string server;
  uint16_t port = 0;
  int conns = 1;
  uint32_t size = 64;
  double duration = 5, warmup = 1;
  uint32_t depth = 1;
  uint32_t idle = 0;                 // connections opened first and held open, idle
  std::vector<std::string> sources;  // their source addresses, in turn (else the default)
};

constexpr size_t kChunk = 65536;           // bulk writes and every read
constexpr Nanos kRetryPause = 10'000'000;  // before a failed connection tries again
constexpr int kMaxDiagnostics = 10;        // error messages printed, then only counted
constexpr int kBurst = 16;                 // bulk reads or writes per event

// One connection slot. In rpc and short it keeps the issue times of the
// requests in flight (a ring of `depth`), the request bytes not yet written
// and the response bytes received towards the oldest request.
struct Conn {
  enum class State { kIdle, kConnecting, kOpen };
  State state = State::kIdle;
  int fd = -1;
  bool want_out = false;  // registered for EPOLLOUT
  Nanos retry_at = 0;     // kIdle: when to connect again
  std::unique_ptr<Nanos[]> issued;
  uint32_t head = 0, in_flight = 0;
  uint64_t unsent = 0, received = 0;
};

struct Result {
  uint64_t ops = 0, bytes = 0, errors = 0, connected = 0;
  uint32_t idle_open = 0;  // idle connections held open through the run
  double seconds = 0;
  Histogram latency;
};

class LoadGen {
 public:
  LoadGen(const Options& o, const sockaddr_in& to)
      : o_(o), to_(to), conns_(o.conns), depth_(o.mode == Mode::kRpc ? o.depth : 1) {
    for (size_t i = 0; i < tx_.size(); ++i)
      tx_[i] = static_cast<std::byte>(i);
    for (auto& c : conns_)
      c.issued = std::make_unique<Nanos[]>(depth_);
  }
  ~LoadGen() {
    for (auto& c : conns_)
      if (c.fd >= 0) ::close(c.fd);
    if (epoll_ >= 0) ::close(epoll_);
  }

  // Runs warmup then the window; false if epoll itself failed.
  bool run(Result& r) {
    r_ = &r;
    epoll_ = ::epoll_create1(EPOLL_CLOEXEC);
    if (epoll_ < 0) return false;
    const Nanos start = now_ns();
    window_start_ = start + static_cast<Nanos>(o_.warmup * 1e9);
    window_end_ = window_start_ + static_cast<Nanos>(o_.duration * 1e9);
    for (auto& c : conns_)
      open(c, start);
    std::array<epoll_event, 512> events;
    for (;;) {
      now_ = now_ns();
      if (now_ >= window_end_ || g_stop) break;
      if (idle_ > 0) retry_due();
      const Nanos wait = std::min<Nanos>(window_end_ - now_, idle_ > 0 ? kRetryPause : 100'000'000);
      const int n = ::epoll_wait(epoll_, events.data(), events.size(),
                                 static_cast<int>(wait / 1'000'000) + 1);
      now_ = now_ns();
      for (int i = 0; i < n; ++i)
        on_event(conns_[events[i].data.u32], events[i].events);
    }
    r.seconds = std::max<double>(0, std::min(now_, window_end_) - window_start_) / 1e9;
    return true;
  }

 private:
  bool in_window(Nanos t) const { return t >= window_start_ && t < window_end_; }
  uint32_t slot(const Conn& c) const { return static_cast<uint32_t>(&c - conns_.data()); }

  void error(const char* what, int err) {
    if (++r_->errors <= kMaxDiagnostics)
      fmt::print(stderr, "sn-loadgen: {}: {}\n", what, std::strerror(err));
    if (r_->errors == kMaxDiagnostics) fmt::print(stderr, "sn-loadgen: (more errors counted)\n");
  }

  // Starts a non-blocking connect on slot c.
  void open(Conn& c, Nanos t) {
    c.head = c.in_flight = 0;
    c.unsent = c.received = 0;
    c.want_out = true;
    c.fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c.fd < 0) return fail(c, "socket", errno, t);
    const int one = 1;
    if (o_.mode == Mode::kRpc || o_.mode == Mode::kShort)
      ::setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (o_.mode == Mode::kShort) {
      const linger off{0, 0};  // close() sends a FIN and returns at once
      ::setsockopt(c.fd, SOL_SOCKET, SO_LINGER, &off, sizeof(off));
      push_issue(c, t);  // a short connection's latency runs from connect()
    }
    if (::connect(c.fd, reinterpret_cast<const sockaddr*>(&to_), sizeof(to_)) != 0 &&
        errno != EINPROGRESS)
      return fail(c, "connect", errno, t);
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLOUT;  // writable: connected (or failed)
    ev.data.u32 = slot(c);
    if (::epoll_ctl(epoll_, EPOLL_CTL_ADD, c.fd, &ev) != 0) return fail(c, "epoll", errno, t);
    c.state = Conn::State::kConnecting;
  }

  // Counts an error, closes the slot and schedules it to connect again.
  void fail(Conn& c, const char* what, int err, Nanos t) {
    error(what, err);
    if (c.fd >= 0) ::close(c.fd);
    c.fd = -1;
    c.state = Conn::State::kIdle;
    c.retry_at = t + kRetryPause;
    ++idle_;
  }

  void retry_due() {
    for (auto& c : conns_) {
      if (c.state != Conn::State::kIdle || c.retry_at > now_) continue;
      --idle_;
      open(c, now_);
    }
  }

  void on_event(Conn& c, uint32_t events) {
    if (c.state == Conn::State::kConnecting) return on_connect(c);
    if (c.state != Conn::State::kOpen) return;
    switch (o_.mode) {
      case Mode::kRpc:
      case Mode::kShort:
        if (events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
          if (!on_response_bytes(c)) return;
        }
        if (c.state == Conn::State::kOpen && (events & EPOLLOUT)) flush(c);
        return;
      case Mode::kUpload:
        return upload(c);
      case Mode::kDownload:
        return download(c);
    }
  }

  void on_connect(Conn& c) {
    int err = 0;
    socklen_t len = sizeof(err);
    if (::getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
    if (err != 0) return fail(c, "connect", err, now_);
    ++r_->connected;
    c.state = Conn::State::kOpen;
    switch (o_.mode) {
      case Mode::kRpc:
        for (uint32_t i = 0; i < depth_; ++i)
          issue(c, now_);
        return flush(c);
      case Mode::kShort:
        c.unsent = o_.size;
        return flush(c);
      case Mode::kUpload:
        return upload(c);
      case Mode::kDownload:
        return watch(c, false);
    }
  }

  // Registers c for EPOLLIN, and for EPOLLOUT too if `out`.
  void watch(Conn& c, bool out) {
    if (c.want_out == out) return;
    c.want_out = out;
    epoll_event ev{};
    ev.events = EPOLLIN | (out ? EPOLLOUT : 0u);
    ev.data.u32 = slot(c);
    ::epoll_ctl(epoll_, EPOLL_CTL_MOD, c.fd, &ev);
  }

  void push_issue(Conn& c, Nanos t) {
    c.issued[(c.head + c.in_flight) % depth_] = t;
    ++c.in_flight;
  }
  void issue(Conn& c, Nanos t) {
    push_issue(c, t);
    c.unsent += o_.size;
  }

  // Writes what is unsent until done or the socket is full.
  void flush(Conn& c) {
    while (c.unsent > 0) {
      const size_t n = std::min<uint64_t>(c.unsent, tx_.size());
      const ssize_t w = ::send(c.fd, tx_.data(), n, MSG_NOSIGNAL);
      if (w < 0) {
        if (errno == EAGAIN || errno == EINTR) break;
        return fail(c, "send", errno, now_);
      }
      c.unsent -= static_cast<uint64_t>(w);
      if (static_cast<size_t>(w) < n) break;
    }
    watch(c, c.unsent > 0);
  }

  // Reads once; completes every request whose response is now whole (rpc:
  // and issues the next; short: closes and starts another connection).
  // False if the connection is gone.
  bool on_response_bytes(Conn& c) {
    const ssize_t n = ::read(c.fd, rx_.data(), rx_.size());
    if (n <= 0) {
      if (n < 0 && (errno == EAGAIN || errno == EINTR)) return true;
      fail(c, n == 0 ? "connection closed by the server" : "read", n == 0 ? ECONNRESET : errno,
           now_);
      return false;
    }
    c.received += static_cast<uint64_t>(n);
    if (c.received < o_.size || c.in_flight == 0) return true;
    const Nanos t = now_ns();
    while (c.received >= o_.size && c.in_flight > 0) {
      c.received -= o_.size;
      complete(c, t);
      if (o_.mode == Mode::kShort) {
        ::close(c.fd);
        c.fd = -1;
        c.state = Conn::State::kIdle;
        open(c, t);
        return false;
      }
      issue(c, t);
    }
    flush(c);
    return c.state == Conn::State::kOpen;
  }

  void complete(Conn& c, Nanos t) {
    const Nanos issued = c.issued[c.head];
    c.head = (c.head + 1) % depth_;
    --c.in_flight;
    if (!in_window(t)) return;
    ++r_->ops;
    r_->bytes += 2 * uint64_t{o_.size};
    r_->latency.record(t - issued);
  }

  // Bulk: up to kBurst full chunks per event; a short one means the socket
  // is full (or drained), which saves the EAGAIN call.
  void upload(Conn& c) {
    for (int i = 0; i < kBurst; ++i) {
      const ssize_t w = ::send(c.fd, tx_.data(), tx_.size(), MSG_NOSIGNAL);
      if (w < 0) {
        if (errno != EAGAIN && errno != EINTR) fail(c, "send", errno, now_);
        return;
      }
      if (in_window(now_)) r_->bytes += static_cast<uint64_t>(w);
      if (static_cast<size_t>(w) < tx_.size()) return;
    }
  }

  void download(Conn& c) {
    for (int i = 0; i < kBurst; ++i) {
      const ssize_t n = ::read(c.fd, rx_.data(), rx_.size());
      if (n <= 0) {
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
        return fail(c, n == 0 ? "connection closed by the server" : "read",
                    n == 0 ? ECONNRESET : errno, now_);
      }
      if (in_window(now_)) r_->bytes += static_cast<uint64_t>(n);
      if (static_cast<size_t>(n) < rx_.size()) return;
    }
  }

  const Options o_;
  const sockaddr_in to_;
  std::vector<Conn> conns_;
  const uint32_t depth_;
  int epoll_ = -1;
  Nanos now_ = 0, window_start_ = 0, window_end_ = 0;
  uint32_t idle_ = 0;  // slots waiting to connect again
  Result* r_ = nullptr;
  std::array<std::byte, kChunk> tx_;  // what every request and upload writes
  std::array<std::byte, kChunk> rx_;  // where every read goes
};

const char* mode_name(Mode m) {
  switch (m) {
    case Mode::kRpc:
      return "rpc";
    case Mode::kShort:
      return "short";
    case Mode::kUpload:
      return "upload";
    case Mode::kDownload:
      return "download";
  }
  return "?";
}

// Acceptable: something was done, and errors stayed under 1% of the
// operations (rpc, short) or under one per connection (bulk).
// Opens `n` connections to `to` and leaves them open and idle (the scale
// runs: the server holds them while the measured connections work). Source
// addresses rotate over `sources` (IP_BIND_ADDRESS_NO_PORT: the port is
// picked per destination at connect(), so each address has its own ports).
// Connects in batches; returns the sockets that connected.
std::vector<int> open_idle(const sockaddr_in& to, uint32_t n, const std::vector<in_addr>& sources) {
  std::vector<int> open;
  open.reserve(n);
  constexpr uint32_t kBatch = 1000;
  std::vector<pollfd> batch;
  for (uint32_t done = 0; done < n && !g_stop;) {
    batch.clear();
    for (uint32_t i = 0; i < kBatch && done + i < n; ++i) {
      const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      if (fd < 0) break;
      if (!sources.empty()) {
        const int one = 1;
        ::setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
        sockaddr_in from{};
        from.sin_family = AF_INET;
        from.sin_addr = sources[(done + i) % sources.size()];
        ::bind(fd, reinterpret_cast<const sockaddr*>(&from), sizeof from);
      }
      if (::connect(fd, reinterpret_cast<const sockaddr*>(&to), sizeof to) != 0 &&
          errno != EINPROGRESS) {
        ::close(fd);
        continue;
      }
      batch.push_back(pollfd{fd, POLLOUT, 0});
    }
    if (batch.empty()) break;
    done += static_cast<uint32_t>(batch.size());
    const Nanos deadline = now_ns() + 10'000'000'000;
    size_t pending = batch.size();
    while (pending > 0 && now_ns() < deadline && !g_stop) {
      if (::poll(batch.data(), batch.size(), 100) < 0 && errno != EINTR) break;
      for (pollfd& p : batch) {
        if (p.fd < 0 || p.revents == 0) continue;
        int err = 0;
        socklen_t len = sizeof err;
        ::getsockopt(p.fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err == 0) {
          open.push_back(p.fd);
        } else {
          ::close(p.fd);
        }
        p.fd = -1;  // poll ignores it from now on
        --pending;
      }
    }
    for (pollfd& p : batch)
      if (p.fd >= 0) ::close(p.fd);
  }
  return open;
}

bool result_ok(const Options& o, const Result& r) {
  const bool bulk = o.mode == Mode::kUpload || o.mode == Mode::kDownload;
  if (bulk) return r.bytes > 0 && r.errors < static_cast<uint64_t>(o.conns);
  return r.ops > 0 && r.errors * 100 <= r.ops;
}

void print_result(const Options& o, const Result& r) {
  const double secs = r.seconds > 0 ? r.seconds : 1;
  fmt::print(
      "{{\"mode\":\"{}\",\"conns\":{},\"size\":{},\"depth\":{},\"seconds\":{:.3f},\"ops\":{},"
      "\"rate\":{:.1f},\"bytes\":{},\"gbps\":{:.3f},\"p50_us\":{:.1f},\"p99_us\":{:.1f},"
      "\"p999_us\":{:.1f},\"errors\":{},\"idle\":{},\"ok\":{}}}\n",
      mode_name(o.mode), o.conns, o.size, o.mode == Mode::kRpc ? o.depth : 1, r.seconds, r.ops,
      r.ops / secs, r.bytes, r.bytes * 8 / secs / 1e9, r.latency.quantile_us(0.5),
      r.latency.quantile_us(0.99), r.latency.quantile_us(0.999), r.errors, r.idle_open,
      result_ok(o, r) && r.idle_open == o.idle ? "true" : "false");
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"sn-loadgen: load for bench (rpc, short connections, upload, download)"};
  Options o;
  const std::map<std::string, Mode> modes{{"rpc", Mode::kRpc},
                                          {"short", Mode::kShort},
                                          {"upload", Mode::kUpload},
                                          {"download", Mode::kDownload}};
  app.add_option("--mode", o.mode, "rpc|short|upload|download")
      ->transform(CLI::CheckedTransformer(modes));
  app.add_option("--server", o.server, "Server IPv4 address")->required();
  app.add_option("--port", o.port, "Server port")->required();
  app.add_option("--conns", o.conns, "Connections (short: attempts in flight)")
      ->check(CLI::Range(1, 1'000'000));
  app.add_option("--size", o.size, "Request size in bytes (rpc, short)")
      ->check(CLI::Range(1u, 1u << 30));
  app.add_option("--duration", o.duration, "Measured seconds")->check(CLI::PositiveNumber);
  app.add_option("--warmup", o.warmup, "Seconds before measuring")->check(CLI::NonNegativeNumber);
  app.add_option("--depth", o.depth, "rpc: requests in flight per connection")
      ->check(CLI::Range(1u, 1u << 20));
  app.add_option("--idle", o.idle, "Connections opened first and held open, idle (scale runs)")
      ->check(CLI::Range(0u, 1u << 22));
  app.add_option("--sources", o.sources, "Source addresses for the idle connections, in turn")
      ->delimiter(',');
  CLI11_PARSE(app, argc, argv);
  std::vector<in_addr> sources;
  for (const std::string& s : o.sources) {
    in_addr a{};
    if (::inet_pton(AF_INET, s.c_str(), &a) != 1) {
      fmt::print(stderr, "sn-loadgen: --sources: '{}' is not an IPv4 address\n", s);
      return 1;
    }
    sources.push_back(a);
  }

  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(o.port);
  if (::inet_pton(AF_INET, o.server.c_str(), &to.sin_addr) != 1) {
    fmt::print(stderr, "sn-loadgen: --server '{}' is not an IPv4 address\n", o.server);
    return 1;
  }
  sn::bench::raise_fd_limit();
  std::signal(SIGPIPE, SIG_IGN);
  std::signal(SIGINT, [](int) { g_stop = 1; });
  std::signal(SIGTERM, [](int) { g_stop = 1; });

  auto result = std::make_unique<Result>();
  std::vector<int> idle;
  if (o.idle > 0) {
    const Nanos t0 = now_ns();
    idle = open_idle(to, o.idle, sources);
    result->idle_open = static_cast<uint32_t>(idle.size());
    fmt::print(stderr, "sn-loadgen: {} of {} idle connections open in {:.1f} s\n", idle.size(),
               o.idle, double(now_ns() - t0) / 1e9);
  }
  {
    auto gen = std::make_unique<LoadGen>(o, to);
    if (!gen->run(*result)) {
      fmt::print(stderr, "sn-loadgen: epoll: {}\n", std::strerror(errno));
      return 1;
    }
  }
  fmt::print(stderr, "sn-loadgen: {} {}:{}, {} connections made, {} errors\n", mode_name(o.mode),
             o.server, o.port, result->connected, result->errors);
  print_result(o, *result);  // also when nothing connected: "ok":false for the parser
  for (int fd : idle)
    ::close(fd);
  if (result->connected == 0) {
    fmt::print(stderr, "sn-loadgen: could not connect to {}:{}\n", o.server, o.port);
    return 1;
  }
  return 0;
}
