// sn-client ADDR PORT: connects through a running engine (libshardnet) to an
// echo server at ADDR:PORT, sends --bytes of a known pattern, reads the echo
// back and checks it byte for byte. Exit 0 when everything came back.
#include <arpa/inet.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "lib/shardnet.h"

int main(int argc, char** argv) {
  CLI::App app{"Sends a pattern to an echo server through a shardnet engine and checks it"};
  std::string addr_text;
  uint16_t port = 0;
  size_t bytes = 1 << 20;
  std::string control;
  double timeout_s = 60;
  app.add_option("ADDR", addr_text, "The echo server's IPv4 address")->required();
  app.add_option("PORT", port, "Its TCP port")->required();
  app.add_option("--bytes", bytes, "How much to send")->default_val(bytes);
  app.add_option("--control", control, "The engine's control socket");
  app.add_option("--timeout", timeout_s, "Seconds before giving up")->default_val(timeout_s);
  CLI11_PARSE(app, argc, argv);
  in_addr a{};
  if (inet_pton(AF_INET, addr_text.c_str(), &a) != 1) {
    std::fprintf(stderr, "sn-client: %s is not an IPv4 address\n", addr_text.c_str());
    return 2;
  }

  char why[256];
  sn_host* h = sn_attach(control.empty() ? nullptr : control.c_str(), why, sizeof(why));
  if (h == nullptr) {
    std::fprintf(stderr, "sn-client: %s\n", why);
    return 1;
  }
  std::vector<unsigned char> out(bytes), in;
  uint32_t x = 12345;
  for (auto& b : out) {
    x = x * 1103515245 + 12345;
    b = static_cast<unsigned char>(x >> 16);
  }
  in.reserve(bytes);
  const int s = sn_connect(h, ntohl(a.s_addr), port);
  if (s < 0) {
    std::fprintf(stderr, "sn-client: connect: %s\n", sn_strerror(s));
    sn_detach(h);
    return 1;
  }
  sn_watch(h, s, SN_READABLE | SN_WRITABLE);
  size_t sent = 0;
  bool shut = false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  int rc = 1;
  sn_event ev[4];
  while (std::chrono::steady_clock::now() < deadline) {
    if (sn_wait(h, ev, 4, 100) < 0) break;
    while (sent < out.size()) {
      const ssize_t w = sn_send(h, s, out.data() + sent, out.size() - sent);
      if (w <= 0) break;
      sent += static_cast<size_t>(w);
    }
    if (sent == out.size() && !shut) {
      sn_shutdown(h, s);
      shut = true;
      sn_watch(h, s, SN_READABLE);
    }
    unsigned char buf[65536];
    ssize_t r;
    while ((r = sn_recv(h, s, buf, sizeof(buf))) > 0)
      in.insert(in.end(), buf, buf + r);
    if (r == 0 || (r < 0 && r != -EAGAIN)) {
      if (r < 0) std::fprintf(stderr, "sn-client: %s\n", sn_strerror(static_cast<int>(r)));
      break;
    }
  }
  if (in == out) {
    std::printf("sn-client: %zu bytes sent and echoed back byte-exact\n", bytes);
    rc = 0;
  } else {
    std::fprintf(stderr, "sn-client: sent %zu bytes, got %zu back%s\n", sent, in.size(),
                 in.size() == out.size() ? " (different)" : "");
  }
  sn_close(h, s);
  sn_detach(h);
  return rc;
}
