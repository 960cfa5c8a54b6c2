// Claims: one store key per allocated item (a cluster IP, a node port, a load-balancer IP), created
// only if absent. The store's create-if-absent makes allocation race-free across requests and
// across API servers sharing a store, and the claims survive restarts with the objects they serve.
import type { Store } from '../store/types.js';
import { StoreKeyExistsError, StoreKeyNotFoundError, StoreRevisionMismatchError } from '../store/types.js';

export interface Owner {
  namespace: string;
  name: string;
  uid: string;
}

export class AlreadyAllocatedError extends Error {
  override name = 'AlreadyAllocatedError';
  constructor(readonly item: string) {
    super('provided IP is already allocated');
  }
}

export class RangeFullError extends Error {
  override name = 'RangeFullError';
  constructor() {
    super('range is full');
  }
}

export class Claims {
  constructor(
    private readonly store: Store,
    /** e.g. `/registry/allocations/clusterips/` */
    readonly prefix: string,
  ) {}

  private key(item: string): string {
    return this.prefix + item;
  }

  /** Claims `item` for `owner`; claiming what the same owner (uid) already holds succeeds. */
  async claim(item: string, owner: Owner): Promise<void> {
    try {
      await this.store.create(this.key(item), JSON.stringify(owner));
    } catch (err) {
      if (!(err instanceof StoreKeyExistsError)) throw err;
      const holder = await this.holder(item);
      if (holder?.uid === owner.uid) return;
      if (!holder) return this.claim(item, owner);
      throw new AlreadyAllocatedError(item);
    }
  }

  async holder(item: string): Promise<Owner | undefined> {
    const kv = await this.store.get(this.key(item));
    return kv ? (JSON.parse(kv.value) as Owner) : undefined;
  }

  /** Releases `item` if `owner` holds it (a uid of undefined releases whoever holds it). */
  async release(item: string, ownerUID?: string): Promise<void> {
    const kv = await this.store.get(this.key(item));
    if (!kv) return;
    if (ownerUID !== undefined && (JSON.parse(kv.value) as Owner).uid !== ownerUID) return;
    try {
      await this.store.delete(kv.key, kv.modRevision);
    } catch (err) {
      if (!(err instanceof StoreKeyNotFoundError) && !(err instanceof StoreRevisionMismatchError)) throw err;
    }
  }

  async count(): Promise<number> {
    return this.store.count(this.prefix);
  }

  async all(): Promise<Map<string, Owner>> {
    const out = new Map<string, Owner>();
    const { items } = await this.store.list(this.prefix);
    for (const kv of items) out.set(kv.key.slice(this.prefix.length), JSON.parse(kv.value) as Owner);
    return out;
  }

  /**
   * Claims a free item of a range of `size` items named by `itemAt(offset)`: random probes first
   * (cheap while the range is sparse), then a scan from a random start, so a nearly full range
   * still finds its last free items and a full one reports RangeFullError.
   */
  async allocateAny(size: number, itemAt: (offset: number) => string, owner: Owner): Promise<string> {
    if (size <= 0) throw new RangeFullError();
    for (let i = 0; i < 16; i++) {
      const item = itemAt(Math.floor(Math.random() * size));
      try {
        await this.claim(item, owner);
        return item;
      } catch (err) {
        if (!(err instanceof AlreadyAllocatedError)) throw err;
      }
    }
    const taken = await this.all();
    const start = Math.floor(Math.random() * size);
    for (let i = 0; i < size; i++) {
      const item = itemAt((start + i) % size);
      if (taken.has(item)) continue;
      try {
        await this.claim(item, owner);
        return item;
      } catch (err) {
        if (!(err instanceof AlreadyAllocatedError)) throw err;
      }
    }
    throw new RangeFullError();
  }
}
