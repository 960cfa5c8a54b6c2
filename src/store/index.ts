// Picks the Store implementation by name. Every implementation speaks the same contract
// (types.ts); 'etcd' will join here with the same signature.
import { join } from 'node:path';
import { MemoryStore } from './memory.js';
import { SqliteStore } from './sqlite.js';
import type { Store } from './types.js';

export type StoreKind = 'sqlite' | 'memory';

export const STORE_KINDS: readonly StoreKind[] = ['sqlite', 'memory'];

/** Opens a store; sqlite keeps its file at `<dataDir>/state.db`. */
export async function openStore(kind: StoreKind, dataDir?: string): Promise<Store> {
  switch (kind) {
    case 'memory':
      return new MemoryStore();
    case 'sqlite':
      if (!dataDir) throw new Error('the sqlite store needs a data directory');
      return SqliteStore.open(join(dataDir, 'state.db'));
    default: {
      const never: never = kind;
      throw new Error(`unknown store kind: ${String(never)}`);
    }
  }
}

export { MemoryStore } from './memory.js';
export { SqliteStore } from './sqlite.js';
export * from './types.js';
