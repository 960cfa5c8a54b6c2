// Revision helpers shared by the store implementations.
import { StoreCompactedError } from './types.js';

/**
 * The revision a read at `revision` is served at: the current one when unset (0 or undefined);
 * a compacted one is an error, as is one from the future.
 */
export function resolveRevision(revision: number | undefined, current: number, compacted: number): number {
  if (!revision) return current;
  if (revision < compacted) throw new StoreCompactedError(revision, compacted);
  if (revision > current) throw new RangeError(`revision ${revision} is in the future (current ${current})`);
  return revision;
}
