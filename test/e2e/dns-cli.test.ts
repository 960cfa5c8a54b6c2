// `portico dns` as its own process against Portico's API over HTTPS (kubeconfig), as run by default
// (one process, UDP through recvmmsg/sendmmsg) and with two UDP workers: what kubectl writes is
// answered to the real `dig` — service, endpoint and reverse names from the transformed (stripped)
// informer objects — and a slice change reaches every process.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { PORTICO_BIN, cleanup, kubectlOk, startPortico, waitFor, writeManifest, type Portico } from './harness.js';
import { dig, rdata } from '../../src/dns/testutil.js';

const S = 'svc.cluster.local';

function manifests(ip2: string): object[] {
  return [
    { apiVersion: 'v1', kind: 'Service', metadata: { name: 'db', namespace: 'default' }, spec: { clusterIP: 'None', ports: [{ name: 'pg', port: 5432 }] } },
    {
      apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', addressType: 'IPv4',
      metadata: { name: 'db-1', namespace: 'default', labels: { 'kubernetes.io/service-name': 'db' } },
      endpoints: [
        { addresses: ['198.19.40.1'], hostname: 'db-0', conditions: { ready: true, serving: true, terminating: false }, nodeName: 'n1', targetRef: { kind: 'Pod', namespace: 'default', name: 'db-0' } },
        { addresses: [ip2], conditions: { ready: true }, nodeName: 'n1', targetRef: { kind: 'Pod', namespace: 'default', name: 'db-1' } },
        { addresses: ['198.19.40.9'], conditions: { ready: false }, nodeName: 'n1' },
      ],
      ports: [{ name: 'pg', port: 5432, protocol: 'TCP' }],
    },
  ];
}

for (const [mode, flags, banner] of [
  ['by default', [], '1 process, recvmmsg'],
  ['with --dns-workers 2', ['--dns-workers', '2'], '2 dgram worker processes'],
] as const)
describe(`portico dns against the API over HTTPS, ${mode}`, () => {
  let p: Portico;
  let dns: ChildProcess | undefined;
  let port = 0;

  before(async () => {
    p = await startPortico(['--no-pods']);
    await kubectlOk(p, ['apply', '-f', await writeManifest(p, 'db.json', manifests('198.19.40.2'))]);
    dns = spawn(process.execPath, [PORTICO_BIN, 'dns', '--kubeconfig', p.kubeconfig, '--listen', '127.0.0.1:0', '--upstream', '127.0.0.1:9', ...flags], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, PORTICO_LOG_LEVEL: 'warn' } });
    let out = '';
    dns.stdout!.setEncoding('utf8').on('data', (s: string) => (out += s));
    port = Number(await waitFor(() => /up on 127\.0\.0\.1:(\d+)/.exec(out)?.[1], 'portico dns to listen'));
    assert.match(out, new RegExp(`UDP: ${banner}\\)`));
  });
  after(async () => {
    if (dns && dns.exitCode === null) {
      dns.kill('SIGTERM');
      await new Promise((r) => dns!.once('exit', r));
    }
    await p?.stop();
    await cleanup();
  });

  it('answers service, SRV, endpoint and reverse names from what kubectl wrote', async () => {
    await waitFor(async () => (await dig(port, `db.default.${S}`, 'A')).status === 'NOERROR', 'the informers to sync');
    assert.deepEqual(rdata((await dig(port, `db.default.${S}`, 'A')).answer, 'A'), ['198.19.40.1', '198.19.40.2'], 'ready endpoints only');
    assert.deepEqual(rdata((await dig(port, `_pg._tcp.db.default.${S}`, 'SRV')).answer, 'SRV'), [`0 50 5432 198-19-40-2.db.default.${S}.`, `0 50 5432 db-0.db.default.${S}.`]);
    assert.deepEqual(rdata((await dig(port, `db-0.db.default.${S}`, 'A')).answer, 'A'), ['198.19.40.1']);
    assert.equal((await dig(port, `198-19-40-9.db.default.${S}`, 'A')).status, 'NXDOMAIN', 'not-ready endpoint has no name');
    assert.deepEqual(rdata((await dig(port, '1.40.19.198.in-addr.arpa', 'PTR')).answer, 'PTR'), [`db-0.db.default.${S}.`]);
  });

  it('a slice change reaches every process', async () => {
    await kubectlOk(p, ['apply', '-f', await writeManifest(p, 'db2.json', manifests('198.19.40.3'))]);
    // Several queries, so that each worker (the kernel picks one per datagram) is asked.
    await waitFor(async () => {
      for (let i = 0; i < 8; i++) {
        if (rdata((await dig(port, `db.default.${S}`, 'A')).answer, 'A').join(',') !== '198.19.40.1,198.19.40.3') return false;
      }
      return true;
    }, 'the new address from every worker');
    assert.equal((await dig(port, '2.40.19.198.in-addr.arpa', 'PTR')).answer.length, 0, 'the old address has no PTR');
  });
});
