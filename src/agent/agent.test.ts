// The agent against a real in-process control plane (HTTPS on loopback) with a recording backend:
// first sync full and only after the informers synced, partial syncs carrying the changed keys,
// bursts coalesced, a failed sync followed by a full one, kube-proxy metric names, and the UDP
// conntrack cleanup plan.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { startTestControlPlane, type TestControlPlane } from '../api/testing.js';
import type { KubeClient } from '../client/http.js';
import type { ProxyModel } from '../proxy/model.js';
import type { NodeState } from '../proxy/model.js';
import type { BackendSyncResult, ProxyBackend } from './backend.js';
import { NodeAgent } from './agent.js';
import { conntrackArgv, staleUDPEntries } from './conntrack.js';
import { modelOf, ep, sport } from '../proxy/testing.js';

class RecordingBackend implements ProxyBackend {
  readonly mode = 'nftables' as const;
  syncs: Array<{ full: boolean; changed: string[]; services: number; externalIPs: string[] }> = [];
  failNext = false;
  async sync(model: ProxyModel, _node: NodeState, full: boolean): Promise<BackendSyncResult> {
    if (this.failNext) {
      this.failNext = false;
      throw new Error('injected failure');
    }
    const externalIPs = [...model.services.values()].flatMap((p) => p.externalIPs);
    this.syncs.push({ full, changed: [...model.changed], services: model.services.size, externalIPs });
    return { kind: full ? 'full' : 'partial', renderMs: 0, applyMs: 0 };
  }
  async cleanup(): Promise<void> {}
}

async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 400 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(cond(), `timed out waiting for ${what}`);
}

describe('NodeAgent', () => {
  let env: TestControlPlane;
  let client: KubeClient;
  before(async () => {
    env = await startTestControlPlane('portico-agent-');
    client = env.client;
  });
  after(() => env.close());

  it('syncs full first, then partially with the changed keys, coalescing bursts and recovering from failures', async () => {
    const backend = new RecordingBackend();
    const agent = new NodeAgent({
      client,
      backend,
      nodeName: 'n1',
      nodeIPs: ['198.19.255.11'],
      nodePortAddresses: [],
      clusterCIDR: '198.19.0.0/16',
      masqueradeAll: false,
      minSyncPeriodMs: 50,
      fullSyncPeriodMs: 3_600_000,
      metricsListen: '127.0.0.1:0',
      healthListen: '',
      logger: pino({ level: 'silent' }),
    });
    await agent.start();
    await agent.firstSync;
    assert.equal(backend.syncs[0]?.full, true, 'the first sync is full');
    const base = backend.syncs.length;

    await client.request('POST', '/api/v1/namespaces/default/services', { apiVersion: 'v1', kind: 'Service', metadata: { name: 'web' }, spec: { ports: [{ name: 'http', port: 80 }] } });
    await client.request('POST', '/apis/discovery.k8s.io/v1/namespaces/default/endpointslices', {
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: { name: 'web-1', labels: { 'kubernetes.io/service-name': 'web' } },
      addressType: 'IPv4',
      endpoints: [{ addresses: ['198.19.1.10'], conditions: { ready: true } }],
      ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
    });
    await until(() => backend.syncs.slice(base).some((s) => s.changed.includes('default/web/http/TCP')), 'a partial sync naming default/web/http/TCP');
    const partial = backend.syncs.slice(base).find((s) => s.changed.includes('default/web/http/TCP'))!;
    assert.equal(partial.full, false);

    // A burst of 30 label changes on an unrelated field is a no-op for the proxy: no sync at all.
    // A sentinel change after the burst marks its end (no wall-clock window): every sync that runs
    // from the burst on must already carry the sentinel, except one that was still due from the
    // changes above when the burst began (it carries no change key).
    const before = backend.syncs.length;
    for (let i = 0; i < 30; i++) {
      await client.request('PATCH', '/api/v1/namespaces/default/services/web', { metadata: { labels: { n: String(i) } } }, 'application/merge-patch+json');
    }
    await client.request('PATCH', '/api/v1/namespaces/default/services/web', { spec: { externalIPs: ['198.19.255.99'] } }, 'application/merge-patch+json');
    await until(() => backend.syncs.slice(before).some((s) => s.externalIPs.includes('198.19.255.99')), 'the sentinel sync');
    const withoutSentinel = backend.syncs.slice(before).filter((s) => !s.externalIPs.includes('198.19.255.99'));
    assert.ok(withoutSentinel.every((s) => s.changed.length === 0), `label-only changes must not sync: ${JSON.stringify(withoutSentinel)}`);

    // A burst of 20 real changes is folded into far fewer syncs.
    for (let i = 0; i < 20; i++) {
      await client.request('PATCH', '/api/v1/namespaces/default/services/web', { spec: { externalIPs: [`198.19.255.${100 + i}`] } }, 'application/merge-patch+json');
    }
    await until(() => backend.syncs.length > before, 'syncs after the burst');
    await new Promise((r) => setTimeout(r, 300));
    assert.ok(backend.syncs.length - before < 20, `20 changes gave ${backend.syncs.length - before} syncs`);

    // A failure makes the next sync a full one.
    backend.failNext = true;
    await client.request('PATCH', '/api/v1/namespaces/default/services/web', { spec: { externalIPs: [] } }, 'application/merge-patch+json');
    const n = backend.syncs.length;
    await until(() => backend.syncs.length > n, 'the retry after a failure');
    assert.equal(backend.syncs[n]?.full, true, 'after a failure the next sync is full');

    const text = await agent.metrics.metrics();
    for (const name of ['kubeproxy_sync_proxy_rules_duration_seconds', 'kubeproxy_sync_full_proxy_rules_duration_seconds', 'kubeproxy_sync_partial_proxy_rules_duration_seconds', 'kubeproxy_network_programming_duration_seconds', 'kubeproxy_sync_proxy_rules_last_timestamp_seconds', 'kubeproxy_sync_proxy_rules_endpoint_changes_total', 'kubeproxy_sync_proxy_rules_service_changes_total']) {
      assert.match(text, new RegExp(`^# TYPE ${name} `, 'm'), name);
    }
    assert.ok(agent.healthy());
    await agent.stop();
  });
});

describe('stale UDP conntrack entries', () => {
  it('lists deletions only for UDP ports whose endpoints went away, for every Service address and the node port', () => {
    const udp = sport({ name: 'dns', protocol: 'UDP', port: 53, clusterIPs: ['198.18.0.10'], externalIPs: ['198.19.255.50'], nodePort: 30053, endpoints: [ep('198.19.1.10', 53), ep('198.19.1.11', 53)] });
    const tcp = sport({ name: 'web', protocol: 'TCP', port: 80, clusterIPs: ['198.18.0.20'], endpoints: [ep('198.19.1.10', 8080)] });
    const m1 = modelOf([udp, tcp]);
    const m2 = modelOf([{ ...udp, endpoints: [ep('198.19.1.11', 53)] }, { ...tcp, endpoints: [] }], [udp.key, tcp.key]);
    const dels = staleUDPEntries(m1, m2);
    assert.deepEqual(
      dels.map(conntrackArgv).map((a) => a.join(' ')).sort(),
      [
        'conntrack -D -p udp --orig-dst 198.18.0.10 --orig-port-dst 53 --reply-src 198.19.1.10',
        'conntrack -D -p udp --orig-dst 198.19.255.50 --orig-port-dst 53 --reply-src 198.19.1.10',
        'conntrack -D -p udp --orig-port-dst 30053 --reply-src 198.19.1.10',
      ].sort(),
    );
    assert.deepEqual(staleUDPEntries(undefined, m2), [], 'nothing to compare on the first sync');
  });
});
