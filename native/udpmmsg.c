// Batched UDP I/O for the DNS server (N-API, no dependencies). dgram costs a libuv callback, an
// rinfo object, a Buffer and a SendWrap per datagram; here one wake-up of a libuv poll handle reads
// up to RING datagrams with one recvmmsg into a preallocated ring, calls JavaScript once for the
// whole batch, and sends the replies it left in the reply ring with one sendmmsg. Only bytes and
// addresses move here: parsing, lookups and building answers stay in TypeScript.
//
// JavaScript sees (per socket) four shared views: `in` (RING slots of SLOT bytes, the datagrams),
// `inLen` (Int32 per slot: length, or -1 when the datagram did not fit the slot), `out` (RING slots
// of SLOT bytes, replies) and `outLen` (Int32 per slot: reply length, 0 = no reply). The batch
// callback gets the number of datagrams; replies longer than a slot, and replies that come later
// (forwarded queries), go through sendTo with an address taken by peer().
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <node_api.h>
#include "napi_util.h"
#include <uv.h>

#define RING 64
#define SLOT 4096
// Batches per wake-up before yielding to the event loop (timers, TCP, IPC must still run).
#define MAX_BATCHES 8

typedef struct {
  uv_poll_t poll;
  napi_env env;
  napi_ref cb;
  napi_ref self;
  napi_async_context actx;
  // The rings are JavaScript ArrayBuffers held by these references, so a view JavaScript keeps can
  // never point at freed memory.
  napi_ref bufs[4];
  int fd;
  bool closing;
  uint8_t *in;
  uint8_t *out;
  int32_t *inLen;
  int32_t *outLen;
  struct sockaddr_storage addr[RING];
  struct mmsghdr rmsg[RING];
  struct iovec riov[RING];
  struct mmsghdr smsg[RING];
  struct iovec siov[RING];
  // Counters for tests and benchmarks: wake-ups, batches read, datagrams read, replies sent,
  // replies the kernel refused (EAGAIN and the like; UDP may drop).
  double stats[5];
} Sock;

// The `want` arguments of a call whose first one is an open socket; NULL (with an exception) otherwise.
static Sock *sock_args(napi_env env, napi_callback_info info, size_t want, napi_value *argv) {
  size_t argc = want;
  Sock *s = NULL;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < want ||
      napi_unwrap(env, argv[0], (void **)&s) != napi_ok || !s) {
    napi_throw_type_error(env, NULL, "expected an open udpmmsg socket and its arguments");
    return NULL;
  }
  return s;
}

// Sends the replies JavaScript left in outLen (slot i goes to the sender of datagram i).
static void flush(Sock *s, int n) {
  int m = 0;
  for (int i = 0; i < n; i++) {
    int32_t len = s->outLen[i];
    if (len <= 0 || len > SLOT) continue;
    s->siov[m].iov_base = s->out + (size_t)i * SLOT;
    s->siov[m].iov_len = (size_t)len;
    s->smsg[m].msg_hdr.msg_name = &s->addr[i];
    s->smsg[m].msg_hdr.msg_namelen = s->rmsg[i].msg_hdr.msg_namelen;
    s->smsg[m].msg_hdr.msg_iov = &s->siov[m];
    s->smsg[m].msg_hdr.msg_iovlen = 1;
    s->smsg[m].msg_hdr.msg_control = NULL;
    s->smsg[m].msg_hdr.msg_controllen = 0;
    s->smsg[m].msg_hdr.msg_flags = 0;
    m++;
  }
  int done = 0;
  while (done < m) {
    int r = sendmmsg(s->fd, s->smsg + done, (unsigned)(m - done), MSG_DONTWAIT);
    if (r < 0) {
      if (errno == EINTR) continue;
      // A full send buffer or an unreachable peer: this reply is lost, as a UDP datagram may be.
      s->stats[4]++;
      done++;
      continue;
    }
    s->stats[3] += r;
    done += r;
  }
}

static void on_readable(uv_poll_t *h, int status, int events) {
  Sock *s = (Sock *)h->data;
  (void)events;
  if (s->closing || status < 0) return;
  napi_env env = s->env;
  s->stats[0]++;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value cb, recv;
  napi_get_reference_value(env, s->cb, &cb);
  napi_get_reference_value(env, s->self, &recv);
  for (int b = 0; b < MAX_BATCHES && !s->closing; b++) {
    for (int i = 0; i < RING; i++) {
      s->rmsg[i].msg_hdr.msg_namelen = sizeof s->addr[i];
      s->rmsg[i].msg_hdr.msg_flags = 0;
    }
    int n = recvmmsg(s->fd, s->rmsg, RING, MSG_DONTWAIT, NULL);
    if (n < 0 && errno == EINTR) { b--; continue; }
    if (n <= 0) break;
    s->stats[1]++;
    s->stats[2] += n;
    for (int i = 0; i < n; i++) {
      s->inLen[i] = (s->rmsg[i].msg_hdr.msg_flags & MSG_TRUNC) ? -1 : (int32_t)s->rmsg[i].msg_len;
      s->outLen[i] = 0;
    }
    napi_value argv[1], result;
    napi_create_int32(env, n, &argv[0]);
    // make_callback runs the microtask queue afterwards, as for any I/O callback.
    napi_status st = napi_make_callback(env, s->actx, recv, cb, 1, argv, &result);
    if (st == napi_pending_exception) {
      napi_value err;
      napi_get_and_clear_last_exception(env, &err);
      napi_fatal_exception(env, err);
      break;
    }
    if (s->closing) break;
    flush(s, n);
    if (n < RING) break;
  }
  napi_close_handle_scope(env, scope);
}

static void on_closed(uv_handle_t *h) {
  Sock *s = (Sock *)h->data;
  if (s->fd >= 0) close(s->fd);
  for (int i = 0; i < 4; i++) if (s->bufs[i]) napi_delete_reference(s->env, s->bufs[i]);
  free(s);
}

static void finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  Sock *s = (Sock *)data;
  // close() releases everything. The batch callback's reference keeps the wrapper alive while the
  // socket is open, so this runs only for a socket never closed when the environment goes away.
  if (!s->closing) {
    s->closing = true;
    uv_poll_stop(&s->poll);
    uv_close((uv_handle_t *)&s->poll, on_closed);
  }
}

static bool parse_addr(const char *host, int port, struct sockaddr_storage *ss, socklen_t *len) {
  memset(ss, 0, sizeof *ss);
  struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
  struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
  if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
    a4->sin_family = AF_INET;
    a4->sin_port = htons((uint16_t)port);
    *len = sizeof *a4;
    return true;
  }
  if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
    a6->sin6_family = AF_INET6;
    a6->sin6_port = htons((uint16_t)port);
    *len = sizeof *a6;
    return true;
  }
  return false;
}

// A typed array over a new ArrayBuffer of `count` elements of `size` bytes, set as obj[name]; the
// buffer is referenced by *ref and its memory returned.
static void *ring_view(napi_env env, napi_value obj, const char *name, napi_typedarray_type type, size_t count, size_t size, napi_ref *ref) {
  napi_value ab, arr;
  void *p = NULL;
  if (napi_create_arraybuffer(env, count * size, &p, &ab) != napi_ok) return NULL;
  if (napi_create_reference(env, ab, 1, ref) != napi_ok) return NULL;
  if (napi_create_typedarray(env, type, count, ab, 0, &arr) != napi_ok) return NULL;
  if (napi_set_named_property(env, obj, name, arr) != napi_ok) return NULL;
  memset(p, 0, count * size);
  return p;
}

// open(host: string, port: number, onBatch: (n: number) => void): object — a bound, non-blocking
// UDP socket polled by the event loop. The object carries `in`, `inLen`, `out`, `outLen`, `port`,
// `slot` and `ring`; it is the `this` of onBatch.
static napi_value u_open(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  char host[64];
  size_t hl;
  int32_t port;
  napi_valuetype t;
  if (argc < 3 || napi_get_value_string_utf8(env, argv[0], host, sizeof host, &hl) != napi_ok ||
      napi_get_value_int32(env, argv[1], &port) != napi_ok || napi_typeof(env, argv[2], &t) != napi_ok || t != napi_function ||
      port < 0 || port > 65535) {
    napi_throw_type_error(env, NULL, "open(host, port, onBatch) expected");
    return NULL;
  }
  struct sockaddr_storage ss;
  socklen_t sl;
  if (!parse_addr(host, port, &ss, &sl)) {
    napi_throw_type_error(env, NULL, "host must be an IPv4 or IPv6 address literal");
    return NULL;
  }
  int fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_errno(env, "socket", errno);
  if (ss.ss_family == AF_INET6) {
    int one = 1;
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  }
  if (bind(fd, (struct sockaddr *)&ss, sl) < 0) {
    int e = errno;
    close(fd);
    return throw_errno(env, "bind", e);
  }
  struct sockaddr_storage bound;
  socklen_t bl = sizeof bound;
  getsockname(fd, (struct sockaddr *)&bound, &bl);
  int boundPort = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port : ((struct sockaddr_in *)&bound)->sin_port);

  napi_value obj, name, v;
  CHECK(napi_create_object(env, &obj));
  Sock *s = calloc(1, sizeof *s);
  if (!s) {
    close(fd);
    napi_throw_error(env, NULL, "out of memory");
    return NULL;
  }
  s->env = env;
  s->fd = fd;
  s->in = ring_view(env, obj, "in", napi_uint8_array, (size_t)RING * SLOT, 1, &s->bufs[0]);
  s->out = ring_view(env, obj, "out", napi_uint8_array, (size_t)RING * SLOT, 1, &s->bufs[1]);
  s->inLen = ring_view(env, obj, "inLen", napi_int32_array, RING, sizeof(int32_t), &s->bufs[2]);
  s->outLen = ring_view(env, obj, "outLen", napi_int32_array, RING, sizeof(int32_t), &s->bufs[3]);
  uv_loop_t *loop;
  if (!s->in || !s->out || !s->inLen || !s->outLen || napi_get_uv_event_loop(env, &loop) != napi_ok || uv_poll_init(loop, &s->poll, fd) != 0) {
    close(fd);
    for (int i = 0; i < 4; i++) if (s->bufs[i]) napi_delete_reference(env, s->bufs[i]);
    free(s);
    napi_throw_error(env, NULL, "udpmmsg: cannot set up the socket");
    return NULL;
  }
  for (int i = 0; i < RING; i++) {
    s->riov[i].iov_base = s->in + (size_t)i * SLOT;
    s->riov[i].iov_len = SLOT;
    s->rmsg[i].msg_hdr.msg_name = &s->addr[i];
    s->rmsg[i].msg_hdr.msg_iov = &s->riov[i];
    s->rmsg[i].msg_hdr.msg_iovlen = 1;
  }
  s->poll.data = s;
  CHECK(napi_wrap(env, obj, s, finalize, NULL, NULL));
  // Weak: the JavaScript wrapper holds the socket, not the other way round; the poll handle keeps
  // the loop (and the callback, through `cb`) alive while the socket is open.
  CHECK(napi_create_reference(env, obj, 0, &s->self));
  CHECK(napi_create_reference(env, argv[2], 1, &s->cb));
  CHECK(napi_create_string_utf8(env, "portico:udpmmsg", NAPI_AUTO_LENGTH, &name));
  CHECK(napi_async_init(env, obj, name, &s->actx));
  napi_create_int32(env, boundPort, &v);
  napi_set_named_property(env, obj, "port", v);
  napi_create_int32(env, SLOT, &v);
  napi_set_named_property(env, obj, "slot", v);
  napi_create_int32(env, RING, &v);
  napi_set_named_property(env, obj, "ring", v);
  if (uv_poll_start(&s->poll, UV_READABLE, on_readable) != 0) {
    napi_throw_error(env, NULL, "uv_poll_start failed");
    return NULL;
  }
  return obj;
}

// peer(sock, i): Uint8Array — the sender address of datagram i of the current batch, for sendTo.
static napi_value u_peer(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  Sock *s = sock_args(env, info, 2, argv);
  if (!s) return NULL;
  int32_t i;
  if (napi_get_value_int32(env, argv[1], &i) != napi_ok || i < 0 || i >= RING) {
    napi_throw_range_error(env, NULL, "slot out of range");
    return NULL;
  }
  socklen_t len = s->rmsg[i].msg_hdr.msg_namelen;
  void *p;
  napi_value ab, arr;
  CHECK(napi_create_arraybuffer(env, len, &p, &ab));
  memcpy(p, &s->addr[i], len);
  CHECK(napi_create_typedarray(env, napi_uint8_array, len, ab, 0, &arr));
  return arr;
}

// sendTo(sock, data: Uint8Array, peer: Uint8Array): boolean — one datagram to an address from
// peer(); false when the kernel did not take it.
static napi_value u_send_to(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  Sock *s = sock_args(env, info, 3, argv);
  if (!s) return NULL;
  napi_value res;
  if (s->closing) {
    napi_get_boolean(env, false, &res);
    return res;
  }
  void *data, *addr;
  size_t len, alen, off;
  napi_typedarray_type tt;
  napi_value ab;
  if (napi_get_typedarray_info(env, argv[1], &tt, &len, &data, &ab, &off) != napi_ok ||
      napi_get_typedarray_info(env, argv[2], &tt, &alen, &addr, &ab, &off) != napi_ok || alen > sizeof(struct sockaddr_storage)) {
    napi_throw_type_error(env, NULL, "sendTo(sock, data, peer) expected");
    return NULL;
  }
  ssize_t r;
  do r = sendto(s->fd, data, len, MSG_DONTWAIT, (struct sockaddr *)addr, (socklen_t)alen); while (r < 0 && errno == EINTR);
  if (r < 0) s->stats[4]++;
  else s->stats[3]++;
  napi_get_boolean(env, r >= 0, &res);
  return res;
}

// stats(sock): [wakeups, batches, datagrams, sent, sendFailures]
static napi_value u_stats(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  Sock *s = sock_args(env, info, 1, argv);
  if (!s) return NULL;
  napi_value arr, v;
  CHECK(napi_create_array_with_length(env, 5, &arr));
  for (uint32_t i = 0; i < 5; i++) {
    napi_create_double(env, s->stats[i], &v);
    napi_set_element(env, arr, i, v);
  }
  return arr;
}

// close(sock): stops polling and closes the descriptor (once the loop has let go of the handle).
static napi_value u_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  Sock *s = NULL;
  if (argc < 1 || napi_remove_wrap(env, argv[0], (void **)&s) != napi_ok || !s) return NULL;
  s->closing = true;
  uv_poll_stop(&s->poll);
  napi_delete_reference(env, s->cb);
  napi_delete_reference(env, s->self);
  napi_async_destroy(env, s->actx);
  // Closing a poll handle takes the descriptor out of epoll at once, so the descriptor can go now
  // (the port is free when close returns); the handle's memory waits for the loop.
  uv_close((uv_handle_t *)&s->poll, on_closed);
  close(s->fd);
  s->fd = -1;
  return NULL;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"open", NULL, u_open, NULL, NULL, NULL, napi_default, NULL},
      {"peer", NULL, u_peer, NULL, NULL, NULL, napi_default, NULL},
      {"sendTo", NULL, u_send_to, NULL, NULL, NULL, napi_default, NULL},
      {"stats", NULL, u_stats, NULL, NULL, NULL, napi_default, NULL},
      {"close", NULL, u_close, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
