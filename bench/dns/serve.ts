// Starts Portico's DNS server with N ClusterIP Services (svc-<i>.bench.svc.cluster.local, with a
// named port `http`) from fake informers, for dnsperf and the fuzz run.
// Usage: node dist/bench/dns/serve.js PORT [N=1000] [WORKERS=1] [UDP_IO=recvmmsg|dgram|auto]. Prints "ready <port>" when
// listening; warnings (a worker that died, ...) go to stderr as pino JSON.
import { pino } from 'pino';
import { FakeInformer } from '../../src/client/fake.js';
import type { Service } from '../../src/registry/kinds/service.js';
import type { EndpointSlice } from '../../src/registry/kinds/endpointslice.js';
import { startDnsServer } from '../../src/dns/server.js';

export function benchIP(i: number): string {
  return `198.18.${(i >> 8) & 255}.${i & 255}`;
}

const port = Number(process.argv[2] ?? 5353);
const n = Number(process.argv[3] ?? 1000);
const workers = Number(process.argv[4] ?? 1);
const udpIoArg = process.argv[5] ?? 'auto';
const udpIo = udpIoArg === 'recvmmsg' || udpIoArg === 'dgram' ? udpIoArg : undefined;
const services: Service[] = [];
for (let i = 0; i < n; i++) {
  services.push({ apiVersion: 'v1', kind: 'Service', metadata: { namespace: 'bench', name: `svc-${i}` }, spec: { clusterIP: benchIP(i), ports: [{ name: 'http', port: 80, protocol: 'TCP' }] } });
}
const server = await startDnsServer({
  listen: `127.0.0.1:${port}`, services: new FakeInformer(services), endpointSlices: new FakeInformer<EndpointSlice>([]),
  upstreams: [], workers, ...(udpIo ? { udpIo } : {}), logger: pino({ level: 'warn' }, pino.destination(2)),
});
process.stdout.write(`ready ${server.port} ${server.udpIo}\n`);
process.on('SIGTERM', () => void server.close().then(() => process.exit(0)));
