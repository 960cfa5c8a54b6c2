// What the N-API addons (nfnl.c, udpmmsg.c) share: the check of an N-API call, and a thrown Error
// carrying `errno` (and `code` by name for the errors callers tell apart) for a failed syscall.
#ifndef PORTICO_NAPI_UTIL_H
#define PORTICO_NAPI_UTIL_H
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <node_api.h>

#define CHECK(call)                                                     \
  do {                                                                  \
    if ((call) != napi_ok) {                                            \
      napi_throw_error(env, NULL, "napi call failed: " #call);          \
      return NULL;                                                      \
    }                                                                   \
  } while (0)

static inline napi_value throw_errno(napi_env env, const char *what, int err) {
  char msg[256], c[32];
  snprintf(msg, sizeof msg, "%s: %s", what, strerror(err));
  const char *name = err == EADDRINUSE ? "EADDRINUSE" : err == EADDRNOTAVAIL ? "EADDRNOTAVAIL" : err == EACCES ? "EACCES" : NULL;
  if (name) snprintf(c, sizeof c, "%s", name);
  else snprintf(c, sizeof c, "ERRNO_%d", err);
  napi_value code, text, e, errnoV;
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &text);
  napi_create_string_utf8(env, c, NAPI_AUTO_LENGTH, &code);
  napi_create_error(env, code, text, &e);
  napi_create_int32(env, err, &errnoV);
  napi_set_named_property(env, e, "errno", errnoV);
  napi_throw(env, e);
  return NULL;
}

#endif
