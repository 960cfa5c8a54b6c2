// The userspace proxy's native TCP pump (N-API, no dependencies). TypeScript keeps every decision:
// which endpoint a connection goes to (schedulers, affinity, policies), retries after a failed
// connect, counters per endpoint. This file moves bytes and sockets: it listens, accepts in batches,
// connects, relays both directions with read/write through one shared buffer, and reports back.
//
// It runs on Node's own event loop thread, watched by a single uv_poll handle, so no locking and
// no thread hand-off; JS is called once per round with every event of that round (accepts,
// connect failures, half-closes, closes with byte counts) in a shared Float64Array. Two engines:
// io_uring (built when liburing is there, chosen when the kernel allows it; section "io_uring
// engine" below) and epoll: one epoll set of its own, sockets watched edge-triggered for reading
// and writing from the start, so a connection costs two epoll_ctl calls whatever happens on it.
//
// Relaying (as relay.ts does with libuv handles):
//   - half-close: EOF read from one side becomes shutdown(SHUT_WR) of the other once what was read
//     before it is written; the other direction keeps flowing; both directions done → both closed.
//   - backpressure: bytes a write could not take wait in a per-direction buffer, the reading side
//     stops being read until they are written (at most one read's worth held per direction).
//   - an error or reset on either side resets both (SO_LINGER 0).
//   - connect and idle timeouts are checked by a periodic sweep (a quarter of the shorter one).
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <node_api.h>
#include <uv.h>
#ifdef PORTICO_URING
#include <liburing.h>
#include <sys/eventfd.h>
#endif

#define BUFSZ (64 * 1024)
#define MAX_EVENTS 256
#define ACCEPT_BATCH 64
#define SIDE_CLIENT 0u
#define SIDE_UPSTREAM 1u
#define SIDE_LISTENER 2u

enum { EV_ACCEPT = 1, EV_CONNECT_FAILED = 2, EV_HALF_CLOSE = 3, EV_CLOSED = 4 };
enum { ST_FREE = 0, ST_CONNECTING, ST_FAILED, ST_RELAY };

typedef struct {
  char *pend;  // epoll: bytes read but not yet written
  uint32_t plen, poff;  // poff, io_uring: bytes of the first queued buffer already sent
  bool eof;   // EOF read from the source
  bool shut;  // shutdown(SHUT_WR) of the destination done
  // io_uring: pool buffers read and not yet (fully) sent, oldest first; the first is being sent.
  bool sending, recving;
  uint8_t qn;
  int16_t qbid[2];
  uint32_t qlen[2];
} dir_t;

typedef struct {
  int cfd, ufd;
  uint8_t state;
  bool half_reported;
  uint16_t gen;
  dir_t up, down;     // up: client → upstream; down: upstream → client
  double bin, bout;
  uint64_t since;  // connect start, then last activity (ms, loop time)
  uint32_t connect_timeout, idle_timeout;  // ms, 0 = none
  int32_t next_free;
  uint32_t epoch;  // io_uring: completions of operations issued in another epoch are stale
} slot_t;

typedef struct {
  int fd;
  bool open, paused;
  uint32_t epoch;  // io_uring: bumped when the listener closes
} listener_t;

typedef struct {
  napi_env env;
  napi_ref cb;
  napi_ref events_ref;
  napi_async_context actx;
  double *events;
  size_t events_cap;  // in events (4 doubles each)
  // Events of the current round; delivered to JS in chunks of events_cap.
  double *q;
  size_t qlen, qcap;
  int epfd;
  uv_loop_t *loop;
  uv_poll_t poll;
  uv_timer_t timer;
  uv_timer_t kick;  // delivers events queued outside a round (a connect that failed at once)
  bool timer_on;
  slot_t *slots;
  int32_t nslots, free_head;
  uint32_t live;
  listener_t *ls;
  int32_t nls;
  uint32_t nlisten;
  uint64_t sweep_ms;  // the sweep's period: a quarter of the shortest timeout given
  bool delivering;
#ifdef PORTICO_URING
  bool uring;     // io_uring engine (else epoll)
  bool in_round;  // SQEs queued now are submitted at the round's end
  struct io_uring ring;
  struct io_uring_buf_ring *br;
  char *ubufs;
  int efd;  // signalled by the kernel when completions or deferred work wait
  // A connect's endpoint address, kept beside its SQE (by SQE index) until the kernel reads it at
  // submission: not in the slot table, which may move (grow) before the round's submit.
  struct sockaddr_in6 *sqaddr;
  uint64_t *parked;  // directions that found no pool buffer: (slot << 1 | up) with their epoch
  size_t nparked, capparked;
#endif
  char buf[BUFSZ];
} engine_t;

static engine_t *E;  // one engine per process (created once by the JS module)

// ---- helpers ----

static void throw_errno(napi_env env, const char *syscall, int err) {
  napi_value code, msg, e, no, sc;
  char m[160];
  snprintf(m, sizeof m, "%s: %s", syscall, strerror(err));
  napi_create_string_utf8(env, m, NAPI_AUTO_LENGTH, &msg);
  napi_create_string_utf8(env, "ERR_RELAY_SYSCALL", NAPI_AUTO_LENGTH, &code);
  napi_create_error(env, code, msg, &e);
  napi_create_int32(env, -err, &no);
  napi_set_named_property(env, e, "errno", no);
  napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &sc);
  napi_set_named_property(env, e, "syscall", sc);
  napi_throw(env, e);
}

static void push(double type, double a, double b, double c) {
  if (E->qlen + 4 > E->qcap) {
    size_t cap = E->qcap ? E->qcap * 2 : 4 * 256;
    double *q = realloc(E->q, cap * sizeof(double));
    if (!q) abort();
    E->q = q;
    E->qcap = cap;
  }
  double *p = E->q + E->qlen;
  p[0] = type, p[1] = a, p[2] = b, p[3] = c;
  E->qlen += 4;
}

static inline double slot_id(int32_t i) { return (double)(((uint32_t)E->slots[i].gen << 20) | (uint32_t)i); }

static slot_t *slot_of(double id, int32_t *idx) {
  if (!(id >= 0)) return NULL;
  uint32_t v = (uint32_t)id;
  int32_t i = (int32_t)(v & 0xfffff);
  if (i >= E->nslots) return NULL;
  slot_t *s = &E->slots[i];
  if (s->state == ST_FREE || s->gen != (v >> 20)) return NULL;
  if (idx) *idx = i;
  return s;
}

static void reset_fd(int fd) {
  struct linger l = {1, 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
  close(fd);
}

static void on_timer(uv_timer_t *t);

#ifdef PORTICO_URING
#define URING (E->uring)
static void u_close_sock(int32_t i, bool client);
static void u_buf_return(int bid);
#else
#define URING false
#endif

// A slot's client or endpoint socket is done with: reset (RST) or closed (FIN). With io_uring its
// pending operations are cancelled first, or they would keep the socket open.
static void end_sock(int32_t i, bool client, bool reset) {
  int fd = client ? E->slots[i].cfd : E->slots[i].ufd;
  if (fd < 0) return;
#ifdef PORTICO_URING
  if (URING) {
    if (reset) setsockopt(fd, SOL_SOCKET, SO_LINGER, &(struct linger){1, 0}, sizeof(struct linger));
    return u_close_sock(i, client);
  }
#endif
  if (reset) reset_fd(fd);
  else close(fd);
}

static void update_ref(void) {
  if (E->live > 0 || E->nlisten > 0) {
    uv_ref((uv_handle_t *)&E->poll);
    if (!E->timer_on && E->sweep_ms) {
      uv_timer_start(&E->timer, on_timer, E->sweep_ms, E->sweep_ms);
      E->timer_on = true;
    }
  } else {
    uv_unref((uv_handle_t *)&E->poll);
    if (E->timer_on) {
      uv_timer_stop(&E->timer);
      E->timer_on = false;
    }
  }
}

static int32_t slot_alloc(void) {
  if (E->free_head < 0) {
    int32_t n = E->nslots ? E->nslots * 2 : 1024;
    if (n > 0xfffff) n = 0xfffff;
    if (n <= E->nslots) return -1;
    slot_t *s = realloc(E->slots, (size_t)n * sizeof(slot_t));
    if (!s) return -1;
    memset(s + E->nslots, 0, (size_t)(n - E->nslots) * sizeof(slot_t));
    for (int32_t i = n - 1; i >= E->nslots; i--) {
      s[i].next_free = E->free_head;
      E->free_head = i;
    }
    E->slots = s;
    E->nslots = n;
  }
  int32_t i = E->free_head;
  slot_t *s = &E->slots[i];
  E->free_head = s->next_free;
  uint16_t gen = (uint16_t)((s->gen + 1) & 0xfff);
  uint32_t epoch = s->epoch + 1;
  memset(s, 0, sizeof *s);
  s->gen = gen;
  s->epoch = epoch;
  s->cfd = s->ufd = -1;
  E->live++;
  return i;
}

static void slot_free(int32_t i) {
  slot_t *s = &E->slots[i];
  s->state = ST_FREE;  // first: a buffer returned below must not wake this slot's reads
  if (!URING) {
    free(s->up.pend);
    free(s->down.pend);
  }
#ifdef PORTICO_URING
  // io_uring: buffers waiting to be sent go back to the pool now; one being sent goes back when
  // that send completes (stale by then).
  else
    for (dir_t *d = &s->up; d; d = d == &s->up ? &s->down : NULL)
      for (uint8_t k = d->sending ? 1 : 0; k < d->qn; k++) u_buf_return(d->qbid[k]);
#endif
  s->up.pend = s->down.pend = NULL;
  s->next_free = E->free_head;
  E->free_head = i;
  E->live--;
}

// Ends a slot: both sockets closed (reset: RST instead of FIN); `report` queues EV_CLOSED.
static void slot_end(int32_t i, bool reset, bool report) {
  slot_t *s = &E->slots[i];
  end_sock(i, true, reset);
  end_sock(i, false, reset);
  if (report) push(EV_CLOSED, slot_id(i), s->bin, s->bout);
  slot_free(i);
}

static inline uint64_t now_ms(void) { return uv_now(E->loop); }

static bool watch(int fd, uint32_t events, uint64_t data, int op) {
  struct epoll_event ev = {.events = events, .data.u64 = data};
  return epoll_ctl(E->epfd, op, fd, &ev) == 0;
}

// A direction whose source sent EOF and whose bytes are all written: FIN the destination.
// Returns false when the slot ended.
static bool maybe_shut(int32_t i, dir_t *d, int dst) {
  slot_t *s = &E->slots[i];
  if (!d->eof || d->pend || d->qn || d->shut) return true;  // pend: epoll, qn: io_uring
  // The other direction is already done: closing both now sends the FIN still owed, without a
  // shutdown first (the common end of a connection).
  dir_t *other = d == &s->up ? &s->down : &s->up;
  if (other->shut) {
    slot_end(i, false, true);
    return false;
  }
  if (shutdown(dst, SHUT_WR) != 0) {
    slot_end(i, true, true);
    return false;
  }
  d->shut = true;
  if (s->up.shut && s->down.shut) {
    slot_end(i, false, true);
    return false;
  }
  return true;
}

// How far pump() reads: a short read means drained (edge-triggered), or on to EAGAIN/EOF because
// a short read proves nothing (after backpressure), or on to the EOF the event said is queued.
enum { READ_SHORT = 0, READ_ON, READ_TO_FIN };

// Reads what `from` has and writes it to `to`, until the socket is drained. When the source's FIN
// is known to be queued, the last bytes before it are sent with MSG_MORE so that the shutdown or
// close that follows leaves in the same segment as them (data+FIN, as haproxy sends it): two
// packets fewer per connection that ends this way. Returns false when the slot ended.
static bool pump(int32_t i, bool upward, int how) {
  slot_t *s = &E->slots[i];
  dir_t *d = upward ? &s->up : &s->down;
  int from = upward ? s->cfd : s->ufd, to = upward ? s->ufd : s->cfd;
  if (d->eof || d->pend) return true;
  bool corked = false;
  for (;;) {
    ssize_t n = recv(from, E->buf, BUFSZ, 0);
    if (n > 0) {
      if (upward) s->bin += (double)n;
      else s->bout += (double)n;
      s->since = now_ms();
      int more = how == READ_TO_FIN && n < BUFSZ ? MSG_MORE : 0;
      ssize_t w = send(to, E->buf, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT | more);
      if (w < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
          slot_end(i, true, true);
          return false;
        }
        w = 0;
      }
      corked = more && w > 0;
      if (w < n) {
        // Backpressure: hold the rest and leave `from` unread until it is written (flush).
        d->plen = (uint32_t)(n - w);
        d->poff = 0;
        d->pend = malloc(d->plen);
        if (!d->pend) abort();
        memcpy(d->pend, E->buf + w, d->plen);
        return true;
      }
      if (n < BUFSZ && how == READ_SHORT) return true;
      continue;
    }
    if (n == 0) {
      d->eof = true;
      if (!s->half_reported) {
        s->half_reported = true;
        push(EV_HALF_CLOSE, slot_id(i), 0, 0);
      }
      return maybe_shut(i, d, to);
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      // No EOF after all: setting TCP_NODELAY again pushes what MSG_MORE held back.
      if (corked) setsockopt(to, IPPROTO_TCP, TCP_NODELAY, &(int){1}, sizeof(int));
      return true;
    }
    slot_end(i, true, true);
    return false;
  }
}

// `to` can take bytes again: write what waits, then read on from the source. Returns false when
// the slot ended.
static bool flush(int32_t i, bool upward) {
  slot_t *s = &E->slots[i];
  dir_t *d = upward ? &s->up : &s->down;
  int to = upward ? s->ufd : s->cfd;
  if (!d->pend) return true;
  ssize_t w = send(to, d->pend + d->poff, d->plen - d->poff, MSG_NOSIGNAL | MSG_DONTWAIT);
  if (w < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return true;
    slot_end(i, true, true);
    return false;
  }
  s->since = now_ms();
  d->poff += (uint32_t)w;
  if (d->poff < d->plen) return true;
  free(d->pend);
  d->pend = NULL;
  d->plen = d->poff = 0;
  if (d->eof) return maybe_shut(i, d, to);
  // Edges that came while the source was not read are gone, its FIN's included: read it now, on
  // to EAGAIN or the EOF (a short read is no proof of a drained socket here, the FIN may wait).
  return pump(i, upward, READ_ON);
}

// Both sockets are watched edge-triggered for everything from the start: no epoll_ctl after the
// two ADDs, whatever backpressure or half-close does.
#define EDGE (EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET)

static void start_relay(int32_t i, uint32_t ev) {
  slot_t *s = &E->slots[i];
  // TCP_NODELAY: the client inherits it from the listener, the upstream got it before connect.
  s->state = ST_RELAY;
  s->since = now_ms();
  // What the client sent meanwhile is reported at once by the ADD (epoll checks readiness).
  if (!watch(s->cfd, EDGE, ((uint64_t)i << 2) | SIDE_CLIENT, EPOLL_CTL_ADD)) {
    slot_end(i, true, true);
    return;
  }
  // The endpoint spoke first (a banner) in the same edge as the connect.
  if (ev & (EPOLLIN | EPOLLRDHUP)) pump(i, false, ev & EPOLLRDHUP ? READ_TO_FIN : READ_SHORT);
}

static void connect_failed(int32_t i, int err) {
  slot_t *s = &E->slots[i];
  end_sock(i, false, false);
  s->ufd = -1;
  s->epoch++;  // io_uring: the connect's own completion, if still to come, is stale
  s->state = ST_FAILED;
  push(EV_CONNECT_FAILED, slot_id(i), -err, 0);
}

static void on_slot_event(int32_t i, uint32_t side, uint32_t ev) {
  slot_t *s = &E->slots[i];
  if (s->state == ST_CONNECTING) {
    if (side != SIDE_UPSTREAM) return;
    // Writable without an error or hang-up: connected (no SO_ERROR read needed).
    if (ev & (EPOLLERR | EPOLLHUP)) {
      int err = 0;
      socklen_t len = sizeof err;
      if (getsockopt(s->ufd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
      return connect_failed(i, err ? err : ECONNREFUSED);
    }
    if (ev & EPOLLOUT) start_relay(i, ev);
    return;
  }
  if (s->state != ST_RELAY) return;
  bool client = side == SIDE_CLIENT;
  if (ev & EPOLLERR) return slot_end(i, true, true);
  // Writable: the direction towards this side may go on.
  if ((ev & EPOLLOUT) && !flush(i, !client)) return;
  if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP)) {
    dir_t *from = client ? &s->up : &s->down;
    if (!from->eof && !from->pend) {
      if (!pump(i, client, ev & (EPOLLRDHUP | EPOLLHUP) ? READ_TO_FIN : READ_SHORT)) return;
    } else if ((ev & EPOLLHUP) && !from->pend) {
      // Gone both ways: nothing more can be written to it.
      dir_t *towards = client ? &s->down : &s->up;
      if (!towards->shut) return slot_end(i, true, true);
    }
  }
}

static void on_listener_event(int32_t lid) {
  listener_t *l = &E->ls[lid];
  for (int k = 0; k < ACCEPT_BATCH && l->open; k++) {
    int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
      push(EV_ACCEPT, lid, fd, 0);
      continue;
    }
    if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
      // Out of descriptors: stop watching until the next sweep instead of spinning.
      watch(l->fd, 0, ((uint64_t)lid << 2) | SIDE_LISTENER, EPOLL_CTL_MOD);
      l->paused = true;
    }
    break;
  }
}

// Hands the round's events to JS, in chunks of the shared array; JS may queue more (e.g. a
// connect that failed at once), which are delivered in the same loop.
static void deliver(void) {
  if (E->delivering || E->qlen == 0) return;
  E->delivering = true;
  napi_env env = E->env;
  napi_handle_scope scope;
  napi_open_handle_scope(env, &scope);
  napi_value cb, recv;
  napi_get_reference_value(env, E->cb, &cb);
  napi_get_global(env, &recv);  // napi_make_callback wants an object as `this`
  size_t off = 0;
  while (off < E->qlen) {
    size_t n = E->qlen - off;
    if (n > E->events_cap * 4) n = E->events_cap * 4;
    memcpy(E->events, E->q + off, n * sizeof(double));
    off += n;
    napi_value count, result;
    napi_create_uint32(env, (uint32_t)(n / 4), &count);
    napi_status st = napi_make_callback(env, E->actx, recv, cb, 1, &count, &result);
    if (st == napi_pending_exception) {
      napi_value e;
      napi_get_and_clear_last_exception(env, &e);
      napi_fatal_exception(env, e);
    }
    if (off >= E->qlen) {
      E->qlen = 0;
      off = 0;
    }
  }
  E->qlen = 0;
  napi_close_handle_scope(env, scope);
  E->delivering = false;
}

static void on_poll(uv_poll_t *h, int status, int events) {
  (void)h, (void)status, (void)events;
  struct epoll_event evs[MAX_EVENTS];
  int n = epoll_wait(E->epfd, evs, MAX_EVENTS, 0);
  for (int k = 0; k < n; k++) {
    uint64_t d = evs[k].data.u64;
    uint32_t side = (uint32_t)(d & 3);
    int32_t i = (int32_t)(d >> 2);
    if (side == SIDE_LISTENER) {
      if (i < E->nls && E->ls[i].open) on_listener_event(i);
    } else if (i < E->nslots && E->slots[i].state != ST_FREE) {
      on_slot_event(i, side, evs[k].events);
    }
  }
  deliver();
  update_ref();
}

#ifdef PORTICO_URING
// ---- io_uring engine ----
//
// The same relaying as above, with the kernel doing the reads and writes: each direction reads
// with a recv whose buffer is picked from a shared pool only when bytes arrive (idle connections
// hold none) and sends the buffers in order; it holds at most two, so the next read overlaps the
// send before it, and reads no more until one is sent, which is the backpressure. Everything a
// round of completions asks for is submitted in one io_uring_enter. The ring defers the kernel's
// completion work to that call (DEFER_TASKRUN) and signals an eventfd, which Node's loop watches. A socket is closed through the
// ring after its pending operations are cancelled (IORING_OP_CLOSE hard-linked after the cancel).
// What it does not do: merge an endpoint's last bytes with its FIN (a completed recv does not tell
// whether the FIN is already queued behind them).

#define UBUFS 256
#define UBUFSZ (32 * 1024)
#define UBGID 1
enum { UOP_IGNORE = 0, UOP_ACCEPT, UOP_CONNECT, UOP_RECV, UOP_SEND };

// user_data: op (bits 0-2), direction (3: 1 = client → endpoint), slot or listener (4-23), pool
// buffer of a send (24-31), epoch (32-63).
static inline uint64_t uud(int op, bool up, int32_t i, int bid, uint32_t epoch) {
  return (uint64_t)op | ((uint64_t)up << 3) | ((uint64_t)(uint32_t)i << 4) | ((uint64_t)(uint8_t)bid << 24) | ((uint64_t)epoch << 32);
}

static struct io_uring_sqe *u_sqe(void) {
  struct io_uring_sqe *q = io_uring_get_sqe(&E->ring);
  if (!q) {
    io_uring_submit(&E->ring);
    q = io_uring_get_sqe(&E->ring);
    if (!q) abort();
  }
  return q;
}

static void u_arm_recv(int32_t i, bool up);

static void u_buf_return(int bid) {
  io_uring_buf_ring_add(E->br, E->ubufs + (size_t)bid * UBUFSZ, UBUFSZ, (unsigned short)bid, io_uring_buf_ring_mask(UBUFS), 0);
  io_uring_buf_ring_advance(E->br, 1);
  // A direction that found the pool empty reads again.
  while (E->nparked) {
    uint64_t w = E->parked[--E->nparked];
    int32_t i = (int32_t)((w >> 1) & 0xfffff);
    slot_t *s = &E->slots[i];
    dir_t *d = w & 1 ? &s->up : &s->down;
    // Stale, or armed again meanwhile (a send of its own completed): not twice.
    if (s->state == ST_RELAY && s->epoch == (uint32_t)(w >> 32) && !d->recving && !d->eof && d->qn < 2) {
      u_arm_recv(i, w & 1);
      break;
    }
  }
}

// Closes a slot's socket through the ring, after cancelling what is pending on it, by user_data
// (a hash lookup; cancelling by descriptor walks the whole table of pending requests, twice per
// connection). A connection that ended normally has nothing pending: a close alone.
static void u_close_sock(int32_t i, bool client) {
  slot_t *s = &E->slots[i];
  dir_t *rd = client ? &s->up : &s->down, *wd = client ? &s->down : &s->up;
  uint64_t pending[3];
  int n = 0;
  if (rd->recving) pending[n++] = uud(UOP_RECV, client, i, 0, s->epoch);
  if (wd->sending) pending[n++] = uud(UOP_SEND, !client, i, wd->qbid[0], s->epoch);
  if (!client && s->state == ST_CONNECTING) pending[n++] = uud(UOP_CONNECT, false, i, 0, s->epoch);
  // The chain (cancels hard-linked to the close) must not be split by a submit.
  if (io_uring_sq_space_left(&E->ring) < (unsigned)n + 1) io_uring_submit(&E->ring);
  struct io_uring_sqe *q;
  for (int k = 0; k < n; k++) {
    q = u_sqe();
    io_uring_prep_cancel64(q, pending[k], 0);
    q->flags |= IOSQE_IO_HARDLINK;
    io_uring_sqe_set_data64(q, UOP_IGNORE);
  }
  q = u_sqe();
  io_uring_prep_close(q, client ? s->cfd : s->ufd);
  io_uring_sqe_set_data64(q, UOP_IGNORE);
}

static void u_arm_recv(int32_t i, bool up) {
  slot_t *s = &E->slots[i];
  struct io_uring_sqe *q = u_sqe();
  io_uring_prep_recv(q, up ? s->cfd : s->ufd, NULL, UBUFSZ, 0);
  q->flags |= IOSQE_BUFFER_SELECT;
  q->buf_group = UBGID;
  io_uring_sqe_set_data64(q, uud(UOP_RECV, up, i, 0, s->epoch));
  (up ? &s->up : &s->down)->recving = true;
}

// The oldest buffer read is sent: the next one becomes the oldest.
static void u_dequeue(dir_t *d) {
  d->qbid[0] = d->qbid[1];
  d->qlen[0] = d->qlen[1];
  d->qn--;
  d->poff = 0;
}

// Sends (the rest of) the oldest buffer read.
static void u_send(int32_t i, bool up) {
  slot_t *s = &E->slots[i];
  dir_t *d = up ? &s->up : &s->down;
  struct io_uring_sqe *q = u_sqe();
  io_uring_prep_send(q, up ? s->ufd : s->cfd, E->ubufs + (size_t)d->qbid[0] * UBUFSZ + d->poff, d->qlen[0] - d->poff, MSG_NOSIGNAL);
  io_uring_sqe_set_data64(q, uud(UOP_SEND, up, i, d->qbid[0], s->epoch));
  d->sending = true;
}

static void u_arm_accept(int32_t lid) {
  listener_t *l = &E->ls[lid];
  struct io_uring_sqe *q = u_sqe();
  io_uring_prep_multishot_accept(q, l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
  io_uring_sqe_set_data64(q, uud(UOP_ACCEPT, false, lid, 0, l->epoch));
}

static void u_connect(int32_t i, const struct sockaddr_storage *ss, socklen_t len) {
  slot_t *s = &E->slots[i];
  struct io_uring_sqe *q = u_sqe();
  struct sockaddr_in6 *a = &E->sqaddr[q - E->ring.sq.sqes];
  memcpy(a, ss, len);
  io_uring_prep_connect(q, s->ufd, (struct sockaddr *)a, len);
  io_uring_sqe_set_data64(q, uud(UOP_CONNECT, false, i, 0, s->epoch));
}

static void u_on_accept(int32_t lid, uint32_t epoch, int res, uint32_t flags) {
  listener_t *l = lid < E->nls ? &E->ls[lid] : NULL;
  if (!l || !l->open || l->epoch != epoch) {
    if (res >= 0) reset_fd(res);
    return;
  }
  if (res >= 0) push(EV_ACCEPT, lid, res, 0);
  if (flags & IORING_CQE_F_MORE) return;
  // The multishot accept ended: out of descriptors waits for the sweep, anything else re-arms.
  if (res == -EMFILE || res == -ENFILE || res == -ENOBUFS || res == -ENOMEM) l->paused = true;
  else u_arm_accept(lid);
}

static void u_complete(uint64_t ud, int res, uint32_t flags) {
  int op = (int)(ud & 7);
  if (op == UOP_IGNORE) return;
  bool up = (ud >> 3) & 1;
  int32_t i = (int32_t)((ud >> 4) & 0xfffff);
  uint32_t epoch = (uint32_t)(ud >> 32);
  if (op == UOP_ACCEPT) return u_on_accept(i, epoch, res, flags);
  int bid = op == UOP_SEND ? (int)((ud >> 24) & 0xff) : (flags & IORING_CQE_F_BUFFER) ? (int)(flags >> IORING_CQE_BUFFER_SHIFT) : -1;
  slot_t *s = i < E->nslots ? &E->slots[i] : NULL;
  if (!s || s->state == ST_FREE || s->epoch != epoch) {
    if (bid >= 0) u_buf_return(bid);
    return;
  }
  if (op == UOP_CONNECT) {
    if (s->state != ST_CONNECTING) return;
    if (res < 0) {
      s->state = ST_FAILED;  // nothing left to cancel
      return connect_failed(i, -res);
    }
    s->state = ST_RELAY;
    s->since = now_ms();
    u_arm_recv(i, true);
    u_arm_recv(i, false);
    return;
  }
  dir_t *d = up ? &s->up : &s->down;
  int to = up ? s->ufd : s->cfd;
  if (op == UOP_RECV) {
    d->recving = false;
    if (res > 0) {
      if (up) s->bin += res;
      else s->bout += res;
      s->since = now_ms();
      // Two buffers per direction: the next read overlaps the send of the one before (bulk
      // transfers), and no more is taken from a peer that does not drain (backpressure).
      d->qbid[d->qn] = (int16_t)bid;
      d->qlen[d->qn] = (uint32_t)res;
      d->qn++;
      if (!d->sending) u_send(i, up);
      if (d->qn < 2) u_arm_recv(i, up);
      return;
    }
    if (bid >= 0) u_buf_return(bid);
    if (res == 0) {
      d->eof = true;
      if (!s->half_reported) {
        s->half_reported = true;
        push(EV_HALF_CLOSE, slot_id(i), 0, 0);
      }
      maybe_shut(i, d, to);
      return;
    }
    if (res == -ENOBUFS) {
      if (E->nparked == E->capparked) {
        E->capparked = E->capparked ? E->capparked * 2 : 256;
        E->parked = realloc(E->parked, E->capparked * sizeof *E->parked);
        if (!E->parked) abort();
      }
      E->parked[E->nparked++] = ((uint64_t)s->epoch << 32) | ((uint64_t)(uint32_t)i << 1) | up;
      return;
    }
    if (res == -EINTR || res == -EAGAIN) return u_arm_recv(i, up);
    return slot_end(i, true, true);
  }
  // UOP_SEND
  d->sending = false;
  if (res < 0) {
    u_buf_return(bid);
    u_dequeue(d);
    return slot_end(i, true, true);
  }
  s->since = now_ms();
  d->poff += (uint32_t)res;
  if (d->poff < d->qlen[0]) return u_send(i, up);
  u_buf_return(bid);
  u_dequeue(d);
  if (d->qn) u_send(i, up);
  if (d->eof) maybe_shut(i, d, to);
  else if (!d->recving) u_arm_recv(i, up);
}

// Completions to handle, or deferred kernel work still to run (the kernel runs a bounded amount
// of it per call and signals the eventfd only when its list goes from empty to not: what is left
// over must be asked for, or it waits for the next unrelated signal).
static bool u_pending(void) {
  return io_uring_cq_ready(&E->ring) || (IO_URING_READ_ONCE(*E->ring.sq.kflags) & IORING_SQ_TASKRUN);
}

// Submits what was queued and handles every completion, delivering events to JS, until a call
// brings nothing and nothing waits to be submitted.
static void u_round(void) {
  E->in_round = true;
  unsigned n;
  do {
    io_uring_submit_and_get_events(&E->ring);
    struct io_uring_cqe *cqe;
    unsigned head;
    n = 0;
    io_uring_for_each_cqe(&E->ring, head, cqe) {
      n++;
      u_complete(cqe->user_data, cqe->res, cqe->flags);
    }
    io_uring_cq_advance(&E->ring, n);
    deliver();
    // Ends after a call that brought nothing: no work is left over in the kernel then.
  } while (n || io_uring_sq_ready(&E->ring) || u_pending());
  E->in_round = false;
}

static void on_upoll(uv_poll_t *h, int status, int events) {
  (void)h, (void)status, (void)events;
  uint64_t v;
  if (read(E->efd, &v, sizeof v) < 0 && errno != EAGAIN) return;
  u_round();
  update_ref();
}

static void on_kick(uv_timer_t *t);

// After a call from JS outside a round: submit at once; completions that came inline are handled
// on the next loop turn.
static void u_flush(void) {
  if (!URING || E->in_round || !io_uring_sq_ready(&E->ring)) return;
  io_uring_submit(&E->ring);
  if (u_pending()) uv_timer_start(&E->kick, on_kick, 0, 0);
}

// Sets up the ring, the buffer pool and the eventfd; false (and nothing kept) when the kernel or
// the environment refuses io_uring (old kernel, seccomp, kernel.io_uring_disabled).
static bool u_init(engine_t *e) {
  struct io_uring_params p = {0};
  p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_TASKRUN_FLAG;
  if (io_uring_queue_init_params(4096, &e->ring, &p) < 0) return false;
  e->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (e->efd < 0) goto fail_ring;
  if (io_uring_register_eventfd(&e->ring, e->efd) < 0) goto fail_efd;
  if (posix_memalign((void **)&e->br, 4096, UBUFS * sizeof(struct io_uring_buf))) goto fail_efd;
  io_uring_buf_ring_init(e->br);
  struct io_uring_buf_reg reg = {.ring_addr = (uint64_t)(uintptr_t)e->br, .ring_entries = UBUFS, .bgid = UBGID};
  if (io_uring_register_buf_ring(&e->ring, &reg, 0) < 0) goto fail_br;
  // Touched only as used: RSS grows with the buffers in flight at once, up to 8 MiB.
  e->ubufs = malloc((size_t)UBUFS * UBUFSZ);
  e->sqaddr = calloc(e->ring.sq.ring_entries, sizeof *e->sqaddr);
  if (!e->ubufs || !e->sqaddr) goto fail_br;
  for (int b = 0; b < UBUFS; b++) io_uring_buf_ring_add(e->br, e->ubufs + (size_t)b * UBUFSZ, UBUFSZ, (unsigned short)b, io_uring_buf_ring_mask(UBUFS), b);
  io_uring_buf_ring_advance(e->br, UBUFS);
  e->uring = true;
  return true;
fail_br:
  free(e->br);
fail_efd:
  close(e->efd);
fail_ring:
  io_uring_queue_exit(&e->ring);
  return false;
}
#else
static void u_flush(void) {}
#endif

static void on_kick(uv_timer_t *t);

static void on_timer(uv_timer_t *t) {
  (void)t;
  uint64_t now = now_ms();
  for (int32_t i = 0; i < E->nslots; i++) {
    slot_t *s = &E->slots[i];
    if (s->state == ST_CONNECTING && s->connect_timeout && now - s->since >= s->connect_timeout) connect_failed(i, ETIMEDOUT);
    else if (s->state == ST_RELAY && s->idle_timeout && now - s->since >= s->idle_timeout) slot_end(i, false, true);
  }
  for (int32_t l = 0; l < E->nls; l++) {
    if (E->ls[l].open && E->ls[l].paused) {
      E->ls[l].paused = false;
#ifdef PORTICO_URING
      if (URING) {
        u_arm_accept(l);
        continue;
      }
#endif
      watch(E->ls[l].fd, EPOLLIN, ((uint64_t)l << 2) | SIDE_LISTENER, EPOLL_CTL_MOD);
    }
  }
  on_kick(NULL);
}

static void on_kick(uv_timer_t *t) {
  (void)t;
#ifdef PORTICO_URING
  if (URING) u_round();
  else
#endif
    deliver();
  update_ref();
}

// ---- JS API ----

#define ARGS(n)                                                        \
  size_t argc = n;                                                     \
  napi_value argv[n];                                                  \
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);                \
  if (!E) {                                                            \
    napi_throw_error(env, NULL, "relay engine not initialised");       \
    return NULL;                                                       \
  }

static double num(napi_env env, napi_value v) {
  double d = -1;
  napi_get_value_double(env, v, &d);
  return d;
}

static napi_value undef(napi_env env) {
  napi_value u;
  napi_get_undefined(env, &u);
  return u;
}

// init(callback(count), events: Float64Array)
static napi_value js_init(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (E) {
    napi_throw_error(env, NULL, "relay engine already initialised");
    return NULL;
  }
  napi_typedarray_type type;
  size_t len;
  void *data;
  if (argc < 2 || napi_get_typedarray_info(env, argv[1], &type, &len, &data, NULL, NULL) != napi_ok || type != napi_float64_array || len < 4) {
    napi_throw_type_error(env, NULL, "init(callback, Float64Array)");
    return NULL;
  }
  engine_t *e = calloc(1, sizeof *e);
  if (!e) abort();
  e->env = env;
  napi_create_reference(env, argv[0], 1, &e->cb);
  napi_create_reference(env, argv[1], 1, &e->events_ref);
  e->events = data;
  e->events_cap = len / 4;
  napi_value name;
  napi_create_string_utf8(env, "PorticoRelay", NAPI_AUTO_LENGTH, &name);
  napi_async_init(env, NULL, name, &e->actx);
  e->free_head = -1;
  napi_get_uv_event_loop(env, &e->loop);
  uv_poll_cb cb = on_poll;
#ifdef PORTICO_URING
  // io_uring unless PORTICO_RELAY_IO=epoll or the kernel refuses it.
  const char *io = getenv("PORTICO_RELAY_IO");
  if ((!io || strcmp(io, "epoll") != 0) && u_init(e)) {
    e->epfd = -1;
    uv_poll_init(e->loop, &e->poll, e->efd);
    cb = on_upoll;
  } else
#endif
  {
    e->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (e->epfd < 0) {
      throw_errno(env, "epoll_create1", errno);
      free(e);
      return NULL;
    }
    uv_poll_init(e->loop, &e->poll, e->epfd);
  }
  uv_timer_init(e->loop, &e->timer);
  uv_unref((uv_handle_t *)&e->timer);
  uv_timer_init(e->loop, &e->kick);
  E = e;
  uv_poll_start(&e->poll, UV_READABLE, cb);
  update_ref();
  return undef(env);
}

static bool parse_addr(napi_env env, napi_value ipv, int port, struct sockaddr_storage *ss, socklen_t *len) {
  char ip[64];
  size_t n;
  if (napi_get_value_string_utf8(env, ipv, ip, sizeof ip, &n) != napi_ok) return false;
  memset(ss, 0, sizeof *ss);
  struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
  struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
  if (inet_pton(AF_INET, ip, &a4->sin_addr) == 1) {
    a4->sin_family = AF_INET;
    a4->sin_port = htons((uint16_t)port);
    *len = sizeof *a4;
    return true;
  }
  if (inet_pton(AF_INET6, ip, &a6->sin6_addr) == 1) {
    a6->sin6_family = AF_INET6;
    a6->sin6_port = htons((uint16_t)port);
    *len = sizeof *a6;
    return true;
  }
  return false;
}

// listen(ip, port, backlog, reusePort) → listener id; throws with errno and syscall.
static napi_value js_listen(napi_env env, napi_callback_info info) {
  ARGS(4);
  struct sockaddr_storage ss;
  socklen_t len;
  int port = (int)num(env, argv[1]);
  if (argc < 4 || !parse_addr(env, argv[0], port, &ss, &len)) {
    napi_throw_type_error(env, NULL, "listen(ip, port, backlog, reusePort)");
    return NULL;
  }
  bool reuseport = false;
  napi_get_value_bool(env, argv[3], &reuseport);
  int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_errno(env, "socket", errno), NULL;
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (reuseport) setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  // Accepted sockets inherit TCP_NODELAY from the listener: one setsockopt less per connection.
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (bind(fd, (struct sockaddr *)&ss, len) != 0) {
    int err = errno;
    close(fd);
    return throw_errno(env, "bind", err), NULL;
  }
  if (listen(fd, (int)num(env, argv[2])) != 0) {
    int err = errno;
    close(fd);
    return throw_errno(env, "listen", err), NULL;
  }
  int32_t lid = -1;
  for (int32_t k = 0; k < E->nls; k++)
    if (!E->ls[k].open) {
      lid = k;
      break;
    }
  if (lid < 0) {
    listener_t *ls = realloc(E->ls, (size_t)(E->nls + 1) * sizeof *ls);
    if (!ls) abort();
    E->ls = ls;
    lid = E->nls++;
    E->ls[lid].epoch = 0;
  }
  E->ls[lid] = (listener_t){.fd = fd, .open = true, .paused = false, .epoch = E->ls[lid].epoch};
#ifdef PORTICO_URING
  if (URING) u_arm_accept(lid), u_flush();
  else
#endif
    watch(fd, EPOLLIN, ((uint64_t)lid << 2) | SIDE_LISTENER, EPOLL_CTL_ADD);
  E->nlisten++;
  update_ref();
  napi_value r;
  napi_create_int32(env, lid, &r);
  return r;
}

// unlisten(id): stops accepting and closes the listening socket.
static napi_value js_unlisten(napi_env env, napi_callback_info info) {
  ARGS(1);
  int32_t lid = (int32_t)num(env, argv[0]);
  if (lid >= 0 && lid < E->nls && E->ls[lid].open) {
    // io_uring: the pending accept holds the socket open; shutting it down stops the listening
    // now (the port is free at once) and ends that accept (a stale completion).
    if (URING) shutdown(E->ls[lid].fd, SHUT_RDWR);
    close(E->ls[lid].fd);
    E->ls[lid].epoch++;
    E->ls[lid].open = false;
    E->nlisten--;
    update_ref();
  }
  return undef(env);
}

// Timeouts are checked every quarter of the shortest one given so far.
static void want_sweep(uint32_t ms) {
  if (!ms) return;
  uint64_t p = ms / 4 ? ms / 4 : 1;
  if (E->sweep_ms && E->sweep_ms <= p) return;
  E->sweep_ms = p;
  if (E->timer_on) uv_timer_start(&E->timer, on_timer, p, p);
}

// connect(clientFd | slotId, ip, port, isSlot, connectTimeoutMs, idleTimeoutMs) → slot id. A new
// slot for an accepted client, or a further attempt for a slot whose connect failed. A connect
// that fails at once is reported as an event like a later failure.
static napi_value js_connect(napi_env env, napi_callback_info info) {
  ARGS(6);
  bool retry = false;
  napi_get_value_bool(env, argv[3], &retry);
  struct sockaddr_storage ss;
  socklen_t len;
  if (!parse_addr(env, argv[1], (int)num(env, argv[2]), &ss, &len)) {
    napi_throw_type_error(env, NULL, "connect: bad address");
    return NULL;
  }
  int32_t i;
  if (retry) {
    slot_t *s = slot_of(num(env, argv[0]), &i);
    if (!s || s->state != ST_FAILED) {
      napi_throw_error(env, NULL, "connect: no such failed connection");
      return NULL;
    }
  } else {
    i = slot_alloc();
    if (i < 0) {
      reset_fd((int)num(env, argv[0]));
      napi_throw_error(env, NULL, "connect: too many connections");
      return NULL;
    }
    E->slots[i].cfd = (int)num(env, argv[0]);
  }
  slot_t *s = &E->slots[i];
  s->state = ST_CONNECTING;
  s->since = now_ms();
  s->connect_timeout = (uint32_t)num(env, argv[4]);
  s->idle_timeout = (uint32_t)num(env, argv[5]);
  want_sweep(s->connect_timeout);
  want_sweep(s->idle_timeout);
  s->ufd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int one = 1;
  if (s->ufd >= 0) setsockopt(s->ufd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (s->ufd < 0) {
    connect_failed(i, errno);
  } else if (URING) {
#ifdef PORTICO_URING
    u_connect(i, &ss, len);
#endif
  } else if (connect(s->ufd, (struct sockaddr *)&ss, len) != 0 && errno != EINPROGRESS) {
    connect_failed(i, errno);
  } else {
    watch(s->ufd, EDGE, ((uint64_t)i << 2) | SIDE_UPSTREAM, EPOLL_CTL_ADD);
  }
  update_ref();
  u_flush();
  // Delivered after the current round, or on the next loop turn when JS called from outside one
  // (never from inside this call: the caller does not know the slot id yet).
  if (!E->delivering && E->qlen) uv_timer_start(&E->kick, on_kick, 0, 0);
  napi_value r;
  napi_create_double(env, slot_id(i), &r);
  return r;
}

// destroy(slot, reset): ends a connection at once; no event (the caller reads bytes() first).
static napi_value js_destroy(napi_env env, napi_callback_info info) {
  ARGS(2);
  bool reset = false;
  napi_get_value_bool(env, argv[1], &reset);
  int32_t i;
  slot_t *s = slot_of(num(env, argv[0]), &i);
  if (s) {
    slot_end(i, reset, false);
    update_ref();
    u_flush();
  }
  return undef(env);
}

// bytes(slot, out: Float64Array(2)): live byte counters.
static napi_value js_bytes(napi_env env, napi_callback_info info) {
  ARGS(2);
  napi_typedarray_type type;
  size_t len;
  void *data;
  slot_t *s = slot_of(num(env, argv[0]), NULL);
  if (napi_get_typedarray_info(env, argv[1], &type, &len, &data, NULL, NULL) == napi_ok && type == napi_float64_array && len >= 2) {
    double *o = data;
    o[0] = s ? s->bin : 0;
    o[1] = s ? s->bout : 0;
  }
  return undef(env);
}

// resetFd(fd): an accepted connection no endpoint takes is reset at once.
static napi_value js_reset_fd(napi_env env, napi_callback_info info) {
  ARGS(1);
  reset_fd((int)num(env, argv[0]));
  return undef(env);
}

// peer(fd) → the client's address ('' when it cannot be read).
static napi_value js_peer(napi_env env, napi_callback_info info) {
  ARGS(1);
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  char out[INET6_ADDRSTRLEN] = "";
  if (getpeername((int)num(env, argv[0]), (struct sockaddr *)&ss, &len) == 0) {
    if (ss.ss_family == AF_INET) inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, out, sizeof out);
    else if (ss.ss_family == AF_INET6) inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, out, sizeof out);
  }
  napi_value r;
  napi_create_string_utf8(env, out, NAPI_AUTO_LENGTH, &r);
  return r;
}

// stats() → [open connections, open listeners, bytes held for backpressure] (tests).
static napi_value js_stats(napi_env env, napi_callback_info info) {
  ARGS(1);
  double held = 0;
  for (int32_t i = 0; i < E->nslots; i++) {
    slot_t *s = &E->slots[i];
    if (s->state == ST_FREE) continue;
    for (dir_t *d = &s->up; d; d = d == &s->up ? &s->down : NULL) {
      if (d->pend) held += d->plen - d->poff;
      for (uint8_t k = 0; k < d->qn; k++) held += d->qlen[k] - (k ? 0 : d->poff);
    }
  }
  napi_value r, v[3];
  napi_create_array_with_length(env, 3, &r);
  napi_create_uint32(env, E->live, &v[0]);
  napi_create_uint32(env, E->nlisten, &v[1]);
  napi_create_double(env, held, &v[2]);
  for (uint32_t k = 0; k < 3; k++) napi_set_element(env, r, k, v[k]);
  return r;
}

// io() → 'io_uring' or 'epoll': how the pump waits for its sockets.
static napi_value js_io(napi_env env, napi_callback_info info) {
  ARGS(1);
  napi_value r;
  napi_create_string_utf8(env, URING ? "io_uring" : "epoll", NAPI_AUTO_LENGTH, &r);
  return r;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"init", NULL, js_init, NULL, NULL, NULL, napi_default, NULL},
      {"listen", NULL, js_listen, NULL, NULL, NULL, napi_default, NULL},
      {"unlisten", NULL, js_unlisten, NULL, NULL, NULL, napi_default, NULL},
      {"connect", NULL, js_connect, NULL, NULL, NULL, napi_default, NULL},
      {"destroy", NULL, js_destroy, NULL, NULL, NULL, napi_default, NULL},
      {"bytes", NULL, js_bytes, NULL, NULL, NULL, napi_default, NULL},
      {"resetFd", NULL, js_reset_fd, NULL, NULL, NULL, napi_default, NULL},
      {"peer", NULL, js_peer, NULL, NULL, NULL, napi_default, NULL},
      {"stats", NULL, js_stats, NULL, NULL, NULL, napi_default, NULL},
      {"io", NULL, js_io, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
