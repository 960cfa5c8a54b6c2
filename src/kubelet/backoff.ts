// Container restart back-off as kubelet does it: the first crash restarts at once, each further
// crash in a row waits twice as long as the one before, from 10 s up to 5 min; a container that ran
// longer than `resetAfterMs` (kubelet: twice the maximum) starts the count afresh. Pure.

export interface BackoffOptions {
  initialMs: number;
  maxMs: number;
  /** A run at least this long resets the count (kubelet: 2 × maxMs). */
  resetAfterMs: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 10_000, maxMs: 300_000, resetAfterMs: 600_000 };

/** The delay before restarting after the `crashesInARow`-th crash in a row (1 = the first). */
export function restartDelay(crashesInARow: number, o: BackoffOptions = DEFAULT_BACKOFF): number {
  if (crashesInARow <= 1) return 0;
  const exp = Math.min(crashesInARow - 2, 40);
  return Math.min(o.initialMs * 2 ** exp, o.maxMs);
}

/** The crash count after one more exit of a run that lasted `ranMs`. */
export function nextCrashCount(previous: number, ranMs: number, o: BackoffOptions = DEFAULT_BACKOFF): number {
  return ranMs >= o.resetAfterMs ? 1 : previous + 1;
}

/** Whether a container that exited with `exitCode` is started again under the pod's restartPolicy. */
export function shouldRestart(restartPolicy: string | undefined, exitCode: number): boolean {
  switch (restartPolicy ?? 'Always') {
    case 'Always':
      return true;
    case 'OnFailure':
      return exitCode !== 0;
    default:
      return false;
  }
}
