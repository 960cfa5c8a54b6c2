// A minimal NETLINK_NETFILTER socket for Node (N-API, no dependencies): open (optionally inside a
// network namespace), send one prepared batch with a single sendmsg, read back the error and ACK
// messages. Every message is built in TypeScript (src/proxy/nftables/netlink/); this file knows
// nothing of nf_tables.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/netlink.h>
#include <node_api.h>
#include "napi_util.h"

// The callback's arguments, and the first one as a file descriptor.
static bool fd_args(napi_env env, napi_callback_info info, size_t *argc, napi_value *argv, int32_t *fd) {
  if (napi_get_cb_info(env, info, argc, argv, NULL, NULL) != napi_ok || *argc < 1 || napi_get_value_int32(env, argv[0], fd) != napi_ok) {
    napi_throw_type_error(env, NULL, "expected a socket descriptor");
    return false;
  }
  return true;
}

// open(netnsPath?: string): number — a bound NETLINK_NETFILTER socket, created inside the network
// namespace at netnsPath when given (the calling thread switches there and back).
static napi_value nl_open(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  char path[512] = "";
  if (argc >= 1) {
    napi_valuetype t;
    CHECK(napi_typeof(env, argv[0], &t));
    if (t == napi_string) {
      size_t len;
      CHECK(napi_get_value_string_utf8(env, argv[0], path, sizeof path, &len));
    }
  }
  int self = -1, target = -1;
  if (path[0]) {
    self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (self < 0) return throw_errno(env, "open /proc/thread-self/ns/net", errno);
    target = open(path, O_RDONLY | O_CLOEXEC);
    if (target < 0) { int e = errno; close(self); return throw_errno(env, path, e); }
    if (setns(target, CLONE_NEWNET) < 0) { int e = errno; close(self); close(target); return throw_errno(env, "setns", e); }
  }
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
  int sockErr = errno;
  if (self >= 0) {
    if (setns(self, CLONE_NEWNET) < 0) abort(); // never leave this thread in another namespace
    close(self);
    close(target);
  }
  if (fd < 0) return throw_errno(env, "socket(AF_NETLINK, NETLINK_NETFILTER)", sockErr);
  int one = 1;
  // Extended ACKs carry the kernel's message for a rejected attribute; capped ACKs keep errors short.
  setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof one);
  setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof one);
  int rcv = 4 << 20;
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcv, sizeof rcv) < 0) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof rcv);
  struct sockaddr_nl sa = {.nl_family = AF_NETLINK};
  if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) { int e = errno; close(fd); return throw_errno(env, "bind", e); }
  napi_value out;
  CHECK(napi_create_int32(env, fd, &out));
  return out;
}

// send(fd, batch: Uint8Array): void — one sendmsg; the kernel processes the whole batch in it.
static napi_value nl_send(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  int32_t fd;
  if (!fd_args(env, info, &argc, argv, &fd)) return NULL;
  void *data;
  size_t len;
  napi_typedarray_type tt;
  napi_value ab;
  size_t off;
  CHECK(napi_get_typedarray_info(env, argv[1], &tt, &len, &data, &ab, &off));
  int snd = (int)(len + 65536);
  if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &snd, sizeof snd) < 0) setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &snd, sizeof snd);
  struct sockaddr_nl sa = {.nl_family = AF_NETLINK};
  struct iovec iov = {.iov_base = data, .iov_len = len};
  struct msghdr mh = {.msg_name = &sa, .msg_namelen = sizeof sa, .msg_iov = &iov, .msg_iovlen = 1};
  ssize_t n;
  do n = sendmsg(fd, &mh, 0); while (n < 0 && errno == EINTR);
  if (n < 0) return throw_errno(env, "sendmsg", errno);
  return NULL;
}

// recv(fd, wait: boolean): Uint8Array | null — one datagram (possibly several messages); null when
// nothing is queued and wait is false.
static napi_value nl_recv(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  int32_t fd;
  if (!fd_args(env, info, &argc, argv, &fd)) return NULL;
  bool wait = false;
  if (argc >= 2) napi_get_value_bool(env, argv[1], &wait);
  static char buf[1 << 16];
  ssize_t n;
  do n = recv(fd, buf, sizeof buf, wait ? 0 : MSG_DONTWAIT); while (n < 0 && errno == EINTR);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      napi_value nul;
      napi_get_null(env, &nul);
      return nul;
    }
    return throw_errno(env, "recv", errno);
  }
  void *out;
  napi_value ab, arr;
  CHECK(napi_create_arraybuffer(env, (size_t)n, &out, &ab));
  memcpy(out, buf, (size_t)n);
  CHECK(napi_create_typedarray(env, napi_uint8_array, (size_t)n, ab, 0, &arr));
  return arr;
}

static napi_value nl_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int32_t fd;
  if (!fd_args(env, info, &argc, argv, &fd)) return NULL;
  close(fd);
  return NULL;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"open", NULL, nl_open, NULL, NULL, NULL, napi_default, NULL},
      {"send", NULL, nl_send, NULL, NULL, NULL, napi_default, NULL},
      {"recv", NULL, nl_recv, NULL, NULL, NULL, napi_default, NULL},
      {"close", NULL, nl_close, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
