#!/usr/bin/env -S node --max-semi-space-size=4 --expose-gc
// The flags above trade a little GC CPU for memory (bench/api, BENCHMARKS.md "API server"): a
// 4 MB V8 semi-space instead of 16 MB, and `gc()` for src/util/idlegc.ts, which runs one full
// collection when the server goes quiet after a burst that grew the heap.
// Thin launcher: the CLI is compiled to dist/ by `npm ci` (the prepare script).
import('../dist/src/cli/main.js').then((m) => m.main(process.argv.slice(2)));
