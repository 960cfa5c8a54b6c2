{
  "targets": [
    {
      "target_name": "portico_nfnl",
      "sources": ["native/nfnl.c"],
      "cflags": ["-O2", "-Wall"]
    }
  ]
}
