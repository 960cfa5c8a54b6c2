// The userspace proxy's native TCP pump (N-API, no dependencies). TypeScript keeps every decision:
// which endpoint a connection goes to (schedulers, affinity, policies), retries after a failed
// connect, counters per endpoint. This file moves bytes and sockets: it listens, accepts in batches,
// connects, relays both directions with recv/send through one buffer, and reports back.
//
// Two threads:
//   - Node's own (JS) thread accepts: each listener is a uv_poll on Node's loop, accepted sockets
//     go to JS at once in the same turn, and JS's connect() opens the upstream socket and puts it in
//     the pump's epoll set. Events for JS (accepts, connect failures, half-closes, closes with byte
//     counts) reach it in a shared Float64Array, four numbers each.
//   - the pump thread waits on its own epoll set (no libuv, no nested epoll) and does all the
//     relaying: connect completion, bytes both ways, half-close, backpressure, resets, connect and
//     idle timeouts. Kept-alive traffic needs no JS at all. What JS must hear (connect failed,
//     half-close, closed) is queued; the JS thread takes the queue whenever it runs (after each
//     accept batch), and the pump wakes it with uv_async_send at once for a connect failure, else
//     once what is queued has waited LAZY_MS (so new-connection traffic costs no extra wake-ups).
// One mutex guards the slots and the queue: the pump holds it while it handles a round of events
// (not while it waits); JS holds it in connect/destroy/bytes. A slot the pump ended stays (state
// CLOSED, byte counts kept, descriptors closed) until JS has been told, so a slot id JS holds always
// means the same connection, and destroy() of a connection that just ended still has its bytes.
// Epoll data carries the slot's generation too: an event fetched before JS reused a slot is dropped.
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
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <node_api.h>
#include <uv.h>

#define BUFSZ (64 * 1024)
#define MAX_EVENTS 256
#define ACCEPT_BATCH 64
// Half-closes and closes may wait this long for the JS thread to wake anyway (it drains the queue
// whenever it accepts) before the pump wakes it for them alone; connect failures do not wait.
#define LAZY_MS 2
#define SIDE_CLIENT 0u
#define SIDE_UPSTREAM 1u
#define SIDE_WAKE 2u  // the eventfd JS writes to wake the pump (new sweep period, close)

enum { EV_ACCEPT = 1, EV_CONNECT_FAILED = 2, EV_HALF_CLOSE = 3, EV_CLOSED = 4 };
enum { ST_FREE = 0, ST_CONNECTING, ST_FAILED, ST_RELAY, ST_CLOSED };

typedef struct {
  char *pend;  // bytes read but not yet written
  uint32_t plen, poff;
  bool eof;   // EOF read from the source
  bool shut;  // shutdown(SHUT_WR) of the destination done
} dir_t;

typedef struct {
  int cfd, ufd;
  uint8_t state;
  bool half_reported;
  uint16_t gen;
  dir_t up, down;     // up: client → upstream; down: upstream → client
  double bin, bout;
  uint64_t since;  // connect start, then last activity (ms, monotonic)
  uint32_t connect_timeout, idle_timeout;  // ms, 0 = none
  int32_t next_free;
} slot_t;

typedef struct {
  uv_poll_t poll;  // on Node's loop; heap-allocated (libuv keeps handles by address)
  uv_timer_t resume;  // restarts accepting after running out of descriptors
  int fd;
  int32_t id;
  bool open;
  uint8_t closed_handles;  // freed when both handles' close callbacks ran
} listener_t;

// Events waiting for JS, four doubles each.
typedef struct {
  double *v;
  size_t len, cap;
} queue_t;

typedef struct {
  napi_env env;
  napi_ref cb;
  napi_ref events_ref;
  napi_async_context actx;
  double *events;
  size_t events_cap;  // in events (4 doubles each)
  uv_loop_t *loop;
  uv_async_t async;  // the pump's "events queued" signal to the JS thread
  bool closing;      // close() under way: no new listeners or connects

  pthread_mutex_t mu;
  pthread_t thread;
  bool thread_on;
  int epfd, wakefd;
  // Under mu:
  queue_t sq;     // queued by the pump thread
  bool signalled; // an uv_async_send is on its way for sq
  bool urgent;    // sq holds a connect failure (JS must pick another endpoint or reset the client)
  uint64_t queued_at;  // the pump's time when sq stopped being empty; 0 = empty
  bool stop;
  slot_t *slots;
  int32_t nslots, free_head;
  uint32_t live;      // slots not free (CLOSED ones included until JS was told)
  uint64_t sweep_ms;  // the sweep's period: a quarter of the shortest timeout given; 0 = none
  uint64_t last_sweep;
  uint64_t now;       // the pump's clock of the current round

  // JS thread only:
  queue_t jq;  // queued by the JS thread (accepts, connects that failed at once)
  queue_t dq;  // the batch being delivered
  listener_t **ls;
  int32_t nls;
  uint32_t nlisten;
  bool delivering;

  char buf[BUFSZ];  // the pump thread's
} engine_t;

static engine_t *E;  // one engine per process (created by init, ended by close)

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

static void qpush(queue_t *q, double type, double a, double b, double c) {
  if (q->len + 4 > q->cap) {
    size_t cap = q->cap ? q->cap * 2 : 4 * 256;
    double *v = realloc(q->v, cap * sizeof(double));
    if (!v) abort();
    q->v = v;
    q->cap = cap;
  }
  double *p = q->v + q->len;
  p[0] = type, p[1] = a, p[2] = b, p[3] = c;
  q->len += 4;
}

static inline uint64_t mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static inline double slot_id(int32_t i) { return (double)(((uint32_t)E->slots[i].gen << 20) | (uint32_t)i); }

// Epoll data: generation, slot index and side, so an event for a slot since reused is dropped.
static inline uint64_t ev_data(int32_t i, uint32_t side) { return ((uint64_t)E->slots[i].gen << 32) | ((uint64_t)(uint32_t)i << 2) | side; }

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

static void update_ref(void) {
  if (E->live > 0) uv_ref((uv_handle_t *)&E->async);
  else uv_unref((uv_handle_t *)&E->async);
}

// Under mu, JS thread.
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
  memset(s, 0, sizeof *s);
  s->gen = gen;
  s->cfd = s->ufd = -1;
  E->live++;
  return i;
}

// Under mu, JS thread.
static void slot_free(int32_t i) {
  slot_t *s = &E->slots[i];
  s->state = ST_FREE;
  s->next_free = E->free_head;
  E->free_head = i;
  E->live--;
}

// Ends a slot: both sockets closed (reset: RST instead of FIN). `report` (the pump): queue
// EV_CLOSED and keep the slot until JS was told; otherwise (JS's destroy) free it now. Under mu.
static void slot_end(int32_t i, bool reset, bool report) {
  slot_t *s = &E->slots[i];
  if (s->cfd >= 0) (reset ? reset_fd(s->cfd) : (void)close(s->cfd));
  if (s->ufd >= 0) (reset ? reset_fd(s->ufd) : (void)close(s->ufd));
  s->cfd = s->ufd = -1;
  free(s->up.pend);
  free(s->down.pend);
  s->up.pend = s->down.pend = NULL;
  if (report) {
    s->state = ST_CLOSED;
    qpush(&E->sq, EV_CLOSED, slot_id(i), s->bin, s->bout);
  } else {
    slot_free(i);
  }
}

static bool watch(int fd, uint32_t events, uint64_t data, int op) {
  struct epoll_event ev = {.events = events, .data.u64 = data};
  return epoll_ctl(E->epfd, op, fd, &ev) == 0;
}

// ---- the pump thread (everything here runs under mu) ----

// A direction whose source sent EOF and whose bytes are all written: FIN the destination.
// Returns false when the slot ended.
static bool maybe_shut(int32_t i, dir_t *d, int dst) {
  slot_t *s = &E->slots[i];
  if (!d->eof || d->pend || d->shut) return true;
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

// Reads what `from` has and writes it to `to`, until the socket is drained (edge-triggered: a
// short read means it was; `rdhup`: the peer's FIN is queued too, read on to the EOF). Returns
// false when the slot ended.
static bool pump(int32_t i, bool upward, bool rdhup) {
  slot_t *s = &E->slots[i];
  dir_t *d = upward ? &s->up : &s->down;
  int from = upward ? s->cfd : s->ufd, to = upward ? s->ufd : s->cfd;
  if (d->eof || d->pend) return true;
  for (;;) {
    ssize_t n = recv(from, E->buf, BUFSZ, 0);
    if (n > 0) {
      if (upward) s->bin += (double)n;
      else s->bout += (double)n;
      s->since = E->now;
      ssize_t w = send(to, E->buf, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (w < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
          slot_end(i, true, true);
          return false;
        }
        w = 0;
      }
      if (w < n) {
        // Backpressure: hold the rest and leave `from` unread until it is written (flush).
        d->plen = (uint32_t)(n - w);
        d->poff = 0;
        d->pend = malloc(d->plen);
        if (!d->pend) abort();
        memcpy(d->pend, E->buf + w, d->plen);
        return true;
      }
      if (n < BUFSZ && !rdhup) return true;
      continue;
    }
    if (n == 0) {
      d->eof = true;
      if (!s->half_reported) {
        s->half_reported = true;
        qpush(&E->sq, EV_HALF_CLOSE, slot_id(i), 0, 0);
      }
      return maybe_shut(i, d, to);
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK) return true;
    if (errno == EINTR) continue;
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
  s->since = E->now;
  d->poff += (uint32_t)w;
  if (d->poff < d->plen) return true;
  free(d->pend);
  d->pend = NULL;
  d->plen = d->poff = 0;
  if (d->eof) return maybe_shut(i, d, to);
  // Edges that came while the source was not read are gone, its FIN's included: read it now, on
  // to EAGAIN or the EOF (a short read is no proof of a drained socket here, the FIN may wait).
  return pump(i, upward, true);
}

// Both sockets are watched edge-triggered for everything from the start: no epoll_ctl after the
// two ADDs, whatever backpressure or half-close does.
#define EDGE (EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET)

static void start_relay(int32_t i, uint32_t ev) {
  slot_t *s = &E->slots[i];
  // TCP_NODELAY: the client inherits it from the listener, the upstream got it before connect.
  s->state = ST_RELAY;
  s->since = E->now;
  // What the client sent meanwhile is reported at once by the ADD (epoll checks readiness).
  if (!watch(s->cfd, EDGE, ev_data(i, SIDE_CLIENT), EPOLL_CTL_ADD)) {
    slot_end(i, true, true);
    return;
  }
  // The endpoint spoke first (a banner) in the same edge as the connect.
  if (ev & (EPOLLIN | EPOLLRDHUP)) pump(i, false, ev & EPOLLRDHUP);
}

// The upstream socket is closed, the client's kept for another attempt. `q`: the queue of the
// calling thread.
static void connect_failed(int32_t i, int err, queue_t *q) {
  slot_t *s = &E->slots[i];
  if (s->ufd >= 0) close(s->ufd);
  s->ufd = -1;
  s->state = ST_FAILED;
  qpush(q, EV_CONNECT_FAILED, slot_id(i), -err, 0);
  if (q == &E->sq) E->urgent = true;
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
      return connect_failed(i, err ? err : ECONNREFUSED, &E->sq);
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
      if (!pump(i, client, ev & (EPOLLRDHUP | EPOLLHUP))) return;
    } else if ((ev & EPOLLHUP) && !from->pend) {
      // Gone both ways: nothing more can be written to it.
      dir_t *towards = client ? &s->down : &s->up;
      if (!towards->shut) return slot_end(i, true, true);
    }
  }
}

static void sweep(void) {
  uint64_t now = E->now;
  for (int32_t i = 0; i < E->nslots; i++) {
    slot_t *s = &E->slots[i];
    if (s->state == ST_CONNECTING && s->connect_timeout && now - s->since >= s->connect_timeout) connect_failed(i, ETIMEDOUT, &E->sq);
    else if (s->state == ST_RELAY && s->idle_timeout && now - s->since >= s->idle_timeout) slot_end(i, false, true);
  }
  E->last_sweep = now;
}

static void *pump_main(void *arg) {
  (void)arg;
  struct epoll_event evs[MAX_EVENTS];
  int timeout = -1;
  for (;;) {
    int n = epoll_wait(E->epfd, evs, MAX_EVENTS, timeout);
    if (n < 0 && errno != EINTR) abort();
    E->now = mono_ms();  // written and read by this thread only
    // The lock is held for the whole round: taken per event instead, JS and the pump collided
    // more often (strace: 9 futex calls a new connection instead of 4, and more CPU).
    pthread_mutex_lock(&E->mu);
    for (int k = 0; k < n; k++) {
      uint64_t d = evs[k].data.u64;
      uint32_t side = (uint32_t)(d & 3);
      if (side == SIDE_WAKE) {
        uint64_t v;
        if (read(E->wakefd, &v, sizeof v) < 0) (void)0;  // drained; the round below does the rest
        continue;
      }
      int32_t i = (int32_t)((d & 0xffffffffu) >> 2);
      if (i < E->nslots && E->slots[i].state != ST_FREE && E->slots[i].gen == (uint16_t)(d >> 32)) on_slot_event(i, side, evs[k].events);
    }
    if (E->stop) {
      pthread_mutex_unlock(&E->mu);
      return NULL;
    }
    if (E->sweep_ms && E->now - E->last_sweep >= E->sweep_ms) sweep();
    timeout = E->sweep_ms ? (int)(E->sweep_ms - (E->now - E->last_sweep)) : -1;
    bool signal = false;
    if (E->sq.len > 0 && !E->signalled) {
      if (!E->queued_at) E->queued_at = E->now;
      uint64_t waited = E->now - E->queued_at;
      signal = E->urgent || waited >= LAZY_MS;
      if (signal) E->signalled = true;
      else if (timeout < 0 || (uint64_t)timeout > LAZY_MS - waited) timeout = (int)(LAZY_MS - waited);
    }
    pthread_mutex_unlock(&E->mu);
    if (signal) uv_async_send(&E->async);
  }
}

static void wake_pump(void) {
  uint64_t one = 1;
  if (write(E->wakefd, &one, sizeof one) < 0) (void)0;  // the counter is full: a wake is pending anyway
}

// ---- JS thread ----

// Hands queued events to JS in chunks of the shared array: first the JS thread's own, then the
// pump's; JS may queue more meanwhile (a connect that failed at once), delivered in the same call.
// Slots whose EV_CLOSED was delivered are freed afterwards.
static void deliver(void) {
  if (E->delivering) return;
  E->delivering = true;
  napi_env env = E->env;
  napi_handle_scope scope;
  napi_open_handle_scope(env, &scope);
  napi_value cb, recv;
  napi_get_reference_value(env, E->cb, &cb);
  napi_get_global(env, &recv);  // napi_make_callback wants an object as `this`
  for (;;) {
    queue_t t;
    if (E->jq.len) {
      t = E->jq, E->jq = E->dq;
    } else {
      pthread_mutex_lock(&E->mu);
      t = E->sq, E->sq = E->dq;
      E->signalled = E->urgent = false;
      E->queued_at = 0;
      pthread_mutex_unlock(&E->mu);
      if (!t.len) {
        E->dq = t;
        break;
      }
    }
    E->dq = t;  // owned here while delivering; its buffer becomes a spare afterwards
    size_t off = 0;
    while (off < t.len) {
      size_t n = t.len - off;
      if (n > E->events_cap * 4) n = E->events_cap * 4;
      memcpy(E->events, t.v + off, n * sizeof(double));
      off += n;
      napi_value count, result;
      napi_create_uint32(env, (uint32_t)(n / 4), &count);
      napi_status st = napi_make_callback(env, E->actx, recv, cb, 1, &count, &result);
      if (st == napi_pending_exception) {
        napi_value e;
        napi_get_and_clear_last_exception(env, &e);
        napi_fatal_exception(env, e);
      }
    }
    pthread_mutex_lock(&E->mu);
    for (size_t k = 0; k < t.len; k += 4) {
      if (t.v[k] != EV_CLOSED) continue;
      int32_t i;
      slot_t *s = slot_of(t.v[k + 1], &i);
      if (s && s->state == ST_CLOSED) slot_free(i);
    }
    pthread_mutex_unlock(&E->mu);
    E->dq.len = 0;
  }
  napi_close_handle_scope(env, scope);
  E->delivering = false;
  update_ref();
}

static void on_async(uv_async_t *h) {
  (void)h;
  deliver();
}

static void on_resume(uv_timer_t *t);

static void on_listener(uv_poll_t *h, int status, int events) {
  (void)status, (void)events;
  listener_t *l = h->data;
  for (int k = 0; k < ACCEPT_BATCH && l->open; k++) {
    int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
      qpush(&E->jq, EV_ACCEPT, l->id, fd, 0);
      continue;
    }
    if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
      // Out of descriptors: stop watching for a while instead of spinning.
      uv_poll_stop(&l->poll);
      uv_timer_start(&l->resume, on_resume, E->sweep_ms ? E->sweep_ms : 100, 0);
    }
    break;
  }
  deliver();
}

static void on_resume(uv_timer_t *t) {
  listener_t *l = t->data;
  if (l->open) uv_poll_start(&l->poll, UV_READABLE, on_listener);
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

static void engine_close(void *arg);

// init(callback(count), events: Float64Array): creates the engine and starts the pump thread.
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
  e->free_head = -1;
  e->epfd = epoll_create1(EPOLL_CLOEXEC);
  e->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (e->epfd < 0 || e->wakefd < 0) {
    int err = errno;
    const char *what = e->epfd < 0 ? "epoll_create1" : "eventfd";
    if (e->epfd >= 0) close(e->epfd);
    free(e);
    throw_errno(env, what, err);
    return NULL;
  }
  struct epoll_event wev = {.events = EPOLLIN, .data.u64 = SIDE_WAKE};
  epoll_ctl(e->epfd, EPOLL_CTL_ADD, e->wakefd, &wev);
  pthread_mutex_init(&e->mu, NULL);
  e->env = env;
  napi_create_reference(env, argv[0], 1, &e->cb);
  napi_create_reference(env, argv[1], 1, &e->events_ref);
  e->events = data;
  e->events_cap = len / 4;
  napi_value name;
  napi_create_string_utf8(env, "PorticoRelay", NAPI_AUTO_LENGTH, &name);
  napi_async_init(env, NULL, name, &e->actx);
  napi_get_uv_event_loop(env, &e->loop);
  uv_async_init(e->loop, &e->async, on_async);
  E = e;
  update_ref();
  // Signals stay with Node's thread: the pump thread starts with all of them blocked.
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  int err = pthread_create(&e->thread, NULL, pump_main, NULL);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (err != 0) {
    engine_close(NULL);
    throw_errno(env, "pthread_create", err);
    return NULL;
  }
  e->thread_on = true;
  pthread_setname_np(e->thread, "portico-pump");  // so ps, top and the benchmark can tell it apart
  napi_add_env_cleanup_hook(env, engine_close, e);
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
  if (E->closing) {
    napi_throw_error(env, NULL, "relay engine closed");
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
    if (!E->ls[k]) {
      lid = k;
      break;
    }
  if (lid < 0) {
    listener_t **ls = realloc(E->ls, (size_t)(E->nls + 1) * sizeof *ls);
    if (!ls) abort();
    E->ls = ls;
    lid = E->nls++;
  }
  listener_t *l = calloc(1, sizeof *l);
  if (!l) abort();
  l->fd = fd;
  l->id = lid;
  l->open = true;
  uv_poll_init_socket(E->loop, &l->poll, fd);
  uv_timer_init(E->loop, &l->resume);
  l->poll.data = l->resume.data = l;
  uv_poll_start(&l->poll, UV_READABLE, on_listener);
  E->ls[lid] = l;
  E->nlisten++;
  napi_value r;
  napi_create_int32(env, lid, &r);
  return r;
}

static void free_listener_handle(uv_handle_t *h) {
  listener_t *l = h->data;
  if (++l->closed_handles == 2) free(l);
}

static void close_listener(int32_t lid) {
  listener_t *l = E->ls[lid];
  E->ls[lid] = NULL;
  E->nlisten--;
  l->open = false;
  uv_close((uv_handle_t *)&l->poll, free_listener_handle);
  uv_close((uv_handle_t *)&l->resume, free_listener_handle);
  close(l->fd);
}

// unlisten(id): stops accepting and closes the listening socket.
static napi_value js_unlisten(napi_env env, napi_callback_info info) {
  ARGS(1);
  int32_t lid = (int32_t)num(env, argv[0]);
  if (lid >= 0 && lid < E->nls && E->ls[lid]) close_listener(lid);
  return undef(env);
}

// Timeouts are checked every quarter of the shortest one given so far. Under mu; true when the
// period got shorter (the pump must hear of it).
static bool want_sweep(uint32_t ms) {
  if (!ms) return false;
  uint64_t p = ms / 4 ? ms / 4 : 1;
  if (E->sweep_ms && E->sweep_ms <= p) return false;
  if (!E->sweep_ms) E->last_sweep = mono_ms();
  E->sweep_ms = p;
  return true;
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
  double arg0 = num(env, argv[0]);
  if (E->closing) {
    // What close() delivers may ask for another attempt: there is no pump to make it.
    if (!retry) reset_fd((int)arg0);
    napi_throw_error(env, NULL, "relay engine closed");
    return NULL;
  }
  uint32_t cto = (uint32_t)num(env, argv[4]), ito = (uint32_t)num(env, argv[5]);
  // The upstream socket is made and connected before taking the lock (on loopback connect() does
  // the whole handshake): the pump waits for nothing of ours.
  int ufd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int uerr = errno, one = 1;
  if (ufd >= 0) {
    setsockopt(ufd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    uerr = connect(ufd, (struct sockaddr *)&ss, len) != 0 && errno != EINPROGRESS ? errno : 0;
  }
  pthread_mutex_lock(&E->mu);
  int32_t i;
  if (retry) {
    slot_t *s = slot_of(arg0, &i);
    if (!s || s->state != ST_FAILED) {
      pthread_mutex_unlock(&E->mu);
      if (ufd >= 0) close(ufd);
      napi_throw_error(env, NULL, "connect: no such failed connection");
      return NULL;
    }
  } else {
    i = slot_alloc();
    if (i < 0) {
      pthread_mutex_unlock(&E->mu);
      if (ufd >= 0) close(ufd);
      reset_fd((int)arg0);
      napi_throw_error(env, NULL, "connect: too many connections");
      return NULL;
    }
    E->slots[i].cfd = (int)arg0;
  }
  slot_t *s = &E->slots[i];
  s->state = ST_CONNECTING;
  s->since = mono_ms();
  s->connect_timeout = cto;
  s->idle_timeout = ito;
  bool wake = want_sweep(cto);
  wake = want_sweep(ito) || wake;
  s->ufd = ufd;
  // A connect that is done already is reported by the ADD (epoll checks readiness).
  if (ufd < 0 || uerr) connect_failed(i, uerr, &E->jq);
  else watch(ufd, EDGE, ev_data(i, SIDE_UPSTREAM), EPOLL_CTL_ADD);
  double id = slot_id(i);
  pthread_mutex_unlock(&E->mu);
  if (wake) wake_pump();
  update_ref();
  // Delivered after the current round, or on the next loop turn when JS called from outside one
  // (never from inside this call: the caller does not know the slot id yet).
  if (!E->delivering && E->jq.len) uv_async_send(&E->async);
  napi_value r;
  napi_create_double(env, id, &r);
  return r;
}

// destroy(slot, reset) → [bytesIn, bytesOut] in `out`: ends a connection at once, no event. A
// connection the pump ended meanwhile keeps its counts (its EV_CLOSED is then not for anyone).
static napi_value js_destroy(napi_env env, napi_callback_info info) {
  ARGS(3);
  bool reset = false;
  napi_get_value_bool(env, argv[1], &reset);
  napi_typedarray_type type;
  size_t len;
  void *data;
  double *o = NULL;
  if (napi_get_typedarray_info(env, argv[2], &type, &len, &data, NULL, NULL) == napi_ok && type == napi_float64_array && len >= 2) o = data;
  int32_t i;
  pthread_mutex_lock(&E->mu);
  slot_t *s = slot_of(num(env, argv[0]), &i);
  if (o) o[0] = s ? s->bin : 0, o[1] = s ? s->bout : 0;
  if (s && s->state != ST_CLOSED) slot_end(i, reset, false);
  pthread_mutex_unlock(&E->mu);
  update_ref();
  return undef(env);
}

// bytes(slot, out: Float64Array(2)): live byte counters.
static napi_value js_bytes(napi_env env, napi_callback_info info) {
  ARGS(2);
  napi_typedarray_type type;
  size_t len;
  void *data;
  if (napi_get_typedarray_info(env, argv[1], &type, &len, &data, NULL, NULL) == napi_ok && type == napi_float64_array && len >= 2) {
    double *o = data;
    pthread_mutex_lock(&E->mu);
    slot_t *s = slot_of(num(env, argv[0]), NULL);
    o[0] = s ? s->bin : 0;
    o[1] = s ? s->bout : 0;
    pthread_mutex_unlock(&E->mu);
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
  double held = 0, open = 0;
  pthread_mutex_lock(&E->mu);
  for (int32_t i = 0; i < E->nslots; i++) {
    slot_t *s = &E->slots[i];
    if (s->state == ST_FREE || s->state == ST_CLOSED) continue;
    open++;
    if (s->up.pend) held += s->up.plen - s->up.poff;
    if (s->down.pend) held += s->down.plen - s->down.poff;
  }
  pthread_mutex_unlock(&E->mu);
  napi_value r, v[3];
  napi_create_array_with_length(env, 3, &r);
  napi_create_double(env, open, &v[0]);
  napi_create_uint32(env, E->nlisten, &v[1]);
  napi_create_double(env, held, &v[2]);
  for (uint32_t k = 0; k < 3; k++) napi_set_element(env, r, k, v[k]);
  return r;
}

static void free_engine(uv_handle_t *h) {
  engine_t *e = h->data;
  free(e->sq.v);
  free(e->jq.v);
  free(e->dq.v);
  free(e->slots);
  free(e->ls);
  free(e);
}

// Stops the pump thread and resets every connection, closes every listener. From close() (with
// `arg` NULL: the events of the connections it ends are delivered first) or at the environment's
// teardown (cleanup hook, `arg` = the engine: no more JS).
static void engine_close(void *arg) {
  engine_t *e = E;
  if (!e) return;
  e->closing = true;
  if (e->thread_on) {
    pthread_mutex_lock(&e->mu);
    e->stop = true;
    pthread_mutex_unlock(&e->mu);
    wake_pump();
    pthread_join(e->thread, NULL);
    e->thread_on = false;
  }
  // The pump is gone: no lock needed from here on.
  for (int32_t l = 0; l < e->nls; l++)
    if (e->ls[l]) close_listener(l);
  for (int32_t i = 0; i < e->nslots; i++) {
    slot_t *s = &e->slots[i];
    if (s->state != ST_FREE && s->state != ST_CLOSED) slot_end(i, true, true);
  }
  if (!arg) deliver();
  close(e->epfd);
  close(e->wakefd);
  if (!arg) {
    napi_remove_env_cleanup_hook(e->env, engine_close, e);
    napi_delete_reference(e->env, e->cb);
    napi_delete_reference(e->env, e->events_ref);
    napi_async_destroy(e->env, e->actx);
  }
  pthread_mutex_destroy(&e->mu);
  E = NULL;
  e->async.data = e;
  uv_close((uv_handle_t *)&e->async, free_engine);
}

// close(): ends the engine (see engine_close); init may start a new one.
static napi_value js_close(napi_env env, napi_callback_info info) {
  (void)info;
  if (E && E->delivering) {
    napi_throw_error(env, NULL, "relay engine: close() from an event callback");
    return NULL;
  }
  engine_close(NULL);
  return undef(env);
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"init", NULL, js_init, NULL, NULL, NULL, napi_default, NULL},
      {"close", NULL, js_close, NULL, NULL, NULL, napi_default, NULL},
      {"listen", NULL, js_listen, NULL, NULL, NULL, napi_default, NULL},
      {"unlisten", NULL, js_unlisten, NULL, NULL, NULL, napi_default, NULL},
      {"connect", NULL, js_connect, NULL, NULL, NULL, napi_default, NULL},
      {"destroy", NULL, js_destroy, NULL, NULL, NULL, napi_default, NULL},
      {"bytes", NULL, js_bytes, NULL, NULL, NULL, napi_default, NULL},
      {"resetFd", NULL, js_reset_fd, NULL, NULL, NULL, napi_default, NULL},
      {"peer", NULL, js_peer, NULL, NULL, NULL, napi_default, NULL},
      {"stats", NULL, js_stats, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
