// Issue 3's allocation behaviour through the real server: concurrent creates never share a cluster
// IP or node port; a tiny service CIDR fills up with kube-apiserver's "range is full"; delete frees;
// a restart keeps allocations; LoadBalancer ingress from the pool, <pending> plus an Event without.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { cleanup, kubectl, kubectlOk, request, startPortico, waitFor, writeManifest, type Portico } from './harness.js';

after(cleanup);

const svc = (name: string, spec: Record<string, unknown>) => ({ apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: 'default' }, spec: { ports: [{ port: 80 }], ...spec } });

async function create(p: Portico, body: object) {
  return request(p, 'POST', '/api/v1/namespaces/default/services', { body });
}

describe('cluster IP and node port allocation', () => {
  it('200 concurrent NodePort creates get distinct cluster IPs and node ports', async () => {
    const p = await startPortico(['--service-cidr', '198.18.0.0/16']);
    const results = await Promise.all(Array.from({ length: 200 }, (_, i) => create(p, svc(`c${i}`, { type: 'NodePort' }))));
    for (const r of results) assert.equal(r.status, 201, r.body);
    const ips = new Set<string>();
    const ports = new Set<number>();
    for (const r of results) {
      const s = r.json<{ spec: { clusterIP: string; ports: Array<{ nodePort: number }> } }>();
      ips.add(s.spec.clusterIP);
      ports.add(s.spec.ports[0]!.nodePort);
    }
    assert.equal(ips.size, 200, 'cluster IPs must be distinct');
    assert.equal(ports.size, 200, 'node ports must be distinct');
    for (const ip of ips) assert.match(ip, /^198\.18\./);
    for (const port of ports) assert.ok(port >= 30000 && port <= 32767, `node port ${port} in range`);
  });

  it('a /28 fills up with "range is full", delete frees an address, and a restart keeps allocations', async () => {
    const p = await startPortico(['--service-cidr', '198.18.0.0/28']);
    // 14 usable addresses; kubernetes (.1) and kube-dns (.10) hold two of them.
    const made: string[] = [];
    for (let i = 0; i < 12; i++) {
      const r = await create(p, svc(`f${i}`, {}));
      assert.equal(r.status, 201, r.body);
      made.push(r.json<{ spec: { clusterIP: string } }>().spec.clusterIP);
    }
    assert.equal(new Set(made).size, 12);
    const full = await create(p, svc('one-too-many', {}));
    assert.equal(full.status, 500, full.body);
    assert.equal(full.json<{ message: string }>().message, 'Internal error occurred: failed to allocate a serviceIP: range is full');
    const file = await writeManifest(p, 'full.yaml', svc('via-kubectl', {}));
    const k = await kubectl(p, ['apply', '-f', file]);
    assert.notEqual(k.code, 0);
    assert.match(k.stderr, /failed to allocate a serviceIP: range is full/);

    const freed = made[3]!;
    assert.equal((await request(p, 'DELETE', '/api/v1/namespaces/default/services/f3')).status, 200);
    const again = await create(p, svc('again', {}));
    assert.equal(again.status, 201, again.body);
    assert.equal(again.json<{ spec: { clusterIP: string } }>().spec.clusterIP, freed, 'the only free address is the one released');

    await p.stop();
    await p.restart();
    const after = await create(p, svc('after-restart', {}));
    assert.equal(after.status, 500, 'still full after a restart: allocations persisted');
    const taken = await create(p, svc('taken', { clusterIP: made[0] }));
    assert.equal(taken.status, 422, taken.body);
    assert.match(taken.json<{ message: string }>().message, /provided IP is already allocated/);
  });
});

describe('LoadBalancer ingress from the pool', () => {
  it('assigns pool addresses, shows them in kubectl get svc, and leaves <pending> with an Event when exhausted', async () => {
    const p = await startPortico(['--lb-pool', '198.19.255.100-198.19.255.101']);
    for (const name of ['lb1', 'lb2', 'lb3']) assert.equal((await create(p, svc(name, { type: 'LoadBalancer' }))).status, 201);
    const external = async (name: string) => (await kubectlOk(p, ['get', 'svc', name, '-o', 'jsonpath={.status.loadBalancer.ingress[0].ip}'])).trim();
    const ip1 = await waitFor(() => external('lb1'), 'lb1 ingress');
    const ip2 = await waitFor(() => external('lb2'), 'lb2 ingress');
    assert.deepEqual([ip1, ip2].sort(), ['198.19.255.100', '198.19.255.101']);
    const table = await kubectlOk(p, ['get', 'svc', 'lb1', 'lb3']);
    assert.match(table, new RegExp(`lb1\\s+LoadBalancer\\s+\\S+\\s+${ip1.replace(/\./g, '\\.')}\\s+80:\\d+/TCP`));
    assert.match(table, /lb3\s+LoadBalancer\s+\S+\s+<pending>\s+80:\d+\/TCP/);
    const events = await waitFor(async () => {
      const out = await kubectlOk(p, ['get', 'events', '--field-selector', 'involvedObject.name=lb3', '-o', 'jsonpath={.items[*].message}']);
      return out.includes('no available IP') ? out : '';
    }, 'an AllocationFailed event for lb3');
    assert.match(events, /no available IP in the load-balancer pool/);
    // Deleting lb1 frees its address; lb3 picks it up on its next sync (any update triggers one).
    await kubectlOk(p, ['delete', 'svc', 'lb1']);
    await kubectlOk(p, ['label', 'svc', 'lb3', 'retry=1']);
    assert.equal(await waitFor(() => external('lb3'), 'lb3 ingress after lb1 went away'), ip1);
  });

  it('without a pool the Service stays <pending> with an Event saying why', async () => {
    const p = await startPortico();
    assert.equal((await create(p, svc('nopool', { type: 'LoadBalancer' }))).status, 201);
    const msg = await waitFor(async () => (await kubectlOk(p, ['get', 'events', '--field-selector', 'involvedObject.name=nopool', '-o', 'jsonpath={.items[*].message}'])).trim(), 'an event for nopool');
    assert.match(msg, /no load-balancer address pool is configured/);
    assert.match(await kubectlOk(p, ['get', 'svc', 'nopool']), /nopool\s+LoadBalancer\s+\S+\s+<pending>/);
  });
});
