/* libshardnet: the C API an application ("host") uses to reach a running
 * shardnet engine's TCP/IP stacks through shared memory.
 *
 * An application attaches to the engine (sn_attach), gets sockets whose
 * calls go straight to the shard (core) that owns the connection, and waits
 * for them with sn_wait, an epoll-like, level-triggered readiness call that
 * also moves the shared-memory queues. Sockets are non-blocking unless made
 * blocking (sn_set_blocking); the other calls that wait are sn_attach,
 * sn_listen and sn_udp_bind (for every shard's answer) and sn_wait with a
 * timeout.
 *
 * Threads: an sn_host is single-threaded. Use one from one thread at a
 * time (or one sn_host per thread: attach as many times as needed). A call
 * that blocks holds its sn_host meanwhile, its other sockets included.
 *
 * Errors are negative errno values; sn_strerror says what they mean here.
 * When the engine goes away (or breaks the protocol), every socket reports
 * SN_ERROR | SN_HUP and calls return -EPIPE (-EPROTO for a broken protocol).
 *
 * Plain C (C99); C++ callers may prefer shardnet.hpp. */
#ifndef SHARDNET_H_
#define SHARDNET_H_

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sn_host sn_host;

/* A socket: > 0. The host number is in the high bits (host << 20 | index),
 * so sockets of two attachments never look alike. Like a file descriptor,
 * a closed socket's number is reused. */
typedef int32_t sn_socket;

/* Attaches to the engine whose control socket is at `control_path` (NULL:
 * the default, /run/shardnet/shardnet.sock for root, else
 * $XDG_RUNTIME_DIR/shardnet-shardnet.sock, else /tmp/shardnet-shardnet.sock).
 * Returns NULL on failure with the reason in `why` (if not NULL), a sentence
 * a person can act on, truncated to why_len bytes with its terminating NUL. */
sn_host* sn_attach(const char* control_path, char* why, size_t why_len);

/* Detaches: closes the control connection (the engine then closes every
 * socket of this host), unmaps the queues. Every socket and view is gone. */
void sn_detach(sn_host* host);

/* A TCP listener on `port`, registered on every shard. Waits (up to 5 s) for
 * every shard's answer: a socket, or -EADDRINUSE, -ETIMEDOUT, ... */
int sn_listen(sn_host* host, uint16_t port, int backlog);

/* The oldest connection the listener accepted: a new socket, with the peer's
 * IPv4 address and port (host byte order) if `addr`/`port` are not NULL.
 * -EAGAIN when there is none yet (a blocking listener waits for one). The
 * new socket is non-blocking, whatever the listener's mode. */
int sn_accept(sn_host* host, sn_socket listener, uint32_t* addr, uint16_t* port);

/* Starts a TCP connection to addr:port (host byte order). Returns the socket
 * at once; it reports SN_WRITABLE when connected, or SN_ERROR when the
 * connection failed (then sn_send and sn_recv return the reason). Once
 * made blocking, its sn_send and sn_recv wait for the connection first. */
int sn_connect(sn_host* host, uint32_t addr, uint16_t port);

/* A UDP socket bound to `port` on every shard; waits like sn_listen. */
int sn_udp_bind(sn_host* host, uint16_t port);

/* Queues bytes on a connected TCP socket: the bytes taken (> 0; maybe fewer
 * than `len`), or -EAGAIN when no shared frame is free (the engine returns
 * them as it sends: wait for SN_WRITABLE), -EPIPE after sn_shutdown or once
 * the connection is gone, the connection's error (-ECONNRESET, ...),
 * -ENOTCONN on a listener, -EDESTADDRREQ on a UDP socket.
 * Blocking: takes all `len` bytes, waiting for frames as needed, or returns
 * the error (-ETIMEDOUT for the timeout) that stopped it; stopped after
 * taking some bytes, it returns how many (the next call returns the error). */
ssize_t sn_send(sn_host* host, sn_socket s, const void* data, size_t len);

/* Copies received bytes: how many (> 0), 0 at end of stream, -EAGAIN when
 * none are there yet (blocking: waits for at least one byte, the end of the
 * stream or an error), or the connection's error. On a UDP socket: one
 * datagram (the rest of a longer one is dropped). */
ssize_t sn_recv(sn_host* host, sn_socket s, void* buf, size_t len);

/* One UDP datagram to addr:port (host byte order): `len` or -EAGAIN
 * (blocking: waits for a free frame), -EMSGSIZE (longer than a frame's
 * payload). On a TCP socket: sn_send. */
ssize_t sn_sendto(sn_host* host, sn_socket s, const void* data, size_t len, uint32_t addr,
                  uint16_t port);

/* sn_recv, and the sender's (UDP) or peer's (TCP) address and port. */
ssize_t sn_recvfrom(sn_host* host, sn_socket s, void* buf, size_t len, uint32_t* addr,
                    uint16_t* port);

/* Zero-copy receive: points `*data` at the oldest received bytes, inside the
 * shared frame that brought them, and returns how many there are (> 0), 0 at
 * end of stream, -EAGAIN or the error as sn_recv (and waits as it does).
 * The view stays valid until sn_recv_done, sn_recv, sn_recvfrom, sn_close or
 * sn_detach on the socket. Holding views holds the engine's frames: the
 * engine then has fewer to deliver with (TCP's window closes), so release
 * them soon. On a UDP socket the view is one datagram (which may be empty:
 * then 0). */
ssize_t sn_recv_view(sn_host* host, sn_socket s, const void** data);

/* Marks `consumed` bytes of the current view used (at most the view's
 * length); the frame goes back to the engine once all its bytes are used.
 * On a UDP socket the datagram is released whatever `consumed` is. */
void sn_recv_done(sn_host* host, sn_socket s, size_t consumed);

/* Sends FIN after the queued bytes; sn_send then returns -EPIPE. */
int sn_shutdown(sn_host* host, sn_socket s);

/* Closes the socket: the engine sends FIN after the queued bytes and
 * forgets it; unread data and views are dropped. Always 0 for a socket of
 * this host, else -EBADF. */
int sn_close(sn_host* host, sn_socket s);

enum {
  SN_NODELAY = 1,   /* TCP_NODELAY: no Nagle delay (value 0 or 1) */
  SN_KEEPALIVE = 2, /* SO_KEEPALIVE: probe an idle connection (0 or 1) */
};

/* Sets an option of a connected TCP socket (applied in order with its sends):
 * 0, -ENOPROTOOPT for an unknown option, -EOPNOTSUPP on a listener or UDP
 * socket, -ENOTCONN before the connection is up or after it ended. */
int sn_setsockopt(sn_host* host, sn_socket s, int option, int value);

/* Sets the socket's mode, as O_NONBLOCK does a file descriptor's: `blocking`
 * 0 (the default of every socket, accepted ones included) makes a call that
 * cannot go on now return -EAGAIN; otherwise it waits: sn_send until it has
 * taken all its bytes, sn_recv / sn_recvfrom / sn_recv_view for at least one
 * byte (a datagram), the end of the stream or an error, sn_accept for a
 * connection, sn_sendto for a free frame. It waits as sn_wait(-1) does:
 * asleep on an eventfd (no CPU used), moving the queues (events for other
 * sockets are kept for sn_wait). It returns -EPIPE (-EPROTO) if the engine
 * goes away (or breaks the protocol) meanwhile, -ETIMEDOUT once the socket's
 * timeout (sn_set_timeout) passes; a signal does not end it (use a
 * timeout). Nothing a call took is lost. Returns 0, or -EBADF. */
int sn_set_blocking(sn_host* host, sn_socket s, int blocking);

/* How long a call on the blocking socket waits in all, at most: timeout_ms
 * milliseconds (0: it looks once), or -1 (the default): until it can go on.
 * Then it returns -ETIMEDOUT (sn_send: the bytes taken so far, if any). No
 * effect on a non-blocking socket. Returns 0, -EBADF, or -EINVAL
 * (timeout_ms < -1). */
int sn_set_timeout(sn_host* host, sn_socket s, int timeout_ms);

enum {
  SN_READABLE = 1, /* data, end of stream, a connection to accept, a datagram */
  SN_WRITABLE = 2, /* sn_send would take bytes */
  SN_ERROR = 4,    /* the connection failed or broke: sn_recv / sn_send say why */
  SN_HUP = 8,      /* the connection is gone (or both directions are shut) */
};

struct sn_event {
  sn_socket socket;
  uint32_t events;
};

/* Sets the socket's interest: SN_READABLE | SN_WRITABLE (0: none, the socket
 * is no longer watched). Level-triggered, like epoll without EPOLLET:
 * sn_wait reports a watched socket for as long as it is ready. SN_ERROR and
 * SN_HUP are reported for every watched socket without being asked for. */
int sn_watch(sn_host* host, sn_socket s, uint32_t events);

/* Moves the shared-memory queues, then fills `out` with up to `max` watched
 * sockets that are ready; returns how many. timeout_ms 0: look and return;
 * -1: sleep (on an eventfd, using no CPU) until a socket is ready; else at
 * most that long. */
int sn_wait(sn_host* host, struct sn_event* out, int max, int timeout_ms);

/* A message for an error of this API (negative or positive errno value). */
const char* sn_strerror(int err);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* SHARDNET_H_ */
