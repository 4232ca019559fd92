// sn-echo-server PORT: echoes every TCP connection to PORT, through a running
// engine (libshardnet). Received bytes are echoed from the shared frame that
// brought them (a zero-copy view), and a connection is read only while what
// it sent can be echoed, so a slow reader slows its own writer, no more.
#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdio>
#include <string>
#include <unordered_map>

#include "lib/shardnet.h"

namespace {

volatile std::sig_atomic_t stop = 0;

struct Conn {
  bool eof = false;
};

void close_conn(sn_host* h, std::unordered_map<sn_socket, Conn>& conns, sn_socket s) {
  sn_close(h, s);
  conns.erase(s);
}

// Echoes what is readable until the socket cannot take more; false when the
// connection is finished.
bool pump(sn_host* h, sn_socket s, Conn& c) {
  for (;;) {
    const void* data;
    const ssize_t n = sn_recv_view(h, s, &data);
    if (n == -EAGAIN) {
      sn_watch(h, s, SN_READABLE);
      return true;
    }
    if (n == 0) {
      c.eof = true;
      return false;
    }
    if (n < 0) return false;
    const ssize_t w = sn_send(h, s, data, static_cast<size_t>(n));
    if (w == -EAGAIN) {
      sn_watch(h, s, SN_WRITABLE);  // no frame free: wait, holding the view
      return true;
    }
    if (w < 0) return false;
    sn_recv_done(h, s, static_cast<size_t>(w));
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Echoes TCP connections through a shardnet engine (libshardnet)"};
  uint16_t port = 0;
  std::string control;
  app.add_option("PORT", port, "TCP port to listen on")->required();
  app.add_option("--control", control, "The engine's control socket");
  CLI11_PARSE(app, argc, argv);

  char why[256];
  sn_host* h = sn_attach(control.empty() ? nullptr : control.c_str(), why, sizeof(why));
  if (h == nullptr) {
    std::fprintf(stderr, "sn-echo-server: %s\n", why);
    return 1;
  }
  const int listener = sn_listen(h, port, 1024);
  if (listener < 0) {
    std::fprintf(stderr, "sn-echo-server: listen on %u: %s\n", port, sn_strerror(listener));
    sn_detach(h);
    return 1;
  }
  sn_watch(h, listener, SN_READABLE);
  std::signal(SIGINT, [](int) { stop = 1; });
  std::signal(SIGTERM, [](int) { stop = 1; });
  std::printf("sn-echo-server: listening on %u\n", port);
  std::fflush(stdout);

  std::unordered_map<sn_socket, Conn> conns;
  sn_event events[64];
  while (!stop) {
    const int n = sn_wait(h, events, 64, 200);
    if (n < 0) {
      std::fprintf(stderr, "sn-echo-server: %s\n", sn_strerror(n));
      break;
    }
    for (int i = 0; i < n; ++i) {
      const sn_socket s = events[i].socket;
      if (s == listener) {
        if (events[i].events & SN_HUP) {
          std::fprintf(stderr, "sn-echo-server: the engine went away\n");
          stop = 1;
          break;
        }
        for (int c; (c = sn_accept(h, listener, nullptr, nullptr)) > 0;) {
          conns[c] = Conn{};
          sn_watch(h, c, SN_READABLE);
        }
        continue;
      }
      auto it = conns.find(s);
      if (it == conns.end()) continue;
      if (!pump(h, s, it->second)) close_conn(h, conns, s);
    }
  }
  sn_detach(h);
  return 0;
}
