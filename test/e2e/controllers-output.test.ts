// Issue 4: `kubectl get endpoints,endpointslices` over what the controllers made prints as
// kube-apiserver prints the same objects. The expected table is computed from the objects read back
// as JSON with kube's printer rules (pkg/printers/internalversion/printers.go: formatEndpoints,
// formatDiscoveryPorts, formatDiscoveryEndpoints, listWithMoreString), written again here on
// purpose, and laid out as kubectl's tabwriter does; a few cells are also checked literally. AGE
// values vary, so they are replaced by "<age>" before comparing.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { cleanup, createNamespace, kubectl, kubectlOk, request, startPortico, waitFor, writeManifest, type Portico } from './harness.js';

after(cleanup);

interface Meta {
  name: string;
}
interface Endpoints {
  metadata: Meta;
  subsets?: Array<{ addresses?: Array<{ ip: string }>; notReadyAddresses?: Array<{ ip: string }>; ports?: Array<{ name?: string; port: number }> }> | null;
}
interface Slice {
  metadata: Meta;
  addressType: string;
  endpoints?: Array<{ addresses: string[] }> | null;
  ports?: Array<{ name?: string | null; port?: number | null }> | null;
}

const NS = 'c4-out';
let p: Portico;

// ---- kube's printer rules, for the expected text ------------------------------------------------

const joinHostPort = (ip: string, port: number) => (ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`);

/** formatEndpoints(endpoints, nil): ready addresses only, port-major, 3 shown then "+ N more...". */
function formatEndpoints(ep: Endpoints): string {
  const subsets = ep.subsets ?? [];
  if (subsets.length === 0) return '<none>';
  const list: string[] = [];
  const max = 3;
  let more = false;
  let count = 0;
  for (const ss of subsets) {
    const addrs = ss.addresses ?? [];
    if ((ss.ports ?? []).length === 0) {
      for (const a of addrs) {
        if (list.length === max) more = true;
        if (!more) list.push(a.ip);
        count++;
      }
    } else {
      for (const port of ss.ports ?? []) {
        for (const a of addrs) {
          if (list.length === max) more = true;
          if (!more) list.push(joinHostPort(a.ip, port.port));
          count++;
        }
      }
    }
  }
  const ret = list.join(',');
  return more ? `${ret} + ${count - max} more...` : ret;
}

function listWithMoreString(list: string[], more: boolean, count: number, max: number): string {
  const ret = list.join(',');
  if (more) return `${ret} + ${count - max} more...`;
  return ret !== '' ? ret : '<unset>';
}

function formatDiscoveryPorts(ports: Slice['ports']): string {
  const list: string[] = [];
  const max = 3;
  let more = false;
  let count = 0;
  for (const port of ports ?? []) {
    if (list.length < max) list.push(port.port != null ? String(port.port) : port.name != null ? port.name : '*');
    else if (list.length === max) more = true;
    count++;
  }
  return listWithMoreString(list, more, count, max);
}

function formatDiscoveryEndpoints(endpoints: Slice['endpoints']): string {
  const list: string[] = [];
  const max = 3;
  let more = false;
  let count = 0;
  for (const e of endpoints ?? []) {
    for (const a of e.addresses) {
      if (list.length < max) list.push(a);
      else if (list.length === max) more = true;
      count++;
    }
  }
  return listWithMoreString(list, more, count, max);
}

// ---- kubectl's table layout ------------------------------------------------------------------------

/** Go text/tabwriter as kubectl sets it up: minwidth 6, padding 3, the last cell unpadded. */
function render(rows: string[][]): string {
  const n = rows[0]?.length ?? 0;
  const widths: number[] = [];
  for (let j = 0; j < n - 1; j++) widths.push(Math.max(6, ...rows.map((r) => (r[j] ?? '').length + 3)));
  return rows.map((r) => r.map((c, j) => (j < n - 1 ? c.padEnd(widths[j]!) : c)).join('').trimEnd()).join('\n');
}

/** Cells of one printed table, cut at the header's column starts (each checked to be aligned). */
function cells(table: string): string[][] {
  const ls = table.split('\n').filter((l) => l.length > 0);
  const header = ls[0] ?? '';
  const starts = [...header.matchAll(/\S+(?: \S+)*/g)].map((m) => m.index);
  assert.equal(starts[0], 0, `header at column 0: ${JSON.stringify(header)}`);
  return ls.map((l) =>
    starts.map((s, j) => {
      const next = starts[j + 1];
      const cell = next === undefined ? l.slice(s) : l.slice(s, next);
      if (next !== undefined && next < l.length) assert.match(cell, /^(\S(.*\S)?\s{3,}|\s*)$/, `cell ${j} of ${JSON.stringify(l)} aligned under its header`);
      return cell.trimEnd();
    }),
  );
}

/** kubectl's output with each AGE cell (which must look like a kube duration) replaced by "<age>". */
function normalise(out: string): string {
  return out
    .replace(/\n+$/, '')
    .split(/\n\n/)
    .map((group) => {
      const rows = cells(group);
      const age = rows[0]!.indexOf('AGE');
      assert.ok(age >= 0, `an AGE column in ${JSON.stringify(rows[0])}`);
      for (const r of rows.slice(1)) {
        assert.match(r[age]!, /^(\d+[smhdy]){1,2}$/, `AGE cell of ${JSON.stringify(r)}`);
        r[age] = '<age>';
      }
      return render(rows);
    })
    .join('\n\n');
}

// ---- fixtures ------------------------------------------------------------------------------------

async function list<T>(path: string): Promise<T[]> {
  const r = await request(p, 'GET', path);
  assert.equal(r.status, 200, r.body);
  return r.json<{ items: T[] }>().items.sort((a, b) => ((a as { metadata: Meta }).metadata.name < (b as { metadata: Meta }).metadata.name ? -1 : 1));
}
const endpointsList = () => list<Endpoints>(`/api/v1/namespaces/${NS}/endpoints`);
const sliceList = () => list<Slice>(`/apis/discovery.k8s.io/v1/namespaces/${NS}/endpointslices`);

const pod = (name: string, app: string) => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, namespace: NS, labels: { app } },
  spec: {
    containers: [
      {
        name: 'app',
        image: 'registry.k8s.io/pause:3.10',
        ports: [
          { name: 'http', containerPort: 8080 },
          { name: 'metrics', containerPort: 9100 },
        ],
      },
    ],
  },
});
const service = (name: string, spec: object) => ({ apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: NS }, spec });

/** Addresses per Endpoints / slice-owning Service once the controllers are done (ready and not). */
const WANT: Record<string, number> = { 'o-many': 5, 'o-mixed': 4, 'o-notready': 1, 'o-empty': 0, 'o-mirror': 2 };

before(async () => {
  p = await startPortico(['--pod-cidr', '198.19.0.0/16', '--service-cidr', '198.18.0.0/16']);
  await createNamespace(p, NS);
  const pods = [
    ...[1, 2, 3, 4, 5].map((i) => pod(`many-${i}`, 'many')),
    ...[1, 2, 3, 4].map((i) => pod(`mixed-${i}`, 'mixed')),
    pod('nr-1', 'notready'),
  ];
  const httpAndMetrics = [
    { name: 'http', port: 80, targetPort: 'http' },
    { name: 'metrics', port: 9100, targetPort: 'metrics' },
  ];
  await kubectlOk(p, [
    'apply',
    '-f',
    await writeManifest(p, 'all.yaml', [
      ...pods,
      service('o-many', { selector: { app: 'many' }, ports: httpAndMetrics }),
      service('o-mixed', { selector: { app: 'mixed' }, ports: [{ name: 'http', port: 80, targetPort: 'http' }] }),
      service('o-notready', { selector: { app: 'notready' }, ports: [{ port: 80, targetPort: 8080 }] }),
      service('o-empty', { selector: { app: 'nobody' }, ports: [{ port: 80 }] }),
      service('o-mirror', { clusterIP: 'None' }),
      { apiVersion: 'v1', kind: 'Endpoints', metadata: { name: 'o-mirror', namespace: NS }, subsets: [{ addresses: [{ ip: '198.19.79.1' }, { ip: '198.19.79.2' }] }] },
    ]),
  ]);
  const status = (ip: string, ready: boolean) => JSON.stringify({ status: { phase: 'Running', podIP: ip, podIPs: [{ ip }], conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }] } });
  const patch = (name: string, ip: string, ready: boolean) => kubectlOk(p, ['patch', 'pod', name, '-n', NS, '--subresource=status', '--type=merge', '-p', status(ip, ready)]);
  for (const i of [1, 2, 3, 4, 5]) await patch(`many-${i}`, `198.19.70.${i}`, true);
  for (const i of [1, 2, 3, 4]) await patch(`mixed-${i}`, `198.19.71.${i}`, i <= 2);
  await patch('nr-1', '198.19.72.1', false);

  const total = (n: number | undefined, ss: Endpoints['subsets']) => (ss ?? []).reduce((k, s) => k + (s.addresses?.length ?? 0) + (s.notReadyAddresses?.length ?? 0), 0) === n;
  await waitFor(async () => {
    const eps = await endpointsList();
    const slices = await sliceList();
    for (const [name, n] of Object.entries(WANT)) {
      const ep = eps.find((e) => e.metadata.name === name);
      if (!ep || !total(n, ep.subsets)) return false;
      const mine = slices.filter((s) => s.metadata.name.startsWith(`${name}-`));
      if (mine.length !== 1 || (mine[0]?.endpoints ?? []).length !== n) return false;
    }
    return true;
  }, 'the controllers to settle');
});

describe('kubectl get endpoints,endpointslices prints as kube-apiserver does', () => {
  it('get endpoints,endpointslices', async () => {
    const r = await kubectl(p, ['get', 'endpoints,endpointslices', '-n', NS]);
    assert.equal(r.code, 0, r.stderr);
    const eps = await endpointsList();
    const slices = await sliceList();
    const want = [
      render([['NAME', 'ENDPOINTS', 'AGE'], ...eps.map((e) => [`endpoints/${e.metadata.name}`, formatEndpoints(e), '<age>'])]),
      render([
        ['NAME', 'ADDRESSTYPE', 'PORTS', 'ENDPOINTS', 'AGE'],
        ...slices.map((s) => [`endpointslice.discovery.k8s.io/${s.metadata.name}`, s.addressType, formatDiscoveryPorts(s.ports), formatDiscoveryEndpoints(s.endpoints), '<age>']),
      ]),
    ].join('\n\n');
    assert.equal(normalise(r.stdout), want);

    // The forms that matter, literally.
    const row = (prefix: string) => cells(r.stdout.split('\n\n')[prefix.startsWith('endpoints/') ? 0 : 1] ?? '').find((c) => c[0]?.startsWith(prefix)) ?? assert.fail(`no row ${prefix}`);
    assert.match(row('endpoints/o-many')[1]!, /^198\.19\.70\.1:(8080|9100),198\.19\.70\.2:\1,198\.19\.70\.3:\1 \+ 7 more\.\.\.$/);
    assert.equal(row('endpoints/o-mixed')[1], '198.19.71.1:8080,198.19.71.2:8080');
    assert.equal(row('endpoints/o-notready')[1], '', 'only not-ready addresses: an empty cell');
    assert.equal(row('endpoints/o-empty')[1], '<none>');
    assert.equal(row('endpoints/o-mirror')[1], '198.19.79.1,198.19.79.2');
    assert.deepEqual(row('endpointslice.discovery.k8s.io/o-empty-').slice(1, 4), ['IPv4', '<unset>', '<unset>']);
    assert.deepEqual(row('endpointslice.discovery.k8s.io/o-mirror-').slice(1, 4), ['IPv4', '<unset>', '198.19.79.1,198.19.79.2']);
    assert.deepEqual(row('endpointslice.discovery.k8s.io/o-notready-').slice(1, 4), ['IPv4', '8080', '198.19.72.1']);
    const many = row('endpointslice.discovery.k8s.io/o-many-');
    assert.match(many[2]!, /^(8080,9100|9100,8080)$/);
    assert.match(many[3]!, /^198\.19\.70\.\d,198\.19\.70\.\d,198\.19\.70\.\d \+ 2 more\.\.\.$/);
    assert.match(row('endpointslice.discovery.k8s.io/o-mixed-')[3]!, /^198\.19\.71\.\d,198\.19\.71\.\d,198\.19\.71\.\d \+ 1 more\.\.\.$/, 'slices list not-ready endpoints too');
  });

  it('get endpoints and get endpointslices alone: plain names', async () => {
    const eps = await endpointsList();
    const slices = await sliceList();
    const e = await kubectlOk(p, ['get', 'endpoints', '-n', NS]);
    assert.equal(normalise(e), render([['NAME', 'ENDPOINTS', 'AGE'], ...eps.map((x) => [x.metadata.name, formatEndpoints(x), '<age>'])]));
    const s = await kubectlOk(p, ['get', 'endpointslices', '-n', NS]);
    assert.equal(
      normalise(s),
      render([['NAME', 'ADDRESSTYPE', 'PORTS', 'ENDPOINTS', 'AGE'], ...slices.map((x) => [x.metadata.name, x.addressType, formatDiscoveryPorts(x.ports), formatDiscoveryEndpoints(x.endpoints), '<age>'])]),
    );
  });
});
