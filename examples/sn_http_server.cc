// sn-http-server PORT DIR: serves the files under DIR over HTTP/1.1 (GET and
// HEAD, keep-alive, Content-Length), through a running engine (libshardnet).
// A request for a path outside DIR (by "..", or a symbolic link) is 404.
// Files are read in 64 KiB pieces as the connection takes them, so a slow
// client holds one piece, not the file.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <climits>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <unordered_map>

#include "lib/shardnet.h"

namespace {

volatile std::sig_atomic_t stop = 0;
constexpr size_t kMaxHead = 16384;
constexpr size_t kChunk = 65536;

struct Conn {
  std::string in;    // received, not yet parsed
  std::string head;  // the response head still to send
  int file = -1;     // the body still to send: [offset, end)
  off_t offset = 0, end = 0;
  bool close_after = false;  // Connection: close, or an error
  bool eof = false;          // the client sent FIN
  ~Conn() {
    if (file >= 0) ::close(file);
  }
};

std::string root;  // DIR, resolved

// The file for a request path, if it lies under root.
int open_under_root(const std::string& path, off_t* size) {
  char real[PATH_MAX];
  const std::string full = root + path;
  if (::realpath(full.c_str(), real) == nullptr) return -1;
  const std::string r(real);
  if (r != root && r.compare(0, root.size() + 1, root + "/") != 0) return -1;
  struct stat st {};
  if (::stat(real, &st) != 0 || !S_ISREG(st.st_mode)) return -1;
  *size = st.st_size;
  return ::open(real, O_RDONLY | O_CLOEXEC);
}

std::string status_head(const char* status, bool close) {
  return std::string("HTTP/1.1 ") + status + "\r\nContent-Length: 0\r\n" +
         (close ? "Connection: close\r\n" : "") + "\r\n";
}

// RFC 9112 §3 and §9.3: the request line, and whether to keep the
// connection. Sets up c's response; false if no whole head is there yet.
bool next_request(Conn& c) {
  const size_t end = c.in.find("\r\n\r\n");
  if (end == std::string::npos) {
    if (c.in.size() > kMaxHead) {
      c.head = status_head("431 Request Header Fields Too Large", true);
      c.close_after = true;
      return true;
    }
    return false;
  }
  const std::string head = c.in.substr(0, end);
  c.in.erase(0, end + 4);
  const size_t sp1 = head.find(' ');
  const size_t sp2 = head.find(' ', sp1 + 1);
  const size_t eol = head.find("\r\n");
  if (sp1 == std::string::npos || sp2 == std::string::npos || sp2 > eol) {
    c.head = status_head("400 Bad Request", true);
    c.close_after = true;
    return true;
  }
  const std::string method = head.substr(0, sp1);
  std::string path = head.substr(sp1 + 1, sp2 - sp1 - 1);
  const std::string version = head.substr(sp2 + 1, eol - sp2 - 1);
  std::string lower = head;
  for (char& ch : lower)
    ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  bool close = version == "HTTP/1.0" ? lower.find("\r\nconnection: keep-alive") == std::string::npos
                                     : lower.find("\r\nconnection: close") != std::string::npos;
  if (auto q = path.find('?'); q != std::string::npos) path.resize(q);
  if (path.empty() || path[0] != '/') {
    c.head = status_head("400 Bad Request", true);
    c.close_after = true;
    return true;
  }
  if (path.back() == '/') path += "index.html";
  c.close_after = close;
  if (method != "GET" && method != "HEAD") {
    c.head = status_head("405 Method Not Allowed", close);
    return true;
  }
  off_t size = 0;
  const int fd = open_under_root(path, &size);
  if (fd < 0) {
    c.head = status_head("404 Not Found", close);
    return true;
  }
  c.head = "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(size) +
           "\r\nContent-Type: application/octet-stream\r\n" +
           (close ? "Connection: close\r\n" : "") + "\r\n";
  if (method == "GET" && size > 0) {
    c.file = fd;
    c.offset = 0;
    c.end = size;
  } else {
    ::close(fd);
  }
  return true;
}

// The connection waits for `events`; it is not finished.
bool wait_for(sn_host* h, sn_socket s, uint32_t events) {
  sn_watch(h, s, events);
  return true;
}

// Moves the connection on as far as it can; false when it is finished.
bool pump(sn_host* h, sn_socket s, Conn& c) {
  char buf[kChunk];
  for (;;) {
    // Send what is owed.
    while (!c.head.empty()) {
      const ssize_t w = sn_send(h, s, c.head.data(), c.head.size());
      if (w == -EAGAIN) return wait_for(h, s, SN_WRITABLE);
      if (w < 0) return false;
      c.head.erase(0, static_cast<size_t>(w));
    }
    while (c.file >= 0 && c.offset < c.end) {
      const size_t want = static_cast<size_t>(std::min<off_t>(kChunk, c.end - c.offset));
      const ssize_t n = ::pread(c.file, buf, want, c.offset);
      if (n <= 0) return false;
      const ssize_t w = sn_send(h, s, buf, static_cast<size_t>(n));
      if (w == -EAGAIN) return wait_for(h, s, SN_WRITABLE);
      if (w < 0) return false;
      c.offset += w;
    }
    if (c.file >= 0) {
      ::close(c.file);
      c.file = -1;
    }
    if (c.close_after) return false;
    // The next request, if a whole one is there.
    if (next_request(c)) continue;
    if (c.eof) return false;
    const ssize_t r = sn_recv(h, s, buf, sizeof(buf));
    if (r == -EAGAIN) return wait_for(h, s, SN_READABLE);
    if (r < 0) return false;
    if (r == 0) {
      c.eof = true;
      continue;
    }
    c.in.append(buf, static_cast<size_t>(r));
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Serves files over HTTP through a shardnet engine (libshardnet)"};
  uint16_t port = 0;
  std::string dir, control;
  app.add_option("PORT", port, "TCP port to listen on")->required();
  app.add_option("DIR", dir, "The directory to serve")->required();
  app.add_option("--control", control, "The engine's control socket");
  CLI11_PARSE(app, argc, argv);
  char real[PATH_MAX];
  if (::realpath(dir.c_str(), real) == nullptr) {
    std::fprintf(stderr, "sn-http-server: %s: no such directory\n", dir.c_str());
    return 2;
  }
  root = real;

  char why[256];
  sn_host* h = sn_attach(control.empty() ? nullptr : control.c_str(), why, sizeof(why));
  if (h == nullptr) {
    std::fprintf(stderr, "sn-http-server: %s\n", why);
    return 1;
  }
  const int listener = sn_listen(h, port, 1024);
  if (listener < 0) {
    std::fprintf(stderr, "sn-http-server: listen on %u: %s\n", port, sn_strerror(listener));
    sn_detach(h);
    return 1;
  }
  sn_watch(h, listener, SN_READABLE);
  std::signal(SIGINT, [](int) { stop = 1; });
  std::signal(SIGTERM, [](int) { stop = 1; });
  std::printf("sn-http-server: listening on %u, serving %s\n", port, root.c_str());
  std::fflush(stdout);

  std::unordered_map<sn_socket, Conn> conns;
  sn_event events[64];
  while (!stop) {
    const int n = sn_wait(h, events, 64, 200);
    if (n < 0) break;
    for (int i = 0; i < n; ++i) {
      const sn_socket s = events[i].socket;
      if (s == listener) {
        if (events[i].events & SN_HUP) stop = 1;
        for (int c; (c = sn_accept(h, listener, nullptr, nullptr)) > 0;) {
          if (!pump(h, c, conns[c])) {
            sn_close(h, c);
            conns.erase(c);
          }
        }
        continue;
      }
      auto it = conns.find(s);
      if (it == conns.end()) continue;
      if (!pump(h, s, it->second)) {
        sn_close(h, s);
        conns.erase(it);
      }
    }
  }
  sn_detach(h);
  return 0;
}
