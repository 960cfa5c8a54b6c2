// Issue 4 end to end: the Endpoints, EndpointSlice, mirroring, garbage-collection and node IPAM
// controllers seen through the real API and the real kubectl. Pods are applied with kubectl and their
// status set with `kubectl patch --subresource=status` (what a kubelet would report); the tests then
// wait (generous bounds) for the objects the controllers derive and check them field by field.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { cleanup, createNamespace, kubectl, kubectlOk, request, startPortico, waitFor, writeManifest, type Portico } from './harness.js';

after(cleanup);

let p: Portico;
before(async () => {
  p = await startPortico(['--pod-cidr', '198.19.0.0/16', '--service-cidr', '198.18.0.0/16']);
});

// ---- shapes read back from the API -------------------------------------------------------------

interface OwnerRef {
  apiVersion?: string;
  kind?: string;
  name?: string;
  uid?: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}
interface Meta {
  name?: string;
  namespace?: string;
  uid?: string;
  generateName?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: OwnerRef[];
  creationTimestamp?: string;
  deletionTimestamp?: string;
}
interface TargetRef {
  kind?: string;
  namespace?: string;
  name?: string;
  uid?: string;
}
interface Address {
  ip: string;
  hostname?: string;
  nodeName?: string;
  targetRef?: TargetRef;
}
interface Subset {
  addresses?: Address[];
  notReadyAddresses?: Address[];
  ports?: Array<{ name?: string; port: number; protocol?: string }>;
}
interface Endpoints {
  metadata: Meta;
  subsets?: Subset[];
}
interface SliceEndpoint {
  addresses: string[];
  conditions?: { ready?: boolean; serving?: boolean; terminating?: boolean };
  hostname?: string;
  nodeName?: string;
  zone?: string;
  targetRef?: TargetRef;
}
interface Slice {
  metadata: Meta;
  addressType: string;
  endpoints?: SliceEndpoint[] | null;
  ports?: Array<{ name?: string; port?: number; protocol?: string }> | null;
}
interface Node {
  metadata: Meta;
  spec?: { podCIDR?: string; podCIDRs?: string[] };
}

const MANAGED_BY = 'endpointslice.kubernetes.io/managed-by';
const SERVICE_NAME = 'kubernetes.io/service-name';
const HEADLESS = 'service.kubernetes.io/headless';
const SKIP_MIRROR = 'endpointslice.kubernetes.io/skip-mirror';
const TRIGGER_TIME = 'endpoints.kubernetes.io/last-change-trigger-time';
const OVER_CAPACITY = 'endpoints.kubernetes.io/over-capacity';

// ---- helpers -----------------------------------------------------------------------------------

interface PodPort {
  name?: string;
  containerPort: number;
  protocol?: string;
}
interface PodOpts {
  node?: string;
  ports?: PodPort[];
  hostname?: string;
  subdomain?: string;
}

function pod(ns: string, name: string, labels: Record<string, string>, o: PodOpts = {}): object {
  const spec: Record<string, unknown> = { containers: [{ name: 'app', image: 'registry.k8s.io/pause:3.10', ...(o.ports ? { ports: o.ports } : {}) }] };
  if (o.node) spec.nodeName = o.node;
  if (o.hostname) spec.hostname = o.hostname;
  if (o.subdomain) spec.subdomain = o.subdomain;
  return { apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: ns, labels }, spec };
}

function service(ns: string, name: string, spec: object, labels: Record<string, string> = {}): object {
  return { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: ns, labels }, spec };
}

let manifests = 0;
/** `kubectl apply -f` of the objects, as one multi-document manifest. */
async function apply(objs: object | object[]): Promise<void> {
  const path = await writeManifest(p, `m${++manifests}.yaml`, objs);
  await kubectlOk(p, ['apply', '-f', path]);
}

/** What a kubelet reports: Running with one address, Ready or not. */
async function setStatus(ns: string, name: string, ip: string, ready: boolean, phase = 'Running'): Promise<void> {
  const status = { phase, podIP: ip, podIPs: [{ ip }], conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }] };
  await kubectlOk(p, ['patch', 'pod', name, '-n', ns, '--subresource=status', '--type=merge', '-p', JSON.stringify({ status })]);
}

async function getJSON<T>(path: string): Promise<T | undefined> {
  const r = await request(p, 'GET', path);
  if (r.status === 404) return undefined;
  assert.equal(r.status, 200, `GET ${path}: ${r.body}`);
  return r.json<T>();
}

const endpointsOf = (ns: string, name: string) => getJSON<Endpoints>(`/api/v1/namespaces/${ns}/endpoints/${name}`);
const uidOf = async (path: string) => (await getJSON<{ metadata: Meta }>(path))?.metadata.uid ?? assert.fail(`${path} has no uid`);

async function slicesOf(ns: string, svc: string): Promise<Slice[]> {
  const sel = encodeURIComponent(`${SERVICE_NAME}=${svc}`);
  const l = await getJSON<{ items: Slice[] }>(`/apis/discovery.k8s.io/v1/namespaces/${ns}/endpointslices?labelSelector=${sel}`);
  return l?.items ?? [];
}

/** Every endpoint of the slices by address; an address listed twice fails the test. */
function byAddress(slices: Slice[]): Map<string, SliceEndpoint> {
  const m = new Map<string, SliceEndpoint>();
  for (const s of slices) {
    for (const e of s.endpoints ?? []) {
      for (const a of e.addresses) {
        assert.ok(!m.has(a), `address ${a} in two slices: ${JSON.stringify(slices)}`);
        m.set(a, e);
      }
    }
  }
  return m;
}

/** `ip` for ready addresses and `ip!` for not-ready ones, sorted, over every subset. */
function addressSummary(ep: Endpoints | undefined): string[] {
  const out: string[] = [];
  for (const ss of ep?.subsets ?? []) {
    for (const a of ss.addresses ?? []) out.push(a.ip);
    for (const a of ss.notReadyAddresses ?? []) out.push(`${a.ip}!`);
  }
  return out.sort();
}

/** `ip!` again for slices: conditions.ready false. */
function sliceSummary(slices: Slice[]): string[] {
  return [...byAddress(slices).entries()].map(([ip, e]) => (e.conditions?.ready === false ? `${ip}!` : ip)).sort();
}

const same = (a: string[], b: string[]) => JSON.stringify(a) === JSON.stringify(b);

async function waitEndpoints(ns: string, name: string, want: string[], what: string): Promise<Endpoints> {
  let last: Endpoints | undefined;
  try {
    return await waitFor(async () => {
      last = await endpointsOf(ns, name);
      return last && same(addressSummary(last), [...want].sort()) ? last : undefined;
    }, `${what}: Endpoints ${ns}/${name} = ${JSON.stringify(want)}`);
  } catch (e) {
    throw new Error(`${String(e)}; last seen ${JSON.stringify(last)}`);
  }
}

async function waitSlices(ns: string, name: string, want: string[], what: string): Promise<Slice[]> {
  let last: Slice[] = [];
  try {
    return await waitFor(async () => {
      last = await slicesOf(ns, name);
      return last.length > 0 && same(sliceSummary(last), [...want].sort()) ? last : undefined;
    }, `${what}: slices of ${ns}/${name} = ${JSON.stringify(want)}`);
  } catch (e) {
    throw new Error(`${String(e)}; last seen ${JSON.stringify(last)}`);
  }
}

const sortSubsets = (ss: Subset[]) => [...ss].sort((a, b) => JSON.stringify(a.ports).localeCompare(JSON.stringify(b.ports)));

// ---- Endpoints -----------------------------------------------------------------------------------

describe('Endpoints controller', () => {
  const NS = 'c4-ep';
  const uids = new Map<string, string>();
  before(async () => {
    await createNamespace(p, NS);
    const http = [{ name: 'http', containerPort: 8080 }];
    await apply([
      pod(NS, 'web-1', { app: 'web' }, { node: 'node-1', hostname: 'h1', subdomain: 'web', ports: http }),
      pod(NS, 'web-2', { app: 'web' }, { node: 'node-2', hostname: 'h2', subdomain: 'elsewhere', ports: http }),
      pod(NS, 'web-3', { app: 'web' }, { ports: http }),
      // Never gets an address: no endpoint at all.
      pod(NS, 'web-4', { app: 'web' }, { ports: http }),
    ]);
    await setStatus(NS, 'web-1', '198.19.1.1', true);
    await setStatus(NS, 'web-2', '198.19.1.2', true);
    await setStatus(NS, 'web-3', '198.19.1.3', false);
    for (const n of ['web-1', 'web-2', 'web-3']) uids.set(n, await uidOf(`/api/v1/namespaces/${NS}/pods/${n}`));
  });

  const ref = (name: string) => ({ kind: 'Pod', namespace: NS, name, uid: uids.get(name) });

  it('lists ready pods in addresses and the others in notReadyAddresses, with hostname, nodeName and targetRef', async () => {
    await apply(service(NS, 'web', { selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] }, { tier: 'front' }));
    const ep = await waitEndpoints(NS, 'web', ['198.19.1.1', '198.19.1.2', '198.19.1.3!'], 'initial');
    assert.deepEqual(ep.subsets, [
      {
        addresses: [
          // hostname only where the pod's subdomain is the Service's name
          { ip: '198.19.1.1', hostname: 'h1', nodeName: 'node-1', targetRef: ref('web-1') },
          { ip: '198.19.1.2', nodeName: 'node-2', targetRef: ref('web-2') },
        ],
        notReadyAddresses: [{ ip: '198.19.1.3', targetRef: ref('web-3') }],
        ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
      },
    ]);
    // The Service's labels, plus the mark that keeps the mirroring controller off it.
    assert.equal(ep.metadata.labels?.tier, 'front');
    assert.equal(ep.metadata.labels?.[SKIP_MIRROR], 'true');
    assert.equal(ep.metadata.annotations?.[OVER_CAPACITY], undefined);
  });

  it('stamps endpoints.kubernetes.io/last-change-trigger-time and moves it on a pod change', async () => {
    const svc = await getJSON<{ metadata: Meta }>(`/api/v1/namespaces/${NS}/services/web`);
    const ep = await endpointsOf(NS, 'web');
    const first = ep?.metadata.annotations?.[TRIGGER_TIME];
    assert.ok(first, `trigger time annotation on ${JSON.stringify(ep?.metadata)}`);
    assert.match(first, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
    const created = Date.parse(svc?.metadata.creationTimestamp ?? '');
    // creationTimestamp has whole seconds: the trigger is no earlier than that second.
    assert.ok(Date.parse(first) >= created, `trigger ${first} before the Service's creation ${svc?.metadata.creationTimestamp}`);

    await setStatus(NS, 'web-3', '198.19.1.3', true);
    const after = await waitEndpoints(NS, 'web', ['198.19.1.1', '198.19.1.2', '198.19.1.3'], 'web-3 turned ready');
    const second = after.metadata.annotations?.[TRIGGER_TIME];
    assert.ok(second && Date.parse(second) > Date.parse(first), `trigger time moved on: ${first} -> ${second}`);
    await setStatus(NS, 'web-3', '198.19.1.3', false);
    await waitEndpoints(NS, 'web', ['198.19.1.1', '198.19.1.2', '198.19.1.3!'], 'web-3 not ready again');
  });

  it('publishNotReadyAddresses lists every pod in addresses (slices: ready, serving as the pod says)', async () => {
    await apply(service(NS, 'web-all', { selector: { app: 'web' }, publishNotReadyAddresses: true, ports: [{ name: 'http', port: 80, targetPort: 8080 }] }));
    const ep = await waitEndpoints(NS, 'web-all', ['198.19.1.1', '198.19.1.2', '198.19.1.3'], 'publishNotReadyAddresses');
    assert.equal(ep.subsets?.length, 1);
    assert.equal(ep.subsets?.[0]?.notReadyAddresses, undefined);
    const slices = await waitSlices(NS, 'web-all', ['198.19.1.1', '198.19.1.2', '198.19.1.3'], 'publishNotReadyAddresses');
    assert.deepEqual(byAddress(slices).get('198.19.1.3')?.conditions, { ready: true, serving: false, terminating: false });
    assert.deepEqual(byAddress(slices).get('198.19.1.1')?.conditions, { ready: true, serving: true, terminating: false });
  });

  it('resolves a named targetPort per pod, groups subsets by port set and leaves out pods without the port', async () => {
    await apply([
      pod(NS, 'np-a', { app: 'np' }, { ports: [{ name: 'web-port', containerPort: 8080 }, { name: 'metrics', containerPort: 9100 }] }),
      pod(NS, 'np-b', { app: 'np' }, { ports: [{ name: 'web-port', containerPort: 9090 }, { name: 'metrics', containerPort: 9100 }] }),
      pod(NS, 'np-c', { app: 'np' }, { ports: [{ name: 'metrics', containerPort: 9100 }] }),
      // Same name, other protocol: not the Service port's TCP port.
      pod(NS, 'np-d', { app: 'np' }, { ports: [{ name: 'web-port', containerPort: 8080, protocol: 'UDP' }] }),
      pod(NS, 'np-e', { app: 'np' }, { ports: [{ name: 'web-port', containerPort: 8080 }, { name: 'metrics', containerPort: 9100 }] }),
    ]);
    const ips: Record<string, string> = { 'np-a': '198.19.2.1', 'np-b': '198.19.2.2', 'np-c': '198.19.2.3', 'np-d': '198.19.2.4', 'np-e': '198.19.2.5' };
    for (const [n, ip] of Object.entries(ips)) await setStatus(NS, n, ip, true);
    await apply([
      service(NS, 'np', { selector: { app: 'np' }, ports: [{ name: 'http', port: 80, targetPort: 'web-port' }] }),
      service(NS, 'np-multi', {
        selector: { app: 'np' },
        ports: [
          { name: 'http', port: 80, targetPort: 'web-port' },
          { name: 'metrics', port: 9100, targetPort: 'metrics' },
        ],
      }),
    ]);
    const one = await waitEndpoints(NS, 'np', ['198.19.2.1', '198.19.2.2', '198.19.2.5'], 'named port');
    const strip = (ss: Subset[]) => sortSubsets(ss).map((s) => ({ ips: (s.addresses ?? []).map((a) => a.ip), ports: s.ports }));
    assert.deepEqual(strip(one.subsets ?? []), [
      { ips: ['198.19.2.1', '198.19.2.5'], ports: [{ name: 'http', port: 8080, protocol: 'TCP' }] },
      { ips: ['198.19.2.2'], ports: [{ name: 'http', port: 9090, protocol: 'TCP' }] },
    ]);
    const multi = await waitEndpoints(NS, 'np-multi', ['198.19.2.1', '198.19.2.2', '198.19.2.3', '198.19.2.5'], 'two named ports');
    const norm = (ss: Subset[]) =>
      strip(ss)
        .map((s) => ({ ips: s.ips, ports: [...(s.ports ?? [])].sort((a, b) => (a.name ?? '').localeCompare(b.name ?? '')) }))
        .sort((a, b) => JSON.stringify(a.ports).localeCompare(JSON.stringify(b.ports)));
    assert.deepEqual(norm(multi.subsets ?? []), [
      {
        ips: ['198.19.2.1', '198.19.2.5'],
        ports: [
          { name: 'http', port: 8080, protocol: 'TCP' },
          { name: 'metrics', port: 9100, protocol: 'TCP' },
        ],
      },
      {
        ips: ['198.19.2.2'],
        ports: [
          { name: 'http', port: 9090, protocol: 'TCP' },
          { name: 'metrics', port: 9100, protocol: 'TCP' },
        ],
      },
      { ips: ['198.19.2.3'], ports: [{ name: 'metrics', port: 9100, protocol: 'TCP' }] },
    ]);
    // The slices split the same way: one per resolved port set.
    const slices = await waitSlices(NS, 'np', ['198.19.2.1', '198.19.2.2', '198.19.2.5'], 'named port slices');
    const bySet = slices.map((s) => ({ ports: s.ports, ips: (s.endpoints ?? []).flatMap((e) => e.addresses).sort() })).sort((a, b) => JSON.stringify(a.ports).localeCompare(JSON.stringify(b.ports)));
    assert.deepEqual(bySet, [
      { ports: [{ name: 'http', port: 8080, protocol: 'TCP' }], ips: ['198.19.2.1', '198.19.2.5'] },
      { ports: [{ name: 'http', port: 9090, protocol: 'TCP' }], ips: ['198.19.2.2'] },
    ]);
  });

  it('leaves a Service without a selector to its user', async () => {
    await apply(service(NS, 'manual', { ports: [{ port: 80 }] }));
    // A selector Service applied after it gets its Endpoints: the controller has seen both by then.
    await apply(service(NS, 'manual-probe', { selector: { app: 'web' }, ports: [{ port: 80, targetPort: 8080 }] }));
    await waitEndpoints(NS, 'manual-probe', ['198.19.1.1', '198.19.1.2', '198.19.1.3!'], 'probe Service');
    assert.equal(await endpointsOf(NS, 'manual'), undefined, 'no Endpoints made for a selectorless Service');
    assert.deepEqual(await slicesOf(NS, 'manual'), [], 'no slices made for a selectorless Service without Endpoints');
  });

  it('labels the Endpoints and slices of a headless Service', async () => {
    await apply(service(NS, 'web-headless', { clusterIP: 'None', selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] }));
    const ep = await waitEndpoints(NS, 'web-headless', ['198.19.1.1', '198.19.1.2', '198.19.1.3!'], 'headless');
    assert.equal(ep.metadata.labels?.[HEADLESS], '');
    const slices = await waitSlices(NS, 'web-headless', ['198.19.1.1', '198.19.1.2', '198.19.1.3!'], 'headless');
    for (const s of slices) assert.equal(s.metadata.labels?.[HEADLESS], '', JSON.stringify(s.metadata));
  });
});

// ---- EndpointSlices ------------------------------------------------------------------------------

describe('EndpointSlice controller', () => {
  const NS = 'c4-es';
  before(async () => {
    await createNamespace(p, NS);
  });

  it('spreads 250 pods over 3 slices owned by the Service, with the controller labels', async () => {
    const n = 250;
    const ipOf = (i: number) => `198.19.${10 + Math.floor(i / 200)}.${(i % 200) + 1}`;
    await apply(Array.from({ length: n }, (_, i) => pod(NS, `many-${i}`, { app: 'many' }, { ports: [{ name: 'http', containerPort: 8080 }] })));
    // 250 kubectl processes would take long: the statuses go as raw status patches, 25 at a time.
    for (let i = 0; i < n; i += 25) {
      await Promise.all(
        Array.from({ length: Math.min(25, n - i) }, async (_, j) => {
          const ip = ipOf(i + j);
          const r = await request(p, 'PATCH', `/api/v1/namespaces/${NS}/pods/many-${i + j}/status`, {
            body: { status: { phase: 'Running', podIP: ip, podIPs: [{ ip }], conditions: [{ type: 'Ready', status: 'True' }] } },
            headers: { 'Content-Type': 'application/merge-patch+json' },
          });
          assert.equal(r.status, 200, r.body);
        }),
      );
    }
    await apply(service(NS, 'many', { selector: { app: 'many' }, ports: [{ name: 'http', port: 80, targetPort: 'http' }] }, { team: 'a' }));
    const want = Array.from({ length: n }, (_, i) => ipOf(i));
    const slices = await waitFor(async () => {
      const s = await slicesOf(NS, 'many');
      return s.length === 3 && same(sliceSummary(s), [...want].sort()) ? s : undefined;
    }, '250 endpoints in 3 slices');
    const svcUid = await uidOf(`/api/v1/namespaces/${NS}/services/many`);
    for (const s of slices) {
      assert.ok((s.endpoints ?? []).length <= 100, `at most 100 endpoints in ${s.metadata.name}`);
      assert.equal(s.addressType, 'IPv4');
      assert.deepEqual(s.ports, [{ name: 'http', port: 8080, protocol: 'TCP' }]);
      assert.equal(s.metadata.generateName, 'many-');
      assert.match(s.metadata.name ?? '', /^many-[a-z0-9]+$/);
      assert.equal(s.metadata.labels?.[SERVICE_NAME], 'many');
      assert.equal(s.metadata.labels?.[MANAGED_BY], 'endpointslice-controller.k8s.io');
      assert.equal(s.metadata.labels?.team, 'a', 'the Service labels are copied');
      assert.equal(s.metadata.labels?.[HEADLESS], undefined);
      assert.deepEqual(s.metadata.ownerReferences, [{ apiVersion: 'v1', kind: 'Service', name: 'many', uid: svcUid, controller: true, blockOwnerDeletion: true }]);
      for (const e of s.endpoints ?? []) {
        assert.deepEqual(e.conditions, { ready: true, serving: true, terminating: false });
        assert.equal(e.targetRef?.kind, 'Pod');
        assert.match(e.targetRef?.name ?? '', /^many-\d+$/);
      }
      assert.ok(s.metadata.annotations?.[TRIGGER_TIME], `trigger time on ${s.metadata.name}`);
    }
    // The Endpoints object of the same Service (under the 1000 cap) has them all.
    await waitEndpoints(NS, 'many', want, '250 pods');
  });

  it('keeps a gracefully deleted pod as terminating (serving as the pod reports it) until it is gone', async () => {
    await apply([
      pod(NS, 'grace-1', { app: 'grace' }, { node: 'node-g', ports: [{ name: 'http', containerPort: 8080 }] }),
      pod(NS, 'grace-2', { app: 'grace' }, { node: 'node-g', ports: [{ name: 'http', containerPort: 8080 }] }),
    ]);
    await setStatus(NS, 'grace-1', '198.19.20.1', true);
    await setStatus(NS, 'grace-2', '198.19.20.2', true);
    await apply([
      service(NS, 'grace', { selector: { app: 'grace' }, ports: [{ name: 'http', port: 80, targetPort: 'http' }] }),
      service(NS, 'grace-pub', { selector: { app: 'grace' }, publishNotReadyAddresses: true, ports: [{ name: 'http', port: 80, targetPort: 'http' }] }),
    ]);
    await waitSlices(NS, 'grace', ['198.19.20.1', '198.19.20.2'], 'both ready');
    await waitEndpoints(NS, 'grace', ['198.19.20.1', '198.19.20.2'], 'both ready');

    // Bound to a node, default grace period (30 s) and no kubelet to finish it: it stays Terminating.
    await kubectlOk(p, ['delete', 'pod', 'grace-1', '-n', NS, '--wait=false']);
    const live = await getJSON<{ metadata: Meta }>(`/api/v1/namespaces/${NS}/pods/grace-1`);
    assert.ok(live?.metadata.deletionTimestamp, 'grace-1 is terminating, not gone');

    let slices = await waitSlices(NS, 'grace', ['198.19.20.1!', '198.19.20.2'], 'terminating pod not ready');
    assert.deepEqual(byAddress(slices).get('198.19.20.1')?.conditions, { ready: false, serving: true, terminating: true });
    assert.equal(byAddress(slices).get('198.19.20.1')?.nodeName, 'node-g');
    // The Endpoints object drops terminating pods (as kube's controller does)...
    await waitEndpoints(NS, 'grace', ['198.19.20.2'], 'terminating pod left out');
    // ...unless not-ready addresses are published.
    await waitEndpoints(NS, 'grace-pub', ['198.19.20.1', '198.19.20.2'], 'terminating pod published');
    slices = await waitSlices(NS, 'grace-pub', ['198.19.20.1', '198.19.20.2'], 'terminating pod published');
    assert.deepEqual(byAddress(slices).get('198.19.20.1')?.conditions, { ready: true, serving: true, terminating: true });

    // The terminating pod's readiness goes on counting for `serving`.
    await setStatus(NS, 'grace-1', '198.19.20.1', false);
    slices = await waitFor(async () => {
      const s = await slicesOf(NS, 'grace');
      return byAddress(s).get('198.19.20.1')?.conditions?.serving === false ? s : undefined;
    }, 'terminating pod no longer serving');
    assert.deepEqual(byAddress(slices).get('198.19.20.1')?.conditions, { ready: false, serving: false, terminating: true });

    // Gone for good: out of the slices.
    await kubectlOk(p, ['delete', 'pod', 'grace-1', '-n', NS, '--grace-period=0', '--force']);
    await waitSlices(NS, 'grace', ['198.19.20.2'], 'deleted pod removed');
    await waitSlices(NS, 'grace-pub', ['198.19.20.2'], 'deleted pod removed');
  });

  it('takes the zone from the Node label and follows it when the label changes', async () => {
    await apply({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'zone-node', labels: { 'topology.kubernetes.io/zone': 'zone-a' } } });
    await apply([
      pod(NS, 'z-1', { app: 'zoned' }, { node: 'zone-node', hostname: 'z1', subdomain: 'zoned', ports: [{ name: 'http', containerPort: 8080 }] }),
      // A node with no Node object: no zone.
      pod(NS, 'z-2', { app: 'zoned' }, { node: 'ghost-node', ports: [{ name: 'http', containerPort: 8080 }] }),
      pod(NS, 'z-3', { app: 'zoned' }, { ports: [{ name: 'http', containerPort: 8080 }] }),
    ]);
    await setStatus(NS, 'z-1', '198.19.21.1', true);
    await setStatus(NS, 'z-2', '198.19.21.2', true);
    await setStatus(NS, 'z-3', '198.19.21.3', false);
    await apply(service(NS, 'zoned', { selector: { app: 'zoned' }, ports: [{ name: 'http', port: 80, targetPort: 'http' }] }));
    const slices = await waitSlices(NS, 'zoned', ['198.19.21.1', '198.19.21.2', '198.19.21.3!'], 'zoned');
    const eps = byAddress(slices);
    const uid = (n: string) => uidOf(`/api/v1/namespaces/${NS}/pods/${n}`);
    assert.deepEqual(eps.get('198.19.21.1'), {
      addresses: ['198.19.21.1'],
      conditions: { ready: true, serving: true, terminating: false },
      hostname: 'z1',
      nodeName: 'zone-node',
      zone: 'zone-a',
      targetRef: { kind: 'Pod', namespace: NS, name: 'z-1', uid: await uid('z-1') },
    });
    assert.deepEqual(eps.get('198.19.21.2'), {
      addresses: ['198.19.21.2'],
      conditions: { ready: true, serving: true, terminating: false },
      nodeName: 'ghost-node',
      targetRef: { kind: 'Pod', namespace: NS, name: 'z-2', uid: await uid('z-2') },
    });
    assert.deepEqual(eps.get('198.19.21.3'), {
      addresses: ['198.19.21.3'],
      conditions: { ready: false, serving: false, terminating: false },
      targetRef: { kind: 'Pod', namespace: NS, name: 'z-3', uid: await uid('z-3') },
    });
    await kubectlOk(p, ['label', 'node', 'zone-node', 'topology.kubernetes.io/zone=zone-b', '--overwrite']);
    await waitFor(async () => byAddress(await slicesOf(NS, 'zoned')).get('198.19.21.1')?.zone === 'zone-b', 'zone follows the Node label');
  });

  it('keeps one placeholder slice for a Service without endpoints, and fills it when a pod comes', async () => {
    await apply(service(NS, 'lonely', { selector: { app: 'lonely' }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] }));
    const [placeholder, ...rest] = await waitFor(async () => {
      const s = await slicesOf(NS, 'lonely');
      return s.length > 0 ? s : undefined;
    }, 'placeholder slice');
    assert.equal(rest.length, 0, 'one placeholder');
    assert.ok(placeholder);
    assert.equal(placeholder.addressType, 'IPv4');
    assert.equal((placeholder.endpoints ?? []).length, 0);
    assert.equal((placeholder.ports ?? []).length, 0);
    assert.equal(placeholder.metadata.labels?.[MANAGED_BY], 'endpointslice-controller.k8s.io');
    // Its Endpoints object exists too, with no subsets.
    const ep = await waitFor(() => endpointsOf(NS, 'lonely'), 'empty Endpoints');
    assert.deepEqual(ep.subsets ?? [], []);

    await apply(pod(NS, 'lonely-1', { app: 'lonely' }));
    await setStatus(NS, 'lonely-1', '198.19.22.1', true);
    const filled = await waitFor(async () => {
      const s = await slicesOf(NS, 'lonely');
      return s.length === 1 && same(sliceSummary(s), ['198.19.22.1']) ? s : undefined;
    }, 'one slice with the pod');
    assert.deepEqual(filled[0]?.ports, [{ name: 'http', port: 8080, protocol: 'TCP' }]);

    await kubectlOk(p, ['delete', 'pod', 'lonely-1', '-n', NS]);
    await waitFor(async () => {
      const s = await slicesOf(NS, 'lonely');
      return s.length === 1 && (s[0]?.endpoints ?? []).length === 0;
    }, 'back to a placeholder');
  });
});

// ---- mirroring -------------------------------------------------------------------------------------

describe('EndpointSlice mirroring', () => {
  const NS = 'c4-mirror';
  before(async () => {
    await createNamespace(p, NS);
  });

  const handMade = (name: string, subsets: object[], labels: Record<string, string> = {}) => ({ apiVersion: 'v1', kind: 'Endpoints', metadata: { name, namespace: NS, labels }, subsets });

  it("mirrors a selectorless Service's hand-made Endpoints into slices owned by the Endpoints", async () => {
    // Skipped one first: when the mirrored one shows up, the controller has seen both.
    await apply([
      service(NS, 'ext-skip', { ports: [{ name: 'http', port: 80, targetPort: 8080 }] }),
      handMade('ext-skip', [{ addresses: [{ ip: '198.19.30.9' }], ports: [{ name: 'http', port: 8080 }] }], { [SKIP_MIRROR]: 'true' }),
    ]);
    await apply([
      service(NS, 'ext', { ports: [{ name: 'http', port: 80, targetPort: 8080 }, { name: 'admin', port: 81, targetPort: 9000 }] }),
      handMade(
        'ext',
        [
          {
            addresses: [{ ip: '198.19.30.1', hostname: 'one', nodeName: 'node-x' }, { ip: '198.19.30.2' }],
            notReadyAddresses: [{ ip: '198.19.30.3' }],
            ports: [
              { name: 'http', port: 8080, protocol: 'TCP' },
              { name: 'admin', port: 9000, protocol: 'TCP' },
            ],
          },
        ],
        { owner: 'me' },
      ),
    ]);
    const slices = await waitSlices(NS, 'ext', ['198.19.30.1', '198.19.30.2', '198.19.30.3!'], 'mirrored');
    const epUid = await uidOf(`/api/v1/namespaces/${NS}/endpoints/ext`);
    assert.equal(slices.length, 1);
    const s = slices[0]!;
    assert.equal(s.metadata.labels?.[MANAGED_BY], 'endpointslicemirroring-controller.k8s.io');
    assert.equal(s.metadata.labels?.[SERVICE_NAME], 'ext');
    assert.equal(s.metadata.labels?.owner, 'me', "the Endpoints' labels are copied");
    assert.equal(s.metadata.annotations?.['kubectl.kubernetes.io/last-applied-configuration'], undefined, 'last-applied is not mirrored');
    assert.deepEqual(s.metadata.ownerReferences, [{ apiVersion: 'v1', kind: 'Endpoints', name: 'ext', uid: epUid, controller: true, blockOwnerDeletion: true }]);
    assert.equal(s.addressType, 'IPv4');
    assert.deepEqual(
      [...(s.ports ?? [])].sort((a, b) => (a.name ?? '').localeCompare(b.name ?? '')),
      [
        { name: 'admin', port: 9000, protocol: 'TCP' },
        { name: 'http', port: 8080, protocol: 'TCP' },
      ],
    );
    const one = byAddress(slices).get('198.19.30.1');
    assert.equal(one?.hostname, 'one');
    assert.equal(one?.nodeName, 'node-x');
    assert.equal(one?.conditions?.ready, true);
    assert.deepEqual(await slicesOf(NS, 'ext-skip'), [], 'skip-mirror Endpoints are not mirrored');

    // Edits to the Endpoints carry over.
    await apply(handMade('ext', [{ addresses: [{ ip: '198.19.30.1' }, { ip: '198.19.30.4' }], ports: [{ name: 'http', port: 8080, protocol: 'TCP' }] }], { owner: 'me' }));
    const edited = await waitSlices(NS, 'ext', ['198.19.30.1', '198.19.30.4'], 'mirrored edit');
    assert.deepEqual(
      edited.map((x) => x.ports),
      [[{ name: 'http', port: 8080, protocol: 'TCP' }]],
    );

    // Labelled skip-mirror afterwards: the mirrored slices are withdrawn.
    await kubectlOk(p, ['label', 'endpoints', 'ext', '-n', NS, `${SKIP_MIRROR}=true`]);
    await waitFor(async () => (await slicesOf(NS, 'ext')).length === 0, 'mirrored slices withdrawn on skip-mirror');
    await kubectlOk(p, ['label', 'endpoints', 'ext', '-n', NS, `${SKIP_MIRROR}-`]);
    await waitSlices(NS, 'ext', ['198.19.30.1', '198.19.30.4'], 'mirrored again');

    // The Endpoints go: their slices go (owner references).
    await kubectlOk(p, ['delete', 'endpoints', 'ext', '-n', NS]);
    await waitFor(async () => (await slicesOf(NS, 'ext')).length === 0, 'mirrored slices gone with their Endpoints');
  });
});

// ---- garbage collection --------------------------------------------------------------------------

describe('garbage collection', () => {
  const NS = 'c4-gc';
  before(async () => {
    await createNamespace(p, NS);
  });

  it("deleting a Service removes its Endpoints and slices (a selectorless one's hand-made Endpoints too)", async () => {
    await apply([pod(NS, 'gc-1', { app: 'gc' })]);
    await setStatus(NS, 'gc-1', '198.19.40.1', true);
    await apply([
      service(NS, 'gc', { selector: { app: 'gc' }, ports: [{ port: 80 }] }),
      service(NS, 'gc-manual', { ports: [{ port: 80 }] }),
      { apiVersion: 'v1', kind: 'Endpoints', metadata: { name: 'gc-manual', namespace: NS }, subsets: [{ addresses: [{ ip: '198.19.40.9' }], ports: [{ port: 80 }] }] },
    ]);
    await waitEndpoints(NS, 'gc', ['198.19.40.1'], 'before delete');
    await waitSlices(NS, 'gc', ['198.19.40.1'], 'before delete');
    await waitSlices(NS, 'gc-manual', ['198.19.40.9'], 'mirrored before delete');

    await kubectlOk(p, ['delete', 'service', 'gc', 'gc-manual', '-n', NS]);
    await waitFor(async () => (await endpointsOf(NS, 'gc')) === undefined, 'Endpoints deleted with the Service');
    await waitFor(async () => (await slicesOf(NS, 'gc')).length === 0, 'slices deleted with the Service');
    await waitFor(async () => (await endpointsOf(NS, 'gc-manual')) === undefined, 'hand-made Endpoints deleted with the Service');
    await waitFor(async () => (await slicesOf(NS, 'gc-manual')).length === 0, 'mirrored slices deleted with the Endpoints');
    // The pod is not the Service's: it stays.
    assert.ok(await getJSON(`/api/v1/namespaces/${NS}/pods/gc-1`));
  });

  it('deleting a namespace removes everything in it', async () => {
    const ns = 'c4-gc-doomed';
    await createNamespace(p, ns);
    await apply([pod(ns, 'd-1', { app: 'd' }), pod(ns, 'd-2', { app: 'd' })]);
    await setStatus(ns, 'd-1', '198.19.41.1', true);
    await setStatus(ns, 'd-2', '198.19.41.2', false);
    await apply([
      service(ns, 'd', { selector: { app: 'd' }, ports: [{ port: 80 }] }),
      service(ns, 'd-manual', { ports: [{ port: 80 }] }),
      { apiVersion: 'v1', kind: 'Endpoints', metadata: { name: 'd-manual', namespace: ns }, subsets: [{ addresses: [{ ip: '198.19.41.9' }], ports: [{ port: 80 }] }] },
    ]);
    await waitSlices(ns, 'd', ['198.19.41.1', '198.19.41.2!'], 'before namespace delete');
    await waitSlices(ns, 'd-manual', ['198.19.41.9'], 'before namespace delete');

    await kubectlOk(p, ['delete', 'namespace', ns, '--wait=false']);
    await waitFor(async () => (await getJSON(`/api/v1/namespaces/${ns}`)) === undefined, 'namespace gone');
    for (const path of [`/api/v1/namespaces/${ns}/pods`, `/api/v1/namespaces/${ns}/services`, `/api/v1/namespaces/${ns}/endpoints`, `/apis/discovery.k8s.io/v1/namespaces/${ns}/endpointslices`]) {
      const l = await getJSON<{ items: unknown[] }>(path);
      assert.deepEqual(l?.items ?? [], [], `${path} is empty`);
    }
    const r = await kubectl(p, ['get', 'endpoints,endpointslices', '-n', ns]);
    assert.match(r.stderr + r.stdout, /No resources found/);
  });
});

// ---- pod lifecycle -------------------------------------------------------------------------------

describe('pod lifecycle as the controllers see it', () => {
  const NS = 'c4-life';
  before(async () => {
    await createNamespace(p, NS);
    await apply([pod(NS, 'l-1', { app: 'life' }, { ports: [{ name: 'http', containerPort: 8080 }] }), pod(NS, 'l-2', { app: 'life' }, { ports: [{ name: 'http', containerPort: 8080 }] })]);
    await setStatus(NS, 'l-1', '198.19.50.1', true);
    await setStatus(NS, 'l-2', '198.19.50.2', true);
    await apply(service(NS, 'life', { selector: { app: 'life' }, ports: [{ name: 'http', port: 80, targetPort: 'http' }] }));
    await waitEndpoints(NS, 'life', ['198.19.50.1', '198.19.50.2'], 'start');
    await waitSlices(NS, 'life', ['198.19.50.1', '198.19.50.2'], 'start');
  });

  it('a Ready flip moves the pod to notReadyAddresses and its slice endpoint to ready=false, and back', async () => {
    await setStatus(NS, 'l-2', '198.19.50.2', false);
    await waitEndpoints(NS, 'life', ['198.19.50.1', '198.19.50.2!'], 'l-2 not ready');
    const slices = await waitSlices(NS, 'life', ['198.19.50.1', '198.19.50.2!'], 'l-2 not ready');
    assert.deepEqual(byAddress(slices).get('198.19.50.2')?.conditions, { ready: false, serving: false, terminating: false });
    await setStatus(NS, 'l-2', '198.19.50.2', true);
    await waitEndpoints(NS, 'life', ['198.19.50.1', '198.19.50.2'], 'l-2 ready again');
    await waitSlices(NS, 'life', ['198.19.50.1', '198.19.50.2'], 'l-2 ready again');
  });

  it('follows an IP change', async () => {
    await setStatus(NS, 'l-1', '198.19.50.11', true);
    await waitEndpoints(NS, 'life', ['198.19.50.11', '198.19.50.2'], 'l-1 new IP');
    await waitSlices(NS, 'life', ['198.19.50.11', '198.19.50.2'], 'l-1 new IP');
  });

  it('a terminal pod (Succeeded) is left out', async () => {
    await apply(pod(NS, 'l-done', { app: 'life' }, { ports: [{ name: 'http', containerPort: 8080 }] }));
    await setStatus(NS, 'l-done', '198.19.50.9', true);
    await waitEndpoints(NS, 'life', ['198.19.50.11', '198.19.50.2', '198.19.50.9'], 'l-done running');
    await setStatus(NS, 'l-done', '198.19.50.9', false, 'Succeeded');
    await waitEndpoints(NS, 'life', ['198.19.50.11', '198.19.50.2'], 'l-done succeeded');
    await waitSlices(NS, 'life', ['198.19.50.11', '198.19.50.2'], 'l-done succeeded');
  });

  it('a label change takes the pod out', async () => {
    await kubectlOk(p, ['label', 'pod', 'l-2', '-n', NS, 'app=other', '--overwrite']);
    await waitEndpoints(NS, 'life', ['198.19.50.11'], 'l-2 relabelled');
    await waitSlices(NS, 'life', ['198.19.50.11'], 'l-2 relabelled');
  });

  it('a selector change swaps the pods', async () => {
    await kubectlOk(p, ['patch', 'service', 'life', '-n', NS, '--type=merge', '-p', JSON.stringify({ spec: { selector: { app: 'other' } } })]);
    await waitEndpoints(NS, 'life', ['198.19.50.2'], 'selector app=other');
    await waitSlices(NS, 'life', ['198.19.50.2'], 'selector app=other');
  });

  it('a pod deletion takes it out, leaving an empty Endpoints and a placeholder slice', async () => {
    await kubectlOk(p, ['delete', 'pod', 'l-2', '-n', NS]);
    await waitFor(async () => {
      const ep = await endpointsOf(NS, 'life');
      return ep && (ep.subsets ?? []).length === 0;
    }, 'empty Endpoints');
    await waitFor(async () => {
      const s = await slicesOf(NS, 'life');
      return s.length === 1 && (s[0]?.endpoints ?? []).length === 0;
    }, 'placeholder slice');
  });
});

// ---- node pod CIDRs ----------------------------------------------------------------------------

const inPodCIDR16 = (c: string) => /^198\.19\.(\d+)\.0\/24$/.test(c);

describe('node podCIDR allocation', () => {
  it('gives two Nodes distinct /24s of the pod CIDR', async () => {
    await apply([
      { apiVersion: 'v1', kind: 'Node', metadata: { name: 'ipam-1' } },
      { apiVersion: 'v1', kind: 'Node', metadata: { name: 'ipam-2' } },
    ]);
    const cidrOf = (n: string) =>
      waitFor(async () => {
        const node = await getJSON<Node>(`/api/v1/nodes/${n}`);
        return node?.spec?.podCIDR ? node : undefined;
      }, `podCIDR of ${n}`);
    const [a, b] = await Promise.all([cidrOf('ipam-1'), cidrOf('ipam-2')]);
    for (const n of [a, b]) {
      assert.ok(inPodCIDR16(n.spec!.podCIDR!), `${n.metadata.name}: ${n.spec?.podCIDR} is a /24 of 198.19.0.0/16`);
      assert.deepEqual(n.spec?.podCIDRs, [n.spec?.podCIDR]);
    }
    assert.notEqual(a.spec?.podCIDR, b.spec?.podCIDR);
    const shown = await kubectlOk(p, ['get', 'node', 'ipam-1', '-o', 'jsonpath={.spec.podCIDR}']);
    assert.equal(shown, a.spec?.podCIDR);
  });

  it('releases a deleted Node’s range for another Node (a pod CIDR with room for two)', async () => {
    const q = await startPortico(['--pod-cidr', '198.19.0.0/23', '--service-cidr', '198.18.0.0/16']);
    const get = async (n: string) => {
      const r = await request(q, 'GET', `/api/v1/nodes/${n}`);
      assert.equal(r.status, 200, r.body);
      return r.json<Node>();
    };
    const path = await writeManifest(q, 'nodes.yaml', [
      { apiVersion: 'v1', kind: 'Node', metadata: { name: 'n-1' } },
      { apiVersion: 'v1', kind: 'Node', metadata: { name: 'n-2' } },
    ]);
    await kubectlOk(q, ['apply', '-f', path]);
    const c1 = (await waitFor(async () => (await get('n-1')).spec?.podCIDR, 'n-1 range')) as string;
    const c2 = (await waitFor(async () => (await get('n-2')).spec?.podCIDR, 'n-2 range')) as string;
    assert.deepEqual([c1, c2].sort(), ['198.19.0.0/24', '198.19.1.0/24']);

    // The range is full: a third Node waits, with a CIDRNotAvailable event.
    await kubectlOk(q, ['apply', '-f', await writeManifest(q, 'n3.yaml', { apiVersion: 'v1', kind: 'Node', metadata: { name: 'n-3' } })]);
    await waitFor(async () => {
      const out = await kubectlOk(q, ['get', 'events', '-A', '--field-selector', 'involvedObject.name=n-3', '-o', 'jsonpath={.items[*].reason}']);
      return out.includes('CIDRNotAvailable');
    }, 'CIDRNotAvailable event for n-3');
    assert.equal((await get('n-3')).spec?.podCIDR, undefined);

    await kubectlOk(q, ['delete', 'node', 'n-1']);
    // Any update makes the allocator look at n-3 again (a kubelet's heartbeat would).
    await waitFor(async () => {
      await kubectlOk(q, ['label', 'node', 'n-3', `retry=${Date.now()}`, '--overwrite']);
      return (await get('n-3')).spec?.podCIDR === c1;
    }, `n-3 gets ${c1} back`, 60_000, 1000);
    assert.equal((await get('n-2')).spec?.podCIDR, c2, 'n-2 keeps its range');
    await q.stop();
  });
});
