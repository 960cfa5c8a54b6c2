import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer as createHttp, type Server as HttpServer } from 'node:http';
import { createServer as createTcp, type Server as TcpServer, type AddressInfo } from 'node:net';
import type { Container, Probe } from '../registry/kinds/pod.js';
import { ProbeTracker, resolvePort, runProbe, type ProbeKind } from './probe.js';

describe('runProbe against local servers', () => {
  let http: HttpServer;
  let tcp: TcpServer;
  let closedPort = 0;
  let httpPort = 0;
  let tcpPort = 0;
  before(async () => {
    http = createHttp((req, res) => {
      if (req.url === '/healthz') res.writeHead(200).end('ok');
      else if (req.url === '/moved') res.writeHead(302, { Location: '/healthz' }).end();
      else if (req.url === '/header') res.writeHead(req.headers['x-probe'] === 'yes' ? 200 : 400).end();
      else res.writeHead(503).end('no');
    });
    tcp = createTcp((s) => s.end());
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
    await new Promise<void>((r) => tcp.listen(0, '127.0.0.1', r));
    httpPort = (http.address() as AddressInfo).port;
    tcpPort = (tcp.address() as AddressInfo).port;
    // A port nobody listens on: bind, note it, close.
    const t = createTcp();
    await new Promise<void>((r) => t.listen(0, '127.0.0.1', r));
    closedPort = (t.address() as AddressInfo).port;
    await new Promise<void>((r) => t.close(() => r()));
  });
  after(async () => {
    await new Promise<void>((r) => http.close(() => r()));
    await new Promise<void>((r) => tcp.close(() => r()));
  });

  const container = (): Container => ({ name: 'c', ports: [{ name: 'http', containerPort: httpPort }, { name: 'raw', containerPort: tcpPort }] });
  const rows: Array<[string, () => Probe, boolean]> = [
    ['httpGet 200 succeeds', () => ({ httpGet: { path: '/healthz', port: httpPort } }), true],
    ['httpGet 3xx succeeds (not followed)', () => ({ httpGet: { path: '/moved', port: httpPort } }), true],
    ['httpGet 503 fails', () => ({ httpGet: { path: '/', port: httpPort } }), false],
    ['httpGet by port name', () => ({ httpGet: { path: '/healthz', port: 'http' } }), true],
    ['httpGet sends httpHeaders', () => ({ httpGet: { path: '/header', port: httpPort, httpHeaders: [{ name: 'X-Probe', value: 'yes' }] } }), true],
    ['httpGet to a closed port fails', () => ({ httpGet: { path: '/', port: closedPort } }), false],
    ['tcpSocket to a listener succeeds', () => ({ tcpSocket: { port: 'raw' } }), true],
    ['tcpSocket to a closed port fails', () => ({ tcpSocket: { port: closedPort } }), false],
    ['exec exit 0 succeeds', () => ({ exec: { command: ['sh', '-c', 'exit 0'] } }), true],
    ['exec exit 1 fails', () => ({ exec: { command: ['sh', '-c', 'echo sick; exit 1'] } }), false],
    ['exec of a missing program fails', () => ({ exec: { command: ['/nonexistent/portico-probe'] } }), false],
    ['an unknown port name fails', () => ({ tcpSocket: { port: 'nope' } }), false],
    ['no handler fails', () => ({}), false],
  ];
  for (const [why, probe, want] of rows) {
    it(why, async () => {
      const r = await runProbe(probe(), { podIP: '127.0.0.1', container: container(), execPrefix: [], env: { PATH: process.env.PATH } });
      assert.equal(r.ok, want, r.message);
      if (!want) assert.notEqual(r.message, '');
    });
  }
});

describe('ProbeTracker', () => {
  const ok = { ok: true, message: '' };
  const bad = { ok: false, message: 'x' };
  const rows: Array<[string, ProbeKind, Probe, boolean[], boolean[]]> = [
    ['readiness starts unready and flips on the first success', 'readiness', {}, [true], [true]],
    ['readiness needs successThreshold successes in a row', 'readiness', { successThreshold: 2 }, [true, false, true, true], [false, false, false, true]],
    ['readiness goes unready after failureThreshold failures', 'readiness', { failureThreshold: 2 }, [true, false, true, false, false], [true, true, true, true, false]],
    ['liveness starts alive', 'liveness', { failureThreshold: 3 }, [false, false], [true, true]],
    ['liveness dies on the third failure in a row', 'liveness', { failureThreshold: 3 }, [false, false, false], [true, true, false]],
    ['startup starts not started', 'startup', {}, [false, true], [false, true]],
  ];
  for (const [why, kind, probe, outcomes, want] of rows) {
    it(why, () => {
      const t = new ProbeTracker(kind, probe);
      assert.deepEqual(outcomes.map((o) => (t.record(o ? ok : bad), t.result)), want);
    });
  }
  it('liveness and startup are failed for good at the threshold; readiness never', () => {
    const l = new ProbeTracker('liveness', { failureThreshold: 1 });
    const r = new ProbeTracker('readiness', { failureThreshold: 1 });
    l.record(bad);
    r.record(bad);
    assert.deepEqual([l.failed, r.failed], [true, false]);
  });
  it('resolves numeric strings and names', () => {
    const c: Container = { name: 'c', ports: [{ name: 'web', containerPort: 8080 }] };
    assert.deepEqual([resolvePort(80, c), resolvePort('81', c), resolvePort('web', c)], [80, 81, 8080]);
  });
});
