#!/usr/bin/env -S node --max-semi-space-size=4 --gc-memory-reducer-start-delay-ms=1000
// The V8 flags above trade a little GC CPU for memory (bench/api, BENCHMARKS.md "API server"):
// a 4 MB semi-space instead of 16 MB, and V8's memory reducer (a full GC that gives pages back)
// 1 s after a burst of work instead of 8 s.
// Thin launcher: the CLI is compiled to dist/ by `npm ci` (the prepare script).
import('../dist/src/cli/main.js').then((m) => m.main(process.argv.slice(2)));
