// The first-connection client (run with `node -e CONNECT_CLIENT TARGETS COUNT` in a client
// namespace): 10 warm-up rounds, then COUNT rounds of one fresh TCP connection to each target's
// port 80, order reversed every other round; prints `RESULT {target: [ms to connect, -1 = failed]}`.
// Shared by bench/nftables (first-connection part) and bench/iptables/firstconn.ts.
export const CONNECT_CLIENT = `
const net = require('node:net');
const [targets, count] = [process.argv[1].split(','), Number(process.argv[2])];
const one = (host) => new Promise((resolve) => {
  const t0 = process.hrtime.bigint();
  const s = net.connect({ host, port: 80 });
  s.setNoDelay(true);
  s.once('connect', () => { const ms = Number(process.hrtime.bigint() - t0) / 1e6; s.destroy(); resolve(ms); });
  s.once('error', () => { s.destroy(); resolve(-1); });
  s.setTimeout(3000, () => { s.destroy(); resolve(-1); });
});
(async () => {
  const out = Object.fromEntries(targets.map((t) => [t, []]));
  for (let i = 0; i < 10; i++) for (const t of targets) await one(t);
  for (let i = 0; i < count; i++) {
    const order = i % 2 ? [...targets].reverse() : targets;
    for (const t of order) { out[t].push(await one(t)); await new Promise((r) => setTimeout(r, 3)); }
  }
  process.stdout.write('RESULT ' + JSON.stringify(out) + '\\n');
})();
`;
