/**
 * Polls `f` every `intervalMs` until it returns something truthy and returns that; after `boundMs`
 * throws naming `what` and the last error `f` threw (a bound on waiting, not a timing assertion).
 */
export async function pollUntil<T>(what: string, f: () => Promise<T | undefined | false>, boundMs: number, intervalMs: number): Promise<T> {
  const end = Date.now() + boundMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await f();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
