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
      "cflags": ["-O2", "-Wall"]
    }
  ]
}
