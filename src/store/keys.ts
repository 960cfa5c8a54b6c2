// Key-range helpers shared by the store implementations. A prefix is turned into a half-open range
// [prefix, end) so SQL can use the primary-key index; no LIKE, so `_` and `%` in keys are plain text.

/**
 * The smallest string greater than every string that starts with `prefix`, in code point order
 * (SQLite's BINARY collation on UTF-8 text). Undefined when no tight bound exists in that order
 * (empty prefix, or a last code unit that is 0xFFFF or a surrogate): callers then filter exactly.
 */
export function prefixEnd(prefix: string): string | undefined {
  if (prefix === '') return undefined;
  const last = prefix.charCodeAt(prefix.length - 1);
  const head = prefix.slice(0, -1);
  if (last >= 0xd800 && last <= 0xdfff) return undefined;
  if (last === 0xffff) return undefined;
  // U+D7FF + 1 would be a lone surrogate; the next code point in UTF-8 order is U+E000.
  if (last === 0xd7ff) return head + '\ue000';
  return head + String.fromCharCode(last + 1);
}

/** Sorted-array lower bound: the first index whose element is >= key (JS string order). */
export function lowerBound(sorted: readonly string[], key: string): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((sorted[mid] as string) < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * The keys of a map in sorted order, for range reads. Inserting into a sorted array moves half of
 * it per write, which made 140,000 creates quadratic (seconds of memmove); instead writes are
 * noted and folded in, with one sort of the new keys and one merge, when a range is next read.
 */
export class SortedKeys {
  private sorted: string[] = [];
  private added: string[] = [];
  private removals = 0;

  add(key: string): void {
    this.added.push(key);
  }

  remove(): void {
    this.removals++;
  }

  /**
   * The live keys in JS string order; `live` says whether a key exists now (a key may have been
   * added, removed and added again since the last read). The array is valid until the next write.
   */
  array(live: (key: string) => boolean): readonly string[] {
    if (this.added.length === 0 && this.removals === 0) return this.sorted;
    const base = this.removals === 0 ? this.sorted : this.sorted.filter(live);
    const fresh = [...new Set(this.added)].filter(live).sort();
    const out: string[] = [];
    let i = 0;
    let j = 0;
    while (i < base.length || j < fresh.length) {
      const a = base[i];
      const b = fresh[j];
      if (b === undefined || (a !== undefined && a < b)) {
        out.push(a as string);
        i++;
      } else {
        // A key removed and added again since the last read is in both: kept once.
        if (a === b) i++;
        out.push(b);
        j++;
      }
    }
    this.sorted = out;
    this.added = [];
    this.removals = 0;
    return out;
  }
}
