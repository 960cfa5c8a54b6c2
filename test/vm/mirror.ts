// Runs a test file inside the VM (qemu.ts) and replays its results on the host as subtests of one
// host test, so `node --test` on the host counts what passed, failed, was skipped (with the inner
// reason) or todo inside. The VM boots once per file. If the VM cannot run, or the inner run does
// not finish, the host test fails with the reason: never a skip, never a silent pass.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join, relative } from 'node:path';
import { runInVm } from './qemu.js';
import type { VmTestRecord } from './reporter.js';
import { REPO_ROOT } from '../scenarios/plan.js';

export interface VmFileOptions {
  /** Bound for the whole VM run (boot, tests, power-off). */
  timeoutMs: number;
  memoryMb?: number;
  /** Environment for the inner run. */
  env?: Record<string, string>;
}

/** Whether this process runs inside the test VM (set by qemu.ts for the guest command). */
export const IN_VM = process.env.PORTICO_VM === '1';

/**
 * On the host: one test that boots the VM, runs `node --test <file>` in it and replays every inner
 * test as a subtest. `file` is this compiled test file (import.meta.url's path).
 */
export function mirrorInVm(title: string, file: string, o: VmFileOptions): void {
  test(title, { timeout: o.timeoutMs + 60_000 }, async (t) => {
    const reporter = join(REPO_ROOT, 'dist', 'test', 'vm', 'reporter.js');
    const rel = relative(REPO_ROOT, file);
    const command = `node --test --test-concurrency=1 --test-reporter=${reporter} --test-reporter-destination="$VM_OUT/results.jsonl" --test-reporter=spec --test-reporter-destination=stdout ${rel}`;
    const started = Date.now();
    const r = await runInVm({ command, cwd: REPO_ROOT, timeoutMs: o.timeoutMs, memoryMb: o.memoryMb, env: o.env });
    const records = (r.files.get('results.jsonl')?.toString('utf8') ?? '')
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => JSON.parse(l) as VmTestRecord);
    t.diagnostic(`VM: booted in ${r.bootSeconds.toFixed(1)} s, whole run ${((Date.now() - started) / 1000).toFixed(0)} s, inner exit ${r.code}`);
    for (const rec of records) {
      if (rec.kind === 'diagnostic') {
        t.diagnostic(`[vm] ${rec.path.join(' > ')}: ${rec.message}`);
        continue;
      }
      const name = rec.path.join(' > ');
      if (rec.suite) {
        // A suite fails by itself when a hook does (e.g. building the cluster): report that error.
        if (!rec.ok) await t.test(`${name} (suite)`, () => assert.fail(`suite failed inside the VM:\n${rec.error ?? ''}`));
        continue;
      }
      await t.test(name, { skip: rec.skip, todo: rec.todo }, () => {
        if (!rec.ok) throw new Error(`failed inside the VM (${Math.round(rec.durationMs ?? 0)} ms):\n${rec.error ?? ''}`);
      });
    }
    const tail = (s: string, n = 4000) => s.slice(-n);
    if (r.timedOut || r.code === null) {
      throw new Error(`the VM run of ${rel} did not finish within ${o.timeoutMs} ms; stdout tail:\n${tail(r.stdout)}\nstderr tail:\n${tail(r.stderr)}\nconsole tail:\n${tail(r.console, 2000)}`);
    }
    if (records.filter((x) => x.kind === 'test' && !x.suite).length === 0) {
      throw new Error(`the VM run of ${rel} reported no test (exit ${r.code}); stdout:\n${tail(r.stdout)}\nstderr:\n${tail(r.stderr)}`);
    }
    if (r.code !== 0 && records.every((x) => x.ok || x.todo)) {
      throw new Error(`node --test exited ${r.code} inside the VM though every test passed; stderr:\n${tail(r.stderr)}`);
    }
  });
}

