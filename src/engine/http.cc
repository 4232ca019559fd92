// The static file server.
#include "engine/http.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <climits>
#include <cstdlib>
#include <unordered_map>

namespace sn {

namespace {

constexpr size_t kMaxHead = 8192;    // a longer request head gets 431
constexpr size_t kMaxTarget = 2048;  // a longer target gets 414

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  return true;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  return s;
}

int hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

Error status(const char* code) {
  return Error{Errc::kInvalidArgument, code};
}

}  // namespace

// RFC 9112 §3 (request line) and §5 (fields).
Result<std::optional<HttpRequest>> parse_http_request(std::string_view buf) {
  size_t end = buf.find("\r\n\r\n");
  if (end == std::string_view::npos) {
    if (buf.size() > kMaxHead) return status("431");
    return std::optional<HttpRequest>{};
  }
  if (end + 4 > kMaxHead) return status("431");
  HttpRequest req;
  req.head_size = end + 4;
  std::string_view head = buf.substr(0, end);
  size_t eol = head.find("\r\n");
  std::string_view line = head.substr(0, eol);
  size_t sp1 = line.find(' ');
  size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos)
    return status("400");
  req.method = std::string(line.substr(0, sp1));
  std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  std::string_view version = line.substr(sp2 + 1);
  if (req.method.empty() || target.empty() || target[0] != '/') return status("400");
  if (target.size() > kMaxTarget) return status("414");
  if (version == "HTTP/1.0")
    req.keep_alive = false;
  else if (version != "HTTP/1.1")
    return version.substr(0, 5) == "HTTP/" ? status("505") : status("400");
  if (size_t q = target.find_first_of("?#"); q != std::string_view::npos)
    target = target.substr(0, q);
  for (size_t i = 0; i < target.size(); ++i) {
    char c = target[i];
    if (c == '%') {
      if (i + 2 >= target.size()) return status("400");
      int h = hex(target[i + 1]), l = hex(target[i + 2]);
      if (h < 0 || l < 0) return status("400");
      c = static_cast<char>(h * 16 + l);
      i += 2;
    }
    if (c == '\0') return status("400");
    req.path.push_back(c);
  }
  bool host = false;
  while (eol != std::string_view::npos) {
    head.remove_prefix(eol + 2);
    eol = head.find("\r\n");
    std::string_view field = head.substr(0, eol);
    size_t colon = field.find(':');
    if (colon == std::string_view::npos || colon == 0 || field[colon - 1] == ' ')
      return status("400");  // §5.1: no space before the colon
    std::string_view name = field.substr(0, colon), value = trim(field.substr(colon + 1));
    if (iequals(name, "host")) host = true;
    if (iequals(name, "connection")) {
      if (iequals(value, "close")) req.keep_alive = false;
      if (iequals(value, "keep-alive")) req.keep_alive = true;
    }
    if (iequals(name, "content-length") && value != "0") return status("400");  // no bodies here
    if (iequals(name, "transfer-encoding")) return status("400");
  }
  if (version == "HTTP/1.1" && !host) return status("400");  // RFC 9112 §3.2
  return std::optional<HttpRequest>{std::move(req)};
}

namespace {

const char* reason(int code) {
  switch (code) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 414:
      return "URI Too Long";
    case 431:
      return "Request Header Fields Too Large";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return "Error";
  }
}

const char* content_type(std::string_view path) {
  auto ends = [&](std::string_view s) {
    return path.size() >= s.size() && path.substr(path.size() - s.size()) == s;
  };
  if (ends(".html") || ends(".htm")) return "text/html";
  if (ends(".txt")) return "text/plain";
  if (ends(".css")) return "text/css";
  if (ends(".js")) return "text/javascript";
  if (ends(".json")) return "application/json";
  if (ends(".png")) return "image/png";
  return "application/octet-stream";
}

class HttpServer final : public Service {
 public:
  explicit HttpServer(std::string root) : root_(std::move(root)) {}
  void accept(TcpSocket& s) {
    auto c = std::make_unique<Conn>();
    c->server = this;
    Conn* raw = c.get();
    conns_.emplace(&s, std::move(c));
    s.set_on_event([](void* a, TcpSocket& s) { static_cast<Conn*>(a)->server->pump(s); }, raw);
    pump(s);
  }

 private:
  struct Conn {
    HttpServer* server = nullptr;
    std::string in;   // bytes of requests not yet answered
    std::string out;  // response head (or error page) not yet written
    size_t out_off = 0;
    int fd = -1;  // the file being sent, if any
    uint64_t file_off = 0, file_left = 0;
    bool close_after = false;
    ~Conn() {
      if (fd >= 0) ::close(fd);
    }
  };

  // Resolves `path` under the root; empty if it is not a regular file there.
  std::string resolve(const std::string& path) const {
    std::string full = root_ + path;
    char real[PATH_MAX];
    if (!::realpath(full.c_str(), real)) return {};
    std::string r(real);
    struct stat st;
    if (::stat(r.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
      r += "/index.html";
      if (::stat(r.c_str(), &st) != 0) return {};
    }
    if (r.compare(0, root_.size(), root_) != 0 ||
        (r.size() > root_.size() && r[root_.size()] != '/'))
      return {};  // outside the root
    if (::stat(r.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return {};
    return r;
  }

  void respond_error(Conn& c, int code) {
    std::string body = fmt::format("{} {}\n", code, reason(code));
    c.out += fmt::format(
        "HTTP/1.1 {} {}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n{}\r\n{}", code,
        reason(code), body.size(), code == 405 ? "Allow: GET, HEAD\r\n" : "", body);
  }

  // Turns the next complete request in c.in into a response; false if there is none.
  bool next_request(Conn& c) {
    auto parsed = parse_http_request(c.in);
    if (!parsed) {
      respond_error(c, std::atoi(parsed.error().message));
      c.close_after = true;  // the stream can no longer be trusted
      c.in.clear();
      return true;
    }
    if (!parsed->has_value()) return false;
    HttpRequest req = std::move(**parsed);
    c.in.erase(0, req.head_size);
    c.close_after = !req.keep_alive;
    const bool head = req.method == "HEAD";
    if (req.method != "GET" && !head) {
      respond_error(c, 405);
      return true;
    }
    std::string file = resolve(req.path);
    int fd = file.empty() ? -1 : ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || ::fstat(fd, &st) != 0) {
      if (fd >= 0) ::close(fd);
      respond_error(c, 404);
      return true;
    }
    c.out +=
        fmt::format("HTTP/1.1 200 OK\r\nContent-Type: {}\r\nContent-Length: {}\r\n{}\r\n",
                    content_type(file), st.st_size, c.close_after ? "Connection: close\r\n" : "");
    if (head || st.st_size == 0) {
      ::close(fd);
    } else {
      c.fd = fd;
      c.file_off = 0;
      c.file_left = static_cast<uint64_t>(st.st_size);
    }
    return true;
  }

  void pump(TcpSocket& s) {
    auto it = conns_.find(&s);
    if (it == conns_.end()) return;
    Conn& c = *it->second;
    std::array<std::byte, 16384> buf;
    for (;;) {
      // Read what arrived (bounded: a head never grows past kMaxHead + a read).
      while (c.in.size() <= kMaxHead) {
        uint32_t n = s.read(buf);
        if (n == 0) break;
        c.in.append(reinterpret_cast<const char*>(buf.data()), n);
      }
      // Write what is pending: the head, then the file.
      if (c.out_off < c.out.size()) {
        c.out_off += s.write(std::as_bytes(std::span(c.out).subspan(c.out_off)));
        if (c.out_off < c.out.size()) break;
      }
      c.out.clear();
      c.out_off = 0;
      if (c.fd >= 0) {
        bool blocked = false;
        while (c.file_left > 0) {
          size_t want = std::min<uint64_t>(buf.size(), c.file_left);
          ssize_t n = ::pread(c.fd, buf.data(), want, static_cast<off_t>(c.file_off));
          if (n <= 0) {  // the file shrank or failed under us: end the connection
            c.file_left = 0;
            c.close_after = true;
            break;
          }
          uint32_t w = s.write(std::span<const std::byte>(buf.data(), static_cast<size_t>(n)));
          c.file_off += w;
          c.file_left -= w;
          if (w < static_cast<uint32_t>(n)) {
            blocked = true;
            break;
          }
        }
        if (blocked) break;
        ::close(c.fd);
        c.fd = -1;
      }
      if (c.close_after || s.state() == TcpState::kClosed) {
        s.close();
        conns_.erase(it);
        return;
      }
      if (!next_request(c)) break;
    }
    if (s.state() == TcpState::kClosed || (s.eof() && c.in.empty() && c.out.empty() && c.fd < 0)) {
      s.close();
      conns_.erase(it);
    }
  }

  std::string root_;
  std::unordered_map<TcpSocket*, std::unique_ptr<Conn>> conns_;
};

}  // namespace

Result<std::unique_ptr<Service>> start_http_service(Stack& stack, const ServiceSpec& spec) {
  char real[PATH_MAX];
  struct stat st;
  if (spec.arg.empty() || !::realpath(spec.arg.c_str(), real) || ::stat(real, &st) != 0 ||
      !S_ISDIR(st.st_mode))
    return Error{Errc::kNotFound, "http:PORT:DIR needs an existing directory"};
  auto svc = std::make_unique<HttpServer>(std::string(real));
  auto l = stack.tcp().listen(
      spec.port, 128, [](void* a, TcpSocket& s) { static_cast<HttpServer*>(a)->accept(s); },
      svc.get());
  if (!l) return l.error();
  return std::unique_ptr<Service>(std::move(svc));
}

}  // namespace sn
