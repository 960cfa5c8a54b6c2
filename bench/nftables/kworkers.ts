// The kernel's deferred work, seen from user space: CPU time of the kernel threads that run it
// (a deleted network namespace is torn down by a kworker after `ip netns del` has returned).
import { readdirSync, readFileSync } from 'node:fs';

export const TICK_MS = 10; // USER_HZ 100

/** CPU ms used so far by kernel threads that do deferred work (kworker, ksoftirqd, rcu*), from /proc/<pid>/stat. */
export function kworkerMs(): number {
  let ticks = 0;
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    } catch {
      continue;
    }
    const close = stat.lastIndexOf(')');
    if (!/^(kworker|ksoftirqd|rcu)/.test(stat.slice(stat.indexOf('(') + 1, close))) continue;
    const f = stat.slice(close + 2).split(' ');
    ticks += Number(f[11]) + Number(f[12]); // utime, stime (fields 14 and 15)
  }
  return ticks * TICK_MS;
}

/** Waits until kernel workers use no CPU for `quietMs`, up to `maxMs`; returns how long it took. */
export async function kworkersQuiet(quietMs = 600, maxMs = 60_000, stepMs = 200): Promise<number> {
  const t0 = performance.now();
  let last = kworkerMs();
  let quietSince = performance.now();
  while (performance.now() - t0 < maxMs) {
    await new Promise((r) => setTimeout(r, stepMs));
    const now = kworkerMs();
    // One tick of slack: other namespaces' housekeeping never stops entirely.
    if (now - last > TICK_MS) quietSince = performance.now();
    last = now;
    if (performance.now() - quietSince >= quietMs) break;
  }
  return performance.now() - t0;
}
