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
