// The store contract: an etcd-shaped, revisioned key-value store. One global revision counter
// increases by one for every write; an object's resourceVersion is the revision that last wrote it.
// Implementations: memory (tests), sqlite (default, embedded), and later etcd; callers never know
// which one they talk to, so every method is async even where the implementation is not.

export interface KeyValue {
  key: string;
  /** The stored bytes (Portico stores JSON text). */
  value: string;
  /** Revision of the write that created this key (etcd create_revision). */
  createRevision: number;
  /** Revision of the last write to this key (etcd mod_revision) = the object's resourceVersion. */
  modRevision: number;
}

export interface ListOptions {
  /** Read as of this revision (0 or undefined = now). Older than the compacted revision → StoreCompactedError. */
  revision?: number;
  /** At most this many items (0 or undefined = all). */
  limit?: number;
  /** Start strictly after this key (the continue token carries it). */
  startAfter?: string;
}

export interface ListResult {
  items: KeyValue[];
  /** The revision the list was read at; resume a watch from here. */
  revision: number;
  /** True when `limit` cut the list; continue with startAfter = last item's key and the same revision. */
  more: boolean;
}

export type WatchEventType = 'PUT' | 'DELETE';

export interface WatchEvent {
  type: WatchEventType;
  /** For PUT: the new value. For DELETE: the last value with modRevision = the delete's revision. */
  kv: KeyValue;
  /** The value before this event (undefined for a create). */
  prevKv?: KeyValue;
  /** True when this PUT created the key. */
  created: boolean;
}

export interface Watcher {
  /** Stops delivery; safe to call more than once. */
  cancel(): void;
}

export interface WatchOptions {
  /** Deliver every event with revision > afterRevision, in order. Older than compacted → StoreCompactedError (thrown by watch()). */
  afterRevision: number;
  /** Called with events in revision order, never concurrently. */
  onEvents: (events: WatchEvent[]) => void;
  /** Called once if the watch can no longer continue (store closed, watcher too slow); no events follow. */
  onError?: (err: Error) => void;
}

export interface Store {
  /** The newest revision. */
  currentRevision(): Promise<number>;
  /** The oldest revision a list or watch may still ask for (everything at or below was compacted away). */
  compactedRevision(): Promise<number>;
  get(key: string): Promise<KeyValue | undefined>;
  /** Keys starting with prefix, in key order. */
  list(prefix: string, opts?: ListOptions): Promise<ListResult>;
  /** Number of live keys under prefix. */
  count(prefix: string): Promise<number>;
  /** Fails with StoreKeyExistsError if the key is live. */
  create(key: string, value: string): Promise<KeyValue>;
  /**
   * Replaces the value if the key's modRevision equals expectedModRevision.
   * Missing key → StoreKeyNotFoundError; other revision → StoreRevisionMismatchError (carrying the current kv).
   */
  update(key: string, value: string, expectedModRevision: number): Promise<KeyValue>;
  /** Deletes the key (guarded when expectedModRevision is given). Returns the deleted kv with modRevision = delete revision. */
  delete(key: string, expectedModRevision?: number): Promise<KeyValue>;
  /** Watches keys under prefix. Events are delivered asynchronously after the write's promise resolves. */
  watch(prefix: string, opts: WatchOptions): Promise<Watcher>;
  /** Forgets history at or below `revision` (current values are kept). */
  compact(revision: number): Promise<void>;
  close(): Promise<void>;
}

export class StoreKeyExistsError extends Error {
  override name = 'StoreKeyExistsError';
  readonly code = 'KeyExists';
  constructor(readonly key: string) {
    super(`key exists: ${key}`);
  }
}

export class StoreKeyNotFoundError extends Error {
  override name = 'StoreKeyNotFoundError';
  readonly code = 'KeyNotFound';
  constructor(readonly key: string) {
    super(`key not found: ${key}`);
  }
}

export class StoreRevisionMismatchError extends Error {
  override name = 'StoreRevisionMismatchError';
  readonly code = 'RevisionMismatch';
  constructor(
    readonly key: string,
    readonly expected: number,
    readonly current: KeyValue,
  ) {
    super(`revision mismatch on ${key}: expected ${expected}, current ${current.modRevision}`);
  }
}

export class StoreCompactedError extends Error {
  override name = 'StoreCompactedError';
  readonly code = 'Compacted';
  constructor(
    readonly requested: number,
    readonly compacted: number,
  ) {
    super(`required revision ${requested} has been compacted (compacted revision ${compacted})`);
  }
}

export class StoreClosedError extends Error {
  override name = 'StoreClosedError';
  readonly code = 'Closed';
  constructor() {
    super('store is closed');
  }
}
