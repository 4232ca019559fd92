// The C API (shardnet.h): a thin wrapper over sn::Client.
#include "lib/shardnet.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <new>
#include <string>

#include "lib/client.h"

using sn::Client;

static_assert(sizeof(sn_event) == 8);

extern "C" {

sn_host* sn_attach(const char* control_path, char* why, size_t why_len) {
  std::string reason;
  auto c = Client::attach(control_path != nullptr ? control_path : "", &reason);
  if (!c) {
    if (why != nullptr && why_len > 0) std::snprintf(why, why_len, "%s", reason.c_str());
    return nullptr;
  }
  return c->release()->as_c();
}

void sn_detach(sn_host* host) {
  delete Client::from_c(host);
}

int sn_listen(sn_host* host, uint16_t port, int backlog) {
  return Client::from_c(host)->listen(port, backlog);
}

int sn_accept(sn_host* host, sn_socket listener, uint32_t* addr, uint16_t* port) {
  return Client::from_c(host)->accept(listener, addr, port);
}

int sn_connect(sn_host* host, uint32_t addr, uint16_t port) {
  return Client::from_c(host)->connect(addr, port);
}

int sn_udp_bind(sn_host* host, uint16_t port) {
  return Client::from_c(host)->udp_bind(port);
}

ssize_t sn_send(sn_host* host, sn_socket s, const void* data, size_t len) {
  return Client::from_c(host)->send(s, data, len);
}

ssize_t sn_recv(sn_host* host, sn_socket s, void* buf, size_t len) {
  return Client::from_c(host)->recv(s, buf, len);
}

ssize_t sn_sendto(sn_host* host, sn_socket s, const void* data, size_t len, uint32_t addr,
                  uint16_t port) {
  return Client::from_c(host)->sendto(s, data, len, addr, port);
}

ssize_t sn_recvfrom(sn_host* host, sn_socket s, void* buf, size_t len, uint32_t* addr,
                    uint16_t* port) {
  return Client::from_c(host)->recvfrom(s, buf, len, addr, port);
}

ssize_t sn_recv_view(sn_host* host, sn_socket s, const void** data) {
  return Client::from_c(host)->recv_view(s, data);
}

void sn_recv_done(sn_host* host, sn_socket s, size_t consumed) {
  Client::from_c(host)->recv_done(s, consumed);
}

int sn_shutdown(sn_host* host, sn_socket s) {
  return Client::from_c(host)->shutdown(s);
}

int sn_close(sn_host* host, sn_socket s) {
  return Client::from_c(host)->close(s);
}

int sn_setsockopt(sn_host* host, sn_socket s, int option, int value) {
  return Client::from_c(host)->setsockopt(s, option, value);
}

int sn_set_blocking(sn_host* host, sn_socket s, int blocking) {
  return Client::from_c(host)->set_blocking(s, blocking != 0);
}

int sn_set_timeout(sn_host* host, sn_socket s, int timeout_ms) {
  return Client::from_c(host)->set_timeout(s, timeout_ms);
}

int sn_watch(sn_host* host, sn_socket s, uint32_t events) {
  return Client::from_c(host)->watch(s, events);
}

int sn_wait(sn_host* host, struct sn_event* out, int max, int timeout_ms) {
  return Client::from_c(host)->wait(out, max, timeout_ms);
}

const char* sn_strerror(int err) {
  if (err < 0) err = -err;
  switch (err) {
    case 0:
      return "success";
    case EAGAIN:
      return "not now: no data yet, or no free shared frame to send with; wait for the socket "
             "with sn_wait, or make it blocking (sn_set_blocking)";
    case EPIPE:
      return "the connection is shut down, or the engine went away";
    case EPROTO:
      return "the engine broke the shared-memory protocol; this attachment is over";
    case EBADF:
      return "not an open socket of this attachment";
    case ETIMEDOUT:
      return "no answer in time (from the peer, or from every shard of the engine), or the "
             "socket's timeout (sn_set_timeout) passed";
    case ENOPROTOOPT:
      return "this option is not supported by the engine yet";
    case EMSGSIZE:
      return "the datagram is longer than a shared frame holds";
    case EMFILE:
      return "too many sockets in this attachment (about a million)";
    default:
      break;
  }
  const char* text = strerrordesc_np(err);
  return text != nullptr ? text : "unknown error";
}

}  // extern "C"
