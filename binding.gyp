{
  "targets": [
    {
      "target_name": "portico_nfnl",
      "sources": ["native/nfnl.c"],
      "cflags": ["-O2", "-Wall"]
    },
    {
      "target_name": "portico_udpmmsg",
      "sources": ["native/udpmmsg.c"],
      "cflags": ["-O2", "-Wall"]
    },
    {
      "target_name": "portico_relay",
      "sources": ["native/relay.c"],
      "cflags": ["-O2", "-Wall"],
      "variables": {
        "liburing%": "<!(test -f /usr/include/liburing.h && echo 1 || echo 0)"
      },
      "conditions": [
        ["liburing==1", {"defines": ["PORTICO_URING"], "libraries": ["-luring"]}]
      ]
    }
  ]
}
