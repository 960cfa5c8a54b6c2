// One proxy under test, in its own process so its CPU time and RSS can be read from /proc:
//   node dist/bench/userspace/proxy.js portico|naive LISTEN_IP:PORT BACKEND_IP:PORT [--workers N] [--relay native|js]
// `portico` is the userspace proxier (one Service, one endpoint); `naive` is the reference point of
// DESIGN.md, a `socket.pipe` relay. With --workers N > 1 the listener is shared by N processes
// (node:cluster, SCHED_NONE: every worker accepts on the same socket), each running its own
// proxier over the same model. Prints one JSON line `{"pids":[...]}` once every process listens;
// SIGTERM ends them all.
import cluster from 'node:cluster';
import net from 'node:net';
import { ep, modelOf, sport } from '../../src/proxy/testing.js';
import { UserspaceProxier } from '../../src/proxy/userspace/proxier.js';
import type { RelayKind } from '../../src/proxy/userspace/native.js';

const [kind, listen, backend] = process.argv.slice(2);
const wi = process.argv.indexOf('--workers');
const workers = wi > 0 ? Number(process.argv[wi + 1]) : 1;
const ri = process.argv.indexOf('--relay');
const relay = ri > 0 ? process.argv[ri + 1] : 'auto';
if ((kind !== 'portico' && kind !== 'naive') || !listen || !backend || !(workers >= 1) || (relay !== 'auto' && relay !== 'native' && relay !== 'js')) {
  console.error('usage: proxy.js portico|naive LISTEN_IP:PORT BACKEND_IP:PORT [--workers N] [--relay native|js]');
  process.exit(2);
}
const split = (hp: string) => {
  const i = hp.lastIndexOf(':');
  return { ip: hp.slice(0, i), port: Number(hp.slice(i + 1)) };
};
const L = split(listen);
const B = split(backend);

async function serve(shared: boolean): Promise<() => Promise<void>> {
  if (kind === 'naive') {
    const server = net.createServer((c) => {
      const u = net.connect({ host: B.ip, port: B.port });
      c.pipe(u).pipe(c);
      c.on('error', () => u.destroy());
      u.on('error', () => c.destroy());
    });
    await new Promise<void>((resolve) => server.listen({ host: L.ip, port: L.port, backlog: 4096 }, resolve));
    return () => new Promise((resolve) => server.close(() => resolve()));
  }
  const proxier = new UserspaceProxier({ nodeName: 'bench', nodeIPs: [], shareListeners: shared, relay: relay as RelayKind });
  await proxier.sync(modelOf([sport({ name: 'nginx', clusterIP: L.ip, port: L.port, endpoints: [ep(B.ip, B.port)] })]), 'full');
  if (proxier.metrics().listenersOpen !== 1) throw new Error(`portico could not listen on ${listen}`);
  return () => proxier.close();
}

if (workers > 1 && cluster.isPrimary) {
  cluster.schedulingPolicy = cluster.SCHED_NONE;
  const pids: number[] = [];
  for (let i = 0; i < workers; i++) {
    const w = cluster.fork();
    w.once('message', () => {
      pids.push(w.process.pid!);
      if (pids.length === workers) console.log(JSON.stringify({ pids: [process.pid, ...pids] }));
    });
  }
  process.once('SIGTERM', () => {
    for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGTERM');
    cluster.once('exit', () => undefined);
    setTimeout(() => process.exit(0), 500);
  });
} else {
  const stop = await serve(workers > 1);
  if (cluster.isWorker) process.send!('ready');
  else console.log(JSON.stringify({ pids: [process.pid] }));
  // Exit through process.exit so --cpu-prof writes its profile.
  process.once('SIGTERM', () => void stop().finally(() => process.exit(0)));
}
