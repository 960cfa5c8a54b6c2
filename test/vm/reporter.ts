// A node:test reporter for runs inside the VM: one JSON line per finished test (path of names,
// pass/fail, skip/todo reasons, error text, duration) and per diagnostic, so the host can replay
// the results as its own tests (mirror.ts). Used as `--test-reporter=<this file's .js>`.
import type { TestEvent } from 'node:test/reporters';

export interface VmTestRecord {
  kind: 'test' | 'diagnostic';
  /** Names from the outermost suite down to the test. */
  path: string[];
  ok?: boolean;
  skip?: string | boolean;
  todo?: string | boolean;
  suite?: boolean;
  error?: string;
  durationMs?: number;
  message?: string;
}

function errorText(e: unknown): string {
  if (!(e instanceof Error)) return String(e);
  const cause = (e as Error & { cause?: unknown }).cause;
  const inner = cause instanceof Error ? cause : undefined;
  return (inner?.stack ?? inner?.message ?? e.stack ?? e.message).slice(0, 8000);
}

export default async function* reporter(source: AsyncIterable<TestEvent>): AsyncGenerator<string> {
  const stack: string[] = [];
  for await (const ev of source) {
    if (ev.type === 'test:start') {
      stack.length = ev.data.nesting;
      stack.push(ev.data.name);
    } else if (ev.type === 'test:pass' || ev.type === 'test:fail') {
      const d = ev.data;
      const rec: VmTestRecord = {
        kind: 'test',
        path: [...stack.slice(0, d.nesting), d.name],
        ok: ev.type === 'test:pass',
        suite: (d.details as { type?: string }).type === 'suite',
        durationMs: d.details.duration_ms,
      };
      if (d.skip !== undefined) rec.skip = d.skip;
      if (d.todo !== undefined) rec.todo = d.todo;
      if (ev.type === 'test:fail') rec.error = errorText(ev.data.details.error);
      yield JSON.stringify(rec) + '\n';
    } else if (ev.type === 'test:diagnostic') {
      yield JSON.stringify({ kind: 'diagnostic', path: stack.slice(0, ev.data.nesting), message: ev.data.message } satisfies VmTestRecord) + '\n';
    }
  }
}
