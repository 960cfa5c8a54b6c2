// Unit tests of the generic storage and the registry rules over the in-memory store: identity and
// system fields, optimistic concurrency, status strategy, finalizers, namespaces, watch filtering,
// and strategic merge patch against the real kind schemas.
import { describe, it, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryStore } from '../store/memory.js';
import { ApiRegistry } from './registry.js';
import type { WatchEvent } from './storage.js';
import { applyPatch } from '../patch/index.js';
import { parseLabelSelector } from '../selectors/labels.js';
import { ServiceAllocator } from '../allocators/service.js';
import type { ClusterConfig } from '../registry/types.js';
import type { KubeObject } from '../registry/kinds/meta.js';
import type { Service } from '../registry/kinds/service.js';
import { ConflictError, NotFoundError, AlreadyExistsError, InvalidError, StatusError, InternalError } from '../util/errors.js';

const cfg: ClusterConfig = {
  serviceCIDRs: ['198.18.0.0/28'],
  podCIDR: '198.19.0.0/16',
  nodePortRange: { base: 30000, size: 10 },
  clusterDomain: 'cluster.local',
  lbPool: [],
};

async function setup() {
  const store = new MemoryStore();
  const reg = new ApiRegistry(store, cfg);
  const svc = reg.kind<Service>('Service');
  const alloc = new ServiceAllocator(store, cfg);
  svc.hooks = alloc.hooks();
  await reg.ensureSystemNamespaces();
  return { store, reg, svc, alloc };
}

const service = (name: string, spec: Record<string, unknown> = {}): Service =>
  ({ apiVersion: 'v1', kind: 'Service', metadata: { name, labels: { app: name } }, spec: { ports: [{ port: 80 }], ...spec } }) as Service;

describe('ResourceStorage', () => {
  let t: Awaited<ReturnType<typeof setup>>;
  beforeEach(async () => {
    t = await setup();
  });

  it('stamps system metadata on create and ignores what the client sent', async () => {
    const input = service('a');
    input.metadata!.uid = 'client-uid';
    input.metadata!.resourceVersion = '999';
    const out = await t.svc.create('default', input);
    assert.notEqual(out.metadata?.uid, 'client-uid');
    assert.match(out.metadata?.creationTimestamp ?? '', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    assert.notEqual(out.metadata?.resourceVersion, '999');
    assert.equal(out.metadata?.namespace, 'default');
  });

  it('generateName makes a unique name with the prefix', async () => {
    const a = await t.svc.create('default', { ...service(''), metadata: { generateName: 'web-' } } as Service);
    assert.match(a.metadata?.name ?? '', /^web-[a-z0-9]{5}$/);
  });

  it('refuses a second create with AlreadyExists', async () => {
    await t.svc.create('default', service('a'));
    await assert.rejects(t.svc.create('default', service('a')), (e: unknown) => e instanceof AlreadyExistsError && e.message === 'services "a" already exists');
  });

  it('refuses creates in a missing namespace with NotFound naming the namespace', async () => {
    await assert.rejects(t.svc.create('nope', service('a')), (e: unknown) => e instanceof NotFoundError && e.message === 'namespaces "nope" not found');
  });

  it('a stale resourceVersion on update is a Conflict with kube-apiserver\'s message', async () => {
    const a = await t.svc.create('default', service('a'));
    const b1 = structuredClone(a);
    const b2 = structuredClone(a);
    b1.metadata!.labels = { x: '1' };
    b2.metadata!.labels = { x: '2' };
    await t.svc.update('default', 'a', b1);
    await assert.rejects(
      t.svc.update('default', 'a', b2),
      (e: unknown) => e instanceof ConflictError && e.message === 'Operation cannot be fulfilled on services "a": the object has been modified; please apply your changes to the latest version and try again',
    );
  });

  it('main-resource writes keep status; status writes keep spec', async () => {
    const a = await t.svc.create('default', service('a', { type: 'LoadBalancer' }));
    const withStatus = structuredClone(a);
    (withStatus as KubeObject).status = { loadBalancer: { ingress: [{ ip: '198.51.100.7' }] } };
    withStatus.spec!.sessionAffinity = 'ClientIP';
    const s = await t.svc.update('default', 'a', withStatus, { subresource: 'status' });
    assert.equal(s.status?.loadBalancer?.ingress?.[0]?.ip, '198.51.100.7');
    assert.equal(s.spec?.sessionAffinity, 'None', 'status write must not change spec');
    const m = structuredClone(s);
    (m as KubeObject).status = {};
    m.metadata!.labels = { changed: 'yes' };
    const after = await t.svc.update('default', 'a', m);
    assert.equal(after.status?.loadBalancer?.ingress?.[0]?.ip, '198.51.100.7', 'main write must not change status');
    assert.equal(after.metadata?.labels?.changed, 'yes');
  });

  it('a no-op update keeps the resourceVersion', async () => {
    const a = await t.svc.create('default', service('a'));
    const again = await t.svc.update('default', 'a', structuredClone(a));
    assert.equal(again.metadata?.resourceVersion, a.metadata?.resourceVersion);
  });

  it('finalizers hold a delete until the last one is removed', async () => {
    const a = await t.svc.create('default', { ...service('a'), metadata: { name: 'a', finalizers: ['example.com/hold'] } } as Service);
    const r = await t.svc.delete('default', 'a');
    assert.equal(r.deleted, false);
    assert.ok(r.object.metadata?.deletionTimestamp);
    const cur = await t.svc.get('default', 'a');
    cur.metadata!.finalizers = [];
    await t.svc.update('default', 'a', cur);
    await assert.rejects(t.svc.get('default', 'a'), NotFoundError);
    void a;
  });

  it('delete preconditions on uid are checked', async () => {
    await t.svc.create('default', service('a'));
    await assert.rejects(t.svc.delete('default', 'a', { preconditions: { uid: 'other' } }), ConflictError);
  });

  it('lists with a label selector and paginates with continue tokens', async () => {
    for (let i = 0; i < 7; i++) await t.svc.create('default', { ...service(`s${i}`), metadata: { name: `s${i}`, labels: { parity: i % 2 ? 'odd' : 'even' } } } as Service);
    const even = await t.svc.list('default', { labels: parseLabelSelector('parity=even') });
    assert.deepEqual(even.items.map((s) => s.metadata?.name), ['s0', 's2', 's4', 's6']);
    const names: string[] = [];
    let tok: string | undefined;
    do {
      const page = await t.svc.list('default', { limit: 3, continueToken: tok, labels: parseLabelSelector('parity') });
      names.push(...page.items.map((s) => s.metadata!.name!));
      tok = page.continueToken;
    } while (tok);
    assert.deepEqual(names.filter((n) => n.startsWith('s')).sort(), ['s0', 's1', 's2', 's3', 's4', 's5', 's6']);
  });

  it('a watch with a selector sees objects enter and leave it as ADDED and DELETED', async () => {
    await t.svc.create('default', service('a'));
    const events: WatchEvent[] = [];
    const { watcher } = await t.svc.watch('default', { labels: parseLabelSelector('team=blue') }, (ev) => events.push(ev), () => {});
    const a = await t.svc.get('default', 'a');
    a.metadata!.labels = { team: 'blue' };
    const a2 = await t.svc.update('default', 'a', a);
    a2.metadata!.labels = { team: 'red' };
    await t.svc.update('default', 'a', a2);
    await new Promise((r) => setTimeout(r, 20));
    watcher.cancel();
    assert.deepEqual(events.map((e) => e.type), ['ADDED', 'DELETED']);
  });

  it('deleting a namespace is refused for system namespaces and marks others Terminating', async () => {
    await assert.rejects(t.reg.deleteHooks.get('Namespace')!('default', { dryRun: false }), (e: unknown) => e instanceof StatusError && e.code === 403);
    await t.reg.kind('Namespace').create(undefined, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'tmp' } });
    const ns = await t.reg.deleteHooks.get('Namespace')!('tmp', { dryRun: false });
    assert.equal((ns as { status?: { phase?: string } }).status?.phase, 'Terminating');
    await assert.rejects(t.svc.create('tmp', service('a')), (e: unknown) => e instanceof StatusError && e.code === 403 && /being terminated/.test(e.message));
  });
});

describe('Service allocation through the storage', () => {
  let t: Awaited<ReturnType<typeof setup>>;
  beforeEach(async () => {
    t = await setup();
  });

  it('never hands out one cluster IP twice and reports a full range as kube-apiserver does', async () => {
    const seen = new Set<string>();
    // 198.18.0.0/28: 14 usable addresses.
    const made = await Promise.allSettled(Array.from({ length: 16 }, (_, i) => t.svc.create('default', service(`s${i}`))));
    for (const r of made) if (r.status === 'fulfilled') seen.add(r.value.spec!.clusterIP!);
    const ok = made.filter((r) => r.status === 'fulfilled').length;
    assert.equal(ok, 14);
    assert.equal(seen.size, 14);
    const failed = made.find((r) => r.status === 'rejected') as PromiseRejectedResult;
    assert.ok(failed.reason instanceof InternalError);
    assert.equal((failed.reason as InternalError).message, 'Internal error occurred: failed to allocate a serviceIP: range is full');
    await t.svc.delete('default', 's0');
    const again = await t.svc.create('default', service('again'));
    assert.ok(again.spec?.clusterIP);
  });

  it('a requested cluster IP is honoured once, then refused as already allocated', async () => {
    const a = await t.svc.create('default', service('a', { clusterIP: '198.18.0.5' }));
    assert.equal(a.spec?.clusterIP, '198.18.0.5');
    await assert.rejects(t.svc.create('default', service('b', { clusterIP: '198.18.0.5' })), (e: unknown) => e instanceof InvalidError && /spec\.clusterIPs: Invalid value: \["198\.18\.0\.5"\]: failed to allocate IP 198\.18\.0\.5: provided IP is already allocated/.test(e.message));
    await assert.rejects(t.svc.create('default', service('c', { clusterIP: '198.18.1.5' })), (e: unknown) => e instanceof InvalidError && /is not in the valid range\. The range of valid IPs is 198\.18\.0\.0\/28/.test(e.message));
  });

  it('node ports: requested, automatic, conflicts, range check, and release on type change', async () => {
    const a = await t.svc.create('default', service('a', { type: 'NodePort', ports: [{ port: 80, nodePort: 30003 }] }));
    assert.equal(a.spec?.ports?.[0]?.nodePort, 30003);
    await assert.rejects(t.svc.create('default', service('b', { type: 'NodePort', ports: [{ port: 80, nodePort: 30003 }] })), (e: unknown) => e instanceof InvalidError && /spec\.ports\[0\]\.nodePort: Invalid value: 30003: provided port is already allocated/.test(e.message));
    await assert.rejects(t.svc.create('default', service('c', { type: 'NodePort', ports: [{ port: 80, nodePort: 8081 }] })), (e: unknown) => e instanceof InvalidError && /provided port is not in the valid range\. The range of valid ports is 30000-30009/.test(e.message));
    // NodePort → ClusterIP releases the port (kube drops unchanged node ports on such a change).
    const cur = await t.svc.get('default', 'a');
    cur.spec!.type = 'ClusterIP';
    delete cur.spec!.externalTrafficPolicy;
    const asCluster = await t.svc.update('default', 'a', cur);
    assert.equal(asCluster.spec?.ports?.[0]?.nodePort, undefined);
    const b = await t.svc.create('default', service('b', { type: 'NodePort', ports: [{ port: 80, nodePort: 30003 }] }));
    assert.equal(b.spec?.ports?.[0]?.nodePort, 30003);
  });

  it('to ExternalName releases the cluster IP', async () => {
    const a = await t.svc.create('default', service('a', { clusterIP: '198.18.0.9' }));
    const cur = structuredClone(a);
    cur.spec = { type: 'ExternalName', externalName: 'example.com', clusterIP: a.spec!.clusterIP, clusterIPs: a.spec!.clusterIPs, ipFamilies: a.spec!.ipFamilies, ipFamilyPolicy: a.spec!.ipFamilyPolicy } as Service['spec'];
    const en = await t.svc.update('default', 'a', cur);
    assert.equal(en.spec?.clusterIP, undefined);
    const b = await t.svc.create('default', service('b', { clusterIP: '198.18.0.9' }));
    assert.equal(b.spec?.clusterIP, '198.18.0.9');
  });

  it('repair frees claims nobody holds and reports double allocations', async () => {
    await t.svc.create('default', service('a', { clusterIP: '198.18.0.3' }));
    // A crash after claiming but before writing leaves a claim without a Service.
    await t.alloc.ips.claim('198.18.0.4', { namespace: 'default', name: 'ghost', uid: 'ghost-uid' });
    const reports: string[] = [];
    const services = (await t.svc.list(undefined)).items;
    const dup = structuredClone(services[0]!);
    dup.metadata!.uid = 'other';
    dup.metadata!.name = 'dup';
    const r = await t.alloc.repair([...services, dup], (m) => reports.push(m));
    assert.equal(r.leaked, 1);
    assert.equal(r.duplicates, 1);
    assert.match(reports[0] ?? '', /198\.18\.0\.3 was assigned to multiple services/);
    assert.equal(await t.alloc.ips.holder('198.18.0.4'), undefined);
  });
});

describe('strategic merge patch with the registered schemas', () => {
  it('merges Service ports by port number, as kubectl apply expects', async () => {
    const { reg } = await setup();
    const schema = reg.kind('Service').def.schema;
    const cur = { spec: { ports: [{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP' }] } };
    const patch = { spec: { '$setElementOrder/ports': [{ port: 80 }, { port: 443 }], ports: [{ name: 'https', port: 443 }] } };
    const out = applyPatch('application/strategic-merge-patch+json', cur, patch, schema) as Service;
    assert.deepEqual(out.spec?.ports?.map((p) => p.port), [80, 443]);
  });

  it('replaces Endpoints subsets whole (atomic)', async () => {
    const { reg } = await setup();
    const schema = reg.kind('Endpoints').def.schema;
    const cur = { subsets: [{ addresses: [{ ip: '198.19.0.1' }], ports: [{ port: 80 }] }] };
    const patch = { subsets: [{ addresses: [{ ip: '198.19.0.2' }], ports: [{ port: 80 }] }] };
    const out = applyPatch('application/strategic-merge-patch+json', cur, patch, schema) as { subsets: Array<{ addresses: Array<{ ip: string }> }> };
    assert.deepEqual(out.subsets.map((s) => s.addresses.map((a) => a.ip)), [['198.19.0.2']]);
  });

  it('merges Pod containers by name and their env by name', async () => {
    const { reg } = await setup();
    const schema = reg.kind('Pod').def.schema;
    const cur = { spec: { containers: [{ name: 'a', image: 'x', env: [{ name: 'A', value: '1' }, { name: 'B', value: '2' }] }, { name: 'b', image: 'y' }] } };
    const patch = { spec: { containers: [{ name: 'a', env: [{ name: 'B', value: '3' }] }] } };
    const out = applyPatch('application/strategic-merge-patch+json', cur, patch, schema) as { spec: { containers: Array<{ name: string; env?: Array<{ name: string; value: string }> }> } };
    assert.deepEqual(out.spec.containers.map((c) => c.name), ['a', 'b']);
    assert.deepEqual(out.spec.containers[0]!.env, [{ name: 'A', value: '1' }, { name: 'B', value: '3' }]);
  });
});

describe('guaranteedUpdate', () => {
  it('retries a patch-like mutation when another writer got in between, but not one that pins a stale resourceVersion', async () => {
    const t = await setup();
    await t.svc.create('default', service('a'));
    let first = true;
    const out = await t.svc.guaranteedUpdate('default', 'a', async (cur) => {
      if (first) {
        first = false;
        // Another writer changes the object after our read.
        await t.svc.guaranteedUpdate('default', 'a', (c) => ({ ...c, metadata: { ...c.metadata, labels: { other: 'writer' } } }));
      }
      return { ...cur, metadata: { ...cur.metadata, annotations: { mine: 'yes' } } };
    });
    assert.equal(out.metadata?.annotations?.mine, 'yes');
    assert.equal(out.metadata?.labels?.other, 'writer', 'the retry reapplied the mutation to the newer object');
    const stale = (await t.svc.get('default', 'a')).metadata!.resourceVersion!;
    await t.svc.guaranteedUpdate('default', 'a', (c) => ({ ...c, metadata: { ...c.metadata, labels: { bump: '1' } } }));
    await assert.rejects(
      t.svc.guaranteedUpdate('default', 'a', (c) => ({ ...c, metadata: { ...c.metadata, resourceVersion: stale, labels: { x: 'y' } } })),
      ConflictError,
    );
  });
});

describe('dual-stack allocation', () => {
  it('RequireDualStack gets one cluster IP per family; the default stays single-stack on the primary family', async () => {
    const store = new MemoryStore();
    const dual: ClusterConfig = { ...cfg, serviceCIDRs: ['198.18.0.0/28', 'fd00:18::/120'] };
    const reg = new ApiRegistry(store, dual);
    const svc = reg.kind<Service>('Service');
    svc.hooks = new ServiceAllocator(store, dual).hooks();
    await reg.ensureSystemNamespaces();
    const both = await svc.create('default', service('both', { ipFamilyPolicy: 'RequireDualStack' }));
    assert.deepEqual(both.spec?.ipFamilies, ['IPv4', 'IPv6']);
    assert.equal(both.spec?.clusterIPs?.length, 2);
    assert.match(both.spec!.clusterIPs![0]!, /^198\.18\.0\./);
    assert.match(both.spec!.clusterIPs![1]!, /^fd00:18::/);
    assert.equal(both.spec?.clusterIP, both.spec?.clusterIPs?.[0]);
    const single = await svc.create('default', service('single'));
    assert.deepEqual(single.spec?.ipFamilies, ['IPv4']);
    assert.equal(single.spec?.ipFamilyPolicy, 'SingleStack');
    assert.equal(single.spec?.clusterIPs?.length, 1);
    const v6 = await svc.create('default', service('v6', { ipFamilies: ['IPv6'] }));
    assert.match(v6.spec!.clusterIP!, /^fd00:18::/);
  });
});

describe('DeleteOptions propagationPolicy', () => {
  it('accepts the three policies and folds the deprecated orphanDependents into one', async () => {
    const { propagationPolicy } = await import('./server.js');
    assert.deepEqual(
      [propagationPolicy('Orphan', undefined), propagationPolicy('Foreground', undefined), propagationPolicy('Background', undefined), propagationPolicy(undefined, true), propagationPolicy(undefined, false), propagationPolicy(undefined, undefined)],
      ['Orphan', 'Foreground', 'Background', 'Orphan', 'Background', undefined],
    );
  });

  it("rejects an unknown policy and both fields set with kube-apiserver's 422", async () => {
    const { propagationPolicy } = await import('./server.js');
    assert.throws(
      () => propagationPolicy('Sideways', undefined),
      (e: unknown) =>
        e instanceof InvalidError &&
        e.code === 422 &&
        e.message === 'DeleteOptions.meta.k8s.io "" is invalid: propagationPolicy: Unsupported value: "Sideways": supported values: "Foreground", "Background", "Orphan"',
    );
    assert.throws(
      () => propagationPolicy('Foreground', true),
      (e: unknown) => e instanceof InvalidError && e.message === 'DeleteOptions.meta.k8s.io "" is invalid: propagationPolicy: Invalid value: "Foreground": orphanDependents and deletionPropagation cannot be both set',
    );
  });
});
