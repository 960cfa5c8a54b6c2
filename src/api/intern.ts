// One copy of each repeated string value across the decoded objects the API server keeps
// (informer caches, watch and list readers): JSON.parse makes a new string for every value, so
// 50,000 Pods would otherwise hold 50,000 copies each of "IfNotPresent", "ClusterFirst", their
// namespace, image and creation second. Keys need nothing: V8 internalizes property names.

/** Strings longer than this are rarely repeated (uids, annotations): left alone. */
const MAX_LENGTH = 64;

export class StringInterner {
  private table = new Map<string, string>();

  /** `capacity` bounds the table: when full it starts over, so unique values cannot pile up. */
  constructor(private readonly capacity = 8192) {}

  get size(): number {
    return this.table.size;
  }

  /** Replaces, in place, every short string value inside `value` with its canonical copy. */
  internAll<T>(value: T): T {
    this.walk(value as unknown);
    return value;
  }

  private str(s: string): string {
    if (s.length > MAX_LENGTH) return s;
    const hit = this.table.get(s);
    if (hit !== undefined) return hit;
    if (this.table.size >= this.capacity) this.table = new Map();
    this.table.set(s, s);
    return s;
  }

  private walk(v: unknown): void {
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) {
        const e: unknown = v[i];
        if (typeof e === 'string') v[i] = this.str(e);
        else if (e !== null && typeof e === 'object') this.walk(e);
      }
      return;
    }
    const o = v as Record<string, unknown>;
    for (const k in o) {
      const e = o[k];
      if (typeof e === 'string') o[k] = this.str(e);
      else if (e !== null && typeof e === 'object') this.walk(e);
    }
  }
}
