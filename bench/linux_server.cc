// sn-linux-server: the Linux kernel baseline that `shardnet bench` compares the
// engine with. The classic one-listener-per-core epoll server: each thread has
// its own epoll instance and its own SO_REUSEPORT listener on every port, so
// the kernel spreads connections over the threads and no state is shared.
// Services as the engine's: echo (RFC 862, a fixed 16 KiB buffer per
// connection as the engine's tcp-echo, a partial write finished on EPOLLOUT),
// discard (RFC 863) and source (64 KiB of a fixed pattern written whenever the
// socket is writable). Prints "ready" once every listener is up; SIGINT or
// SIGTERM stops it. Nothing is allocated per request: a connection's object
// and buffer are allocated when it is accepted.
//
// Past the descriptor limit (the scale runs): --processes P forks P copies,
// each with its own threads, epoll instances and SO_REUSEPORT listeners on
// the --idle-ports (more echo ports, for the connections held open idle), so
// that each process holds 1/P of those; the first process alone also serves
// the echo, discard and source ports, so the measured connections are served
// exactly as with one process. The parent prints "ready" once every process
// is listening, passes SIGINT and SIGTERM on, and stops them all if one dies.
// Pinned by --cpus (or taskset) to the same CPU, they are still one core.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sched.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/core.h>
#include <CLI/CLI.hpp>
#include <array>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "fd_limit.h"

namespace {

enum class Service { kEcho, kDiscard, kSource };

struct Options {
  int threads = 1;
  std::vector<int> cpus;  // thread i runs on cpus[i % size]; empty: anywhere
  std::string addr = "0.0.0.0";
  uint16_t echo_port = 7, discard_port = 9, source_port = 19;
  std::vector<uint16_t> idle_ports;  // more echo ports, served by every process
  int processes = 1;
};

constexpr int kBacklog = 4096;
constexpr size_t kEchoBuffer = 16384;  // as the engine's tcp-echo (engine/services.cc)
constexpr size_t kChunk = 65536;       // discard's reads, source's writes
constexpr int kAcceptBatch = 64;       // accepts per listener event, then others get a turn
// Reads or writes per connection event: a full buffer means there may be
// more, a short one that the socket is drained (or full), which saves both
// the next epoll_wait and the EAGAIN call.
constexpr int kBurst = 16;
constexpr int kTickMs = 100;  // how often a thread looks at the stop flag

// A listener or a connection, as the epoll event's data.ptr names it.
struct Conn {
  int fd = -1;
  Service service = Service::kEcho;
  bool listener = false;
  // Echo only: what was read and not yet written back (buf[off, len)), and
  // whether the connection waits for EPOLLOUT (then it is not read).
  std::unique_ptr<std::byte[]> buf;
  uint32_t off = 0, len = 0;
  bool waiting = false;
};

// Makes a non-blocking SO_REUSEPORT listener on addr:port; -1 (and a message
// on stderr) on failure.
int make_listener(const in_addr& addr, uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  const int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  sa.sin_addr = addr;
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&sa), sizeof(sa)) != 0 ||
      ::listen(fd, kBacklog) != 0) {
    fmt::print(stderr, "sn-linux-server: listen on port {}: {}\n", port, std::strerror(errno));
    ::close(fd);
    return -1;
  }
  return fd;
}

// One thread's server: its epoll instance, its listeners and its connections
// (owned here, indexed by file descriptor).
class Worker {
 public:
  Worker() {
    for (size_t i = 0; i < pattern_.size(); ++i)
      pattern_[i] = static_cast<std::byte>(i);
  }
  ~Worker() {
    for (auto& c : conns_)
      if (c) ::close(c->fd);
    if (epoll_ >= 0) ::close(epoll_);
  }

  // Creates the epoll instance and a listener per service (`first`: the
  // first process's, which serves every port; else the idle ports only);
  // false on failure.
  bool listen(const in_addr& addr, const Options& o, bool first) {
    epoll_ = ::epoll_create1(EPOLL_CLOEXEC);
    if (epoll_ < 0) return false;
    std::vector<std::pair<Service, uint16_t>> ports;
    if (first)
      ports = {{Service::kEcho, o.echo_port},
               {Service::kDiscard, o.discard_port},
               {Service::kSource, o.source_port}};
    for (uint16_t p : o.idle_ports)
      ports.emplace_back(Service::kEcho, p);
    for (auto [service, port] : ports) {
      const int fd = make_listener(addr, port);
      if (fd < 0) return false;
      Conn& l = adopt(fd, service);
      l.listener = true;
      if (!watch(l, EPOLL_CTL_ADD, EPOLLIN)) return false;
    }
    return true;
  }

  // Serves until `stop` is set; pinned to `cpu` unless it is negative.
  void run(int cpu, const std::atomic<bool>& stop) {
    if (cpu >= 0) pin(cpu);
    std::array<epoll_event, 256> events;
    while (!stop.load(std::memory_order_relaxed)) {
      const int n = ::epoll_wait(epoll_, events.data(), events.size(), kTickMs);
      for (int i = 0; i < n; ++i) {
        Conn& c = *static_cast<Conn*>(events[i].data.ptr);
        if (c.listener) {
          accept_all(c);
        } else {
          serve(c, events[i].events);
        }
      }
    }
  }

 private:
  static void pin(int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (::pthread_setaffinity_np(::pthread_self(), sizeof(set), &set) != 0)
      fmt::print(stderr, "sn-linux-server: cannot pin a thread to CPU {}\n", cpu);
  }

  // Takes ownership of `fd` as a Conn for `service`.
  Conn& adopt(int fd, Service service) {
    if (static_cast<size_t>(fd) >= conns_.size()) conns_.resize(fd + 1024);
    conns_[fd] = std::make_unique<Conn>();
    Conn& c = *conns_[fd];
    c.fd = fd;
    c.service = service;
    return c;
  }

  bool watch(Conn& c, int op, uint32_t events) {
    epoll_event ev{};
    ev.events = events;
    ev.data.ptr = &c;
    return ::epoll_ctl(epoll_, op, c.fd, &ev) == 0;
  }

  void drop(Conn& c) {
    const int fd = c.fd;
    ::close(fd);  // leaves the epoll set with it
    conns_[fd].reset();
  }

  void accept_all(Conn& l) {
    for (int i = 0; i < kAcceptBatch; ++i) {
      const int fd = ::accept4(l.fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
          fmt::print(stderr, "sn-linux-server: accept: {}\n", std::strerror(errno));
        return;
      }
      const int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
      Conn& c = adopt(fd, l.service);
      uint32_t events = EPOLLIN;
      if (c.service == Service::kEcho) c.buf = std::make_unique<std::byte[]>(kEchoBuffer);
      if (c.service == Service::kSource) events |= EPOLLOUT;
      if (!watch(c, EPOLL_CTL_ADD, events)) drop(c);
    }
  }

  // One event on a connection; closes it on EOF or error.
  void serve(Conn& c, uint32_t events) {
    bool alive = true;
    switch (c.service) {
      case Service::kEcho:
        alive = c.waiting ? echo_flush(c) : echo_read(c);
        break;
      case Service::kDiscard:
        alive = read_and_drop(c);
        break;
      case Service::kSource:
        if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) alive = read_and_drop(c);
        if (alive && (events & EPOLLOUT)) alive = source_write(c);
        break;
    }
    if (!alive) drop(c);
  }

  // Reads and writes it back; what the socket does not take waits in the
  // connection's buffer, and reading stops until it has been written.
  bool echo_read(Conn& c) {
    for (int i = 0; i < kBurst; ++i) {
      const ssize_t n = ::read(c.fd, c.buf.get(), kEchoBuffer);
      if (n == 0) return false;
      if (n < 0) return errno == EAGAIN || errno == EINTR;
      c.off = 0;
      c.len = static_cast<uint32_t>(n);
      if (!echo_flush(c)) return false;
      if (c.waiting || static_cast<size_t>(n) < kEchoBuffer) break;
    }
    return true;
  }

  // Writes the buffer's rest; switches to EPOLLOUT while some is left and
  // back to EPOLLIN once it is empty.
  bool echo_flush(Conn& c) {
    const ssize_t w = ::send(c.fd, c.buf.get() + c.off, c.len - c.off, MSG_NOSIGNAL);
    if (w < 0 && errno != EAGAIN && errno != EINTR) return false;
    if (w > 0) c.off += static_cast<uint32_t>(w);
    const bool want_out = c.off < c.len;
    if (!want_out) c.off = c.len = 0;
    if (want_out == c.waiting) return true;
    c.waiting = want_out;
    return watch(c, EPOLL_CTL_MOD, want_out ? EPOLLOUT : EPOLLIN);
  }

  bool read_and_drop(Conn& c) {
    for (int i = 0; i < kBurst; ++i) {
      const ssize_t n = ::read(c.fd, scratch_.data(), scratch_.size());
      if (n == 0) return false;
      if (n < 0) return errno == EAGAIN || errno == EINTR;
      if (static_cast<size_t>(n) < scratch_.size()) break;
    }
    return true;
  }

  bool source_write(Conn& c) {
    for (int i = 0; i < kBurst; ++i) {
      const ssize_t w = ::send(c.fd, pattern_.data(), pattern_.size(), MSG_NOSIGNAL);
      if (w < 0) return errno == EAGAIN || errno == EINTR;
      if (static_cast<size_t>(w) < pattern_.size()) break;
    }
    return true;
  }

  int epoll_ = -1;
  std::vector<std::unique_ptr<Conn>> conns_;
  std::array<std::byte, kChunk> scratch_;  // discard's reads
  std::array<std::byte, kChunk> pattern_;  // source's writes: byte i is i mod 256
};

// One process's server: o.threads workers until SIGINT or SIGTERM (blocked by
// the caller, taken here by sigwait). `ready` is called once every listener
// is up. Returns the exit code.
int serve(const in_addr& addr, const Options& o, bool first, const std::function<void()>& ready) {
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  std::vector<std::unique_ptr<Worker>> workers;
  for (int i = 0; i < o.threads; ++i) {
    workers.push_back(std::make_unique<Worker>());
    if (!workers.back()->listen(addr, o, first)) return 1;
  }
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  for (int i = 0; i < o.threads; ++i) {
    const int cpu = o.cpus.empty() ? -1 : o.cpus[i % o.cpus.size()];
    threads.emplace_back([&, i, cpu] { workers[i]->run(cpu, stop); });
  }
  ready();

  int sig = 0;
  ::sigwait(&stop_signals, &sig);
  stop.store(true, std::memory_order_relaxed);
  for (auto& t : threads)
    t.join();
  return 0;
}

// --processes P > 1: forks P servers and waits, as described at the top. The
// children tell they are listening by a byte each on a pipe; its end of file
// before P bytes means one of them failed. SIGCHLD is blocked by the caller
// too, so that a child's death ends the sigwait.
int serve_processes(const in_addr& addr, const Options& o) {
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) {
    fmt::print(stderr, "sn-linux-server: pipe: {}\n", std::strerror(errno));
    return 1;
  }
  const pid_t parent = ::getpid();
  std::vector<pid_t> children;
  for (int i = 0; i < o.processes; ++i) {
    const pid_t pid = ::fork();
    if (pid < 0) {
      fmt::print(stderr, "sn-linux-server: fork: {}\n", std::strerror(errno));
      break;
    }
    if (pid == 0) {
      ::close(pipe_fds[0]);
      ::prctl(PR_SET_PDEATHSIG, SIGTERM);  // the parent killed: stop too
      if (::getppid() != parent) ::_exit(1);
      const int rc = serve(addr, o, i == 0, [&] {
        const char byte = 'r';
        [[maybe_unused]] const ssize_t n = ::write(pipe_fds[1], &byte, 1);
        ::close(pipe_fds[1]);
      });
      ::_exit(rc);
    }
    children.push_back(pid);
  }
  ::close(pipe_fds[1]);
  size_t ready = 0;
  char buf[64];
  while (ready < children.size()) {
    const ssize_t n = ::read(pipe_fds[0], buf, sizeof buf);
    if (n > 0) {
      ready += static_cast<size_t>(n);
    } else if (n == 0 || errno != EINTR) {
      break;
    }
  }
  ::close(pipe_fds[0]);

  int sig = 0;
  if (ready == static_cast<size_t>(o.processes)) {
    fmt::print("ready\n");
    std::fflush(stdout);
    sigset_t wait_for;
    sigemptyset(&wait_for);
    sigaddset(&wait_for, SIGINT);
    sigaddset(&wait_for, SIGTERM);
    sigaddset(&wait_for, SIGCHLD);
    ::sigwait(&wait_for, &sig);
  } else {
    fmt::print(stderr, "sn-linux-server: {} of {} processes started\n", ready, o.processes);
  }
  for (pid_t pid : children)
    ::kill(pid, SIGTERM);
  bool all_ok = sig == SIGINT || sig == SIGTERM;
  for (pid_t pid : children) {
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) all_ok = false;
  }
  return all_ok ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"sn-linux-server: the Linux kernel baseline (echo, discard, source) for bench"};
  Options o;
  app.add_option("--threads", o.threads, "Threads, each with its own epoll and listeners")
      ->check(CLI::Range(1, 1024));
  app.add_option("--cpus", o.cpus, "CPUs to pin the threads to, e.g. 0,2 (thread i: i mod n)")
      ->delimiter(',');
  app.add_option("--addr", o.addr, "Address to listen on");
  app.add_option("--echo-port", o.echo_port, "Echo port");
  app.add_option("--discard-port", o.discard_port, "Discard port");
  app.add_option("--source-port", o.source_port, "Source port");
  app.add_option("--idle-ports", o.idle_ports,
                 "More echo ports, served by every process (scale runs: the idle connections)")
      ->delimiter(',');
  app.add_option("--processes", o.processes,
                 "Processes, each with --threads threads and its own listeners on the "
                 "--idle-ports; the first alone serves the other ports (past the descriptor limit)")
      ->check(CLI::Range(1, 256));
  CLI11_PARSE(app, argc, argv);

  in_addr addr{};
  if (::inet_pton(AF_INET, o.addr.c_str(), &addr) != 1) {
    fmt::print(stderr, "sn-linux-server: --addr '{}' is not an IPv4 address\n", o.addr);
    return 1;
  }
  sn::bench::raise_fd_limit();
  // SIGINT and SIGTERM are taken by sigwait (blocked in every thread and
  // child process, which inherit the mask; SIGCHLD too, for the parent of
  // several); a write to a reset peer is an error, not a signal.
  sigset_t blocked;
  sigemptyset(&blocked);
  sigaddset(&blocked, SIGINT);
  sigaddset(&blocked, SIGTERM);
  sigaddset(&blocked, SIGCHLD);
  ::pthread_sigmask(SIG_BLOCK, &blocked, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  if (o.processes > 1) return serve_processes(addr, o);
  return serve(addr, o, true, [] {
    fmt::print("ready\n");
    std::fflush(stdout);
  });
}
