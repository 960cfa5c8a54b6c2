// Helper process for sqlite.test.ts: creates keys in a loop and prints each key once its create
// has been acknowledged, until the parent kills it. Usage: node durability-child.js <db path>
import { SqliteStore } from './sqlite.js';

const path = process.argv[2];
if (!path) {
  process.stderr.write('usage: durability-child <db path>\n');
  process.exit(2);
}
const store = await SqliteStore.open(path);
// Bounded so a parent that forgets to kill us cannot leave a process running forever.
for (let i = 0; i < 1_000_000; i++) {
  const key = `/durability/k${String(i).padStart(7, '0')}`;
  await store.create(key, JSON.stringify({ i }));
  // stdout to a pipe is synchronous on Linux: the line is out before the next write starts.
  process.stdout.write(`${key}\n`);
}
await store.close();
