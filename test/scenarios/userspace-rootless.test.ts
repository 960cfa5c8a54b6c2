// The Service scenarios that apply without root, against `portico up` run as an unprivileged user
// (nobody, no capabilities) with its default flags, as a developer would: it picks the userspace
// data plane and a Service CIDR inside loopback (127.96.0.0/12), runs Pods as processes on loopback
// addresses (127.0.0.2 and on), serves DNS on 127.0.0.1:1053 and node ports on 127.0.0.1. It runs
// inside a network namespace this test makes (`pt-<6 hex>-rootless`, only lo), so its fixed ports
// and loopback addresses are private to the run; the namespace's unprivileged port floor is the
// kernel default (1024), so Service ports here are 8080 and up.
//
// What needs root (ports below 1024, addresses outside loopback, a second node, the client's own
// address) is checked to be reported by Portico (a log line and portico_userspace_listen_failures_total),
// and the shared scenarios that cannot apply are listed as skipped with the reason.
//
// Root is needed only to make the namespace and drop to nobody (setpriv); everything made here is
// removed in `after`, also on failure: `portico up` is stopped by pid (it ends its pods), any
// process left in the namespace is killed by pid, the namespace and the data directory go.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, chown, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pollUntil } from '../../src/util/poll.js';
import { KUBECTL, PORTICO, Probe, Proc, manifest, run, runOk, type ProbeReply, type ProbeResult } from './plan.js';

const NOBODY = 65534;
/** Runs the rest of an argv as nobody:nogroup with no supplementary groups and no capabilities. */
const AS_NOBODY = ['setpriv', `--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', '--inh-caps=-all', '--'];
const NS_NAME = 'scn';
const T = { timeout: 120_000 };
const HTTP = 8080;
const TCP = 7000;
const UDP = 9000;
const PODS = [
  { name: 'p1', web: 8081, rm: false },
  { name: 'p2', web: 8082, rm: true },
  { name: 'p3', web: 8083, rm: false },
  { name: 'p4', web: 8084, rm: true },
] as const;
const ALL: string[] = PODS.map((p) => p.name);
const EXTERNAL_IP = '198.19.254.10';

const id = randomBytes(3).toString('hex');
const netns = `pt-${id}-rootless`;
let root = '';
let up: Proc | undefined;
let probe: Probe | undefined;
let nsMade = false;

const inNs = (argv: string[]) => ['ip', 'netns', 'exec', netns, ...AS_NOBODY, 'env', `HOME=${root}`, ...argv];
const kubectl = (args: string[], input?: string) =>
  runOk(inNs([KUBECTL, '--kubeconfig', join(root, 'data', 'kubeconfig.yaml'), '--cache-dir', join(root, 'kube-cache'), '--request-timeout', '30s', ...args]), { input });
const until = <T>(what: string, f: () => Promise<T | undefined | false>, boundMs = 45_000) => pollUntil(what, f, boundMs, 200);

/** Every process still in the namespace (pods outliving `up` on a failure), by pid. */
function killLeftovers(): void {
  const r = spawnSync('ip', ['netns', 'pids', netns], { encoding: 'utf8' });
  for (const pid of (r.stdout ?? '').split('\n').map(Number).filter((n) => n > 0)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
}
const onExit = () => {
  if (up?.running && up.child.pid !== undefined) process.kill(up.child.pid, 'SIGKILL');
  if (nsMade) {
    killLeftovers();
    spawnSync('ip', ['netns', 'del', netns]);
  }
};

function pod(p: (typeof PODS)[number]): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: p.name, namespace: NS_NAME, labels: { app: 'echo', pod: p.name, ...(p.rm ? { rm: 'yes' } : {}) } },
    spec: {
      terminationGracePeriodSeconds: 2,
      containers: [
        {
          name: 'echo',
          image: 'portico/echo',
          // Without root pods share the host's network: each binds its own loopback address.
          command: [process.execPath, PORTICO, 'echo', '--name', p.name, '--http', `$(MY_IP):${HTTP}`, '--http', `$(MY_IP):${p.web}`, '--tcp', `$(MY_IP):${TCP}`, '--udp', `$(MY_IP):${UDP}`],
          env: [{ name: 'MY_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } }],
          ports: [
            { name: 'http', containerPort: HTTP },
            { name: 'web', containerPort: p.web },
            { name: 'tcp-echo', containerPort: TCP },
            { name: 'udp-echo', containerPort: UDP, protocol: 'UDP' },
          ],
          readinessProbe: { httpGet: { path: '/', port: HTTP }, periodSeconds: 1 },
        },
      ],
    },
  };
}

function service(name: string, spec: Record<string, unknown>): Record<string, unknown> {
  return { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: NS_NAME }, spec };
}
const P_HTTP = { name: 'http', port: HTTP, targetPort: 'http' };
const SERVICES = [
  service('all', { selector: { app: 'echo' }, ports: [P_HTTP, { name: 'tcp', port: TCP, targetPort: 'tcp-echo' }, { name: 'udp', port: UDP, targetPort: 'udp-echo', protocol: 'UDP' }] }),
  service('named', { selector: { app: 'echo' }, ports: [{ name: 'web', port: HTTP, targetPort: 'web' }] }),
  service('np', { type: 'NodePort', selector: { app: 'echo' }, ports: [P_HTTP] }),
  service('aff', { selector: { app: 'echo' }, sessionAffinity: 'ClientIP', ports: [P_HTTP] }),
  service('empty', { selector: { app: 'nothing' }, ports: [P_HTTP] }),
  service('rm', { selector: { rm: 'yes' }, ports: [{ name: 'tcp', port: TCP, targetPort: TCP }, { name: 'udp', port: UDP, targetPort: UDP, protocol: 'UDP' }] }),
  // Root-only: a port below 1024, and an external IP no interface of this namespace holds.
  service('low', { selector: { app: 'echo' }, ports: [{ name: 'http', port: 80, targetPort: 'http' }] }),
  service('ext', { selector: { app: 'echo' }, externalIPs: [EXTERNAL_IP], ports: [P_HTTP] }),
];

interface SvcView {
  clusterIP: string;
  nodePort: number;
}
const views = new Map<string, SvcView>();
const view = (name: string) => {
  const v = views.get(name);
  if (!v) throw new Error(`Service ${name} was not created (see the before hook)`);
  return v;
};

function summarize(results: ProbeResult[]): string {
  const by = new Map<string, number>();
  for (const r of results) by.set(r.ok ? `ok:${r.reply.pod}` : r.error, (by.get(r.ok ? `ok:${r.reply.pod}` : r.error) ?? 0) + 1);
  return JSON.stringify(Object.fromEntries(by));
}
const podsOf = (results: ProbeResult[]) => results.map((r) => (r.ok ? r.reply.pod : `<${r.error}>`));
function okReplies(results: ProbeResult[], what: string): ProbeReply[] {
  assert.equal(results.filter((r) => !r.ok).length, 0, `${what}: ${summarize(results)}`);
  return results.map((r) => (r as { reply: ProbeReply }).reply);
}

/** Sends until every wanted pod answered, then checks a further batch reaches only them. */
async function serving(op: 'http' | 'tcp' | 'udp', host: string, port: number, want: readonly string[], batch = 20): Promise<ProbeReply[]> {
  const p = probe!;
  const seen = new Set<string>();
  let recent: ProbeResult[] = [];
  await until(`${op} ${host}:${port} answered by ${want.join(', ')} (so far ${[...seen].join(', ')}; last ${summarize(recent)})`, async () => {
    recent = await p.many(want.length * 4, op, host, port, { timeoutMs: 2_000 });
    for (const r of recent) if (r.ok) seen.add(r.reply.pod);
    return want.every((w) => seen.has(w));
  });
  const replies = okReplies(await p.many(batch, op, host, port), `${op} ${host}:${port}`);
  const strangers = replies.filter((r) => !want.includes(r.pod)).map((r) => r.pod);
  assert.deepEqual(strangers, [], `${op} ${host}:${port} reached pods outside ${want.join(',')}`);
  return replies;
}

/** The agent's /metrics (on 127.0.0.1:10249 inside the namespace), read as nobody. */
async function metrics(): Promise<string> {
  return runOk(inNs(['curl', '-sS', '--connect-timeout', '3', '-m', '5', 'http://127.0.0.1:10249/metrics']));
}

before(async () => {
  process.on('exit', onExit);
  root = await mkdtemp(join(tmpdir(), `pt-${id}-rootless-`));
  // nobody owns the data directory (and nothing else the test made).
  await chown(root, NOBODY, NOBODY);
  await chmod(root, 0o700);
  await runOk(['ip', 'netns', 'add', netns]);
  nsMade = true;
  await runOk(['ip', '-n', netns, 'link', 'set', 'lo', 'up']);
  // Default flags but the upstream resolver (nothing outside the namespace is reachable anyway).
  up = new Proc('portico up (nobody)', inNs([process.execPath, PORTICO, 'up', '--data-dir', join(root, 'data'), '--dns-upstream', '127.0.0.1:9']));
  await up.waitFor(/^ {2}node agent: .*$/m);
  await until('the node to register', async () => (await kubectl(['get', 'nodes', '-o', 'name'])).includes('node/'));
  await kubectl(['apply', '-f', '-'], manifest([{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS_NAME } }, ...PODS.map(pod), ...SERVICES]));
  for (const s of SERVICES) {
    const name = (s.metadata as { name: string }).name;
    const o = JSON.parse(await kubectl(['-n', NS_NAME, 'get', 'service', name, '-o', 'json'])) as { spec?: { clusterIP?: string; ports?: Array<{ nodePort?: number }> } };
    views.set(name, { clusterIP: o.spec?.clusterIP ?? '', nodePort: o.spec?.ports?.[0]?.nodePort ?? 0 });
  }
  probe = new Probe(netns, [...AS_NOBODY, 'env', `HOME=${root}`]);
});

after(async () => {
  await probe?.close().catch(() => undefined);
  // SIGTERM: `portico up` ends its pods (grace period, then SIGKILL) before it exits.
  await up?.stop('SIGTERM', 30_000);
  if (nsMade) {
    killLeftovers();
    await run(['ip', 'netns', 'del', netns]);
    nsMade = false;
  }
  if (root) await rm(root, { recursive: true, force: true });
  process.off('exit', onExit);
});

/** Waits until the Service's EndpointSlices list exactly these pods as ready. */
async function waitEndpoints(name: string, want: readonly string[]): Promise<void> {
  const wantSorted = [...want].sort().join(',');
  let last = '';
  await until(`EndpointSlices of ${name} to list ${wantSorted || 'nothing'} (last: ${last})`, async () => {
    const list = JSON.parse(await kubectl(['-n', NS_NAME, 'get', 'endpointslices', '-l', `kubernetes.io/service-name=${name}`, '-o', 'json'])) as {
      items: Array<{ endpoints?: Array<{ targetRef?: { name?: string }; conditions?: { ready?: boolean } }> }>;
    };
    last = [...new Set(list.items.flatMap((s) => (s.endpoints ?? []).filter((e) => e.conditions?.ready !== false).map((e) => e.targetRef?.name ?? '?')))].sort().join(',');
    return last === wantSorted;
  }, 90_000);
}

describe('portico up as an unprivileged user (userspace data plane, loopback addresses)', () => {
  it('runs as nobody without capabilities and prints the addresses and the DNS server to use', T, async () => {
    const status = await readFile(`/proc/${up!.child.pid}/status`, 'utf8');
    assert.match(status, new RegExp(`^Uid:\\s+${NOBODY}\\s+${NOBODY}\\s+${NOBODY}\\s+${NOBODY}$`, 'm'), 'portico up runs as nobody');
    assert.match(status, /^CapEff:\s+0+$/m, 'portico up holds no capability');
    const out = up!.stdout();
    assert.match(out, /^Portico is up: API https:\/\/127\.0\.0\.1:6443$/m);
    assert.match(out, /^ {2}kubectl --kubeconfig \S+kubeconfig\.yaml get namespaces$/m);
    assert.match(out, /^ {2}cluster DNS on 127\.0\.0\.1:1053 \(UDP and TCP\): dig @127\.0\.0\.1 -p 1053 kubernetes\.default\.svc\.cluster\.local$/m);
    assert.match(out, /^ {2}node agent: userspace data plane, Service CIDR 127\.96\.0\.0\/12, node ports on 127\.0\.0\.1$/m);
    assert.match(out, /without root, Service ports below 1024 cannot be bound/);
    // TCP goes through the native pump (built by npm ci), which nobody can load too.
    assert.doesNotMatch(up!.stderr(), /native relay unavailable/);
    // The Pods run as processes with loopback addresses, as nobody too.
    await waitEndpoints('all', ALL);
    const pods = JSON.parse(await kubectl(['-n', NS_NAME, 'get', 'pods', '-o', 'json'])) as { items: Array<{ status?: { podIP?: string } }> };
    for (const p of pods.items) assert.match(p.status?.podIP ?? '', /^127\.0\.0\.\d+$/);
  });

  it('ClusterIP in the loopback Service CIDR: TCP, HTTP and UDP reach every pod', T, async () => {
    await waitEndpoints('all', ALL);
    const ip = view('all').clusterIP;
    assert.match(ip, /^127\.(9[6-9]|10\d|11[01])\.\d+\.\d+$/, `cluster IP ${ip} inside 127.96.0.0/12`);
    await serving('http', ip, HTTP, ALL);
    await serving('tcp', ip, TCP, ALL);
    await serving('udp', ip, UDP, ALL);
  });

  it('a named targetPort resolves per pod', T, async () => {
    await waitEndpoints('named', ALL);
    for (const r of await serving('http', view('named').clusterIP, HTTP, ALL, 40)) {
      assert.equal(r.port, PODS.find((p) => p.name === r.pod)!.web, `pod ${r.pod} reached on ${r.port}`);
    }
  });

  it('NodePort on 127.0.0.1', T, async () => {
    await waitEndpoints('np', ALL);
    const port = view('np').nodePort;
    assert.ok(port >= 30000 && port <= 32767, `nodePort ${port}`);
    await serving('http', '127.0.0.1', port, ALL);
  });

  it('session affinity ClientIP keeps the client on one endpoint', T, async () => {
    await waitEndpoints('aff', ALL);
    const ip = view('aff').clusterIP;
    await until(`aff ${ip} answering`, async () => (await probe!.one('http', ip, HTTP, { timeoutMs: 2_000 })).ok);
    // Four endpoints: without affinity, 40 answers from one pod has probability 4 * 4^-40.
    const res = await probe!.many(40, 'http', ip, HTTP);
    okReplies(res, 'aff');
    assert.equal(new Set(podsOf(res)).size, 1, `affinity broken: ${summarize(res)}`);
  });

  it('no endpoints: TCP is reset at once, not a timeout', T, async (t) => {
    await waitEndpoints('empty', []);
    const ip = view('empty').clusterIP;
    t.diagnostic('userspace: ECONNRESET (the relay accepts, finds no endpoint and resets) where kernel modes refuse');
    // The listener is up once the cluster IP stops refusing (ECONNREFUSED: nothing listens yet).
    await until(`${ip}:${HTTP} to be listened on`, async () => {
      const r = await probe!.one('http', ip, HTTP, { timeoutMs: 5_000 });
      return !r.ok && r.error === 'ECONNRESET';
    });
    for (const r of await probe!.many(5, 'http', ip, HTTP, { timeoutMs: 5_000 })) {
      assert.equal(r.ok, false);
      if (!r.ok) assert.equal(r.error, 'ECONNRESET', `${r.error}: ${r.message}`);
      assert.ok(r.ms < 2_000, `the reset came after ${r.ms} ms, not at once`);
    }
  });

  it('an endpoint removed: new TCP connections and the UDP flow pinned to it move to the others', T, async () => {
    const p = probe!;
    await waitEndpoints('rm', ['p2', 'p4']);
    const ip = view('rm').clusterIP;
    await serving('tcp', ip, TCP, ['p2', 'p4']);
    await serving('udp', ip, UDP, ['p2', 'p4']);
    let flow = '';
    for (let i = 0; i < 40 && !flow; i++) {
      const r = await p.one('udp', ip, UDP, { flow: `f${i}` });
      if (r.ok && r.reply.pod === 'p4') flow = `f${i}`;
      else await p.send({ op: 'close', flow: `f${i}` });
    }
    assert.ok(flow, 'no UDP flow landed on p4 in 40 tries');
    assert.deepEqual([...new Set(podsOf(await p.many(5, 'udp', ip, UDP, { flow })))], ['p4'], 'the flow is stable before the change');
    try {
      await kubectl(['-n', NS_NAME, 'label', 'pod', 'p4', 'rm-']);
      await waitEndpoints('rm', ['p2']);
      let streak = 0;
      await until('30 new TCP connections in a row to reach p2 only', async () => {
        const r = await p.one('tcp', ip, TCP);
        streak = r.ok && r.reply.pod === 'p2' ? streak + 1 : 0;
        return streak >= 30;
      });
      assert.deepEqual([...new Set(podsOf(await p.many(30, 'tcp', ip, TCP)))], ['p2']);
      // The relay closes flows to a removed endpoint: the same source port now reaches p2.
      await until('the pinned UDP flow to move to p2', async () => {
        const r = await p.one('udp', ip, UDP, { flow, timeoutMs: 1_000 });
        return r.ok && r.reply.pod === 'p2';
      }, 10_000);
      assert.deepEqual([...new Set(podsOf(await p.many(20, 'udp', ip, UDP, { flow })))], ['p2']);
    } finally {
      await p.send({ op: 'close', flow });
      await kubectl(['-n', NS_NAME, 'label', 'pod', 'p4', 'rm=yes', '--overwrite']);
    }
  });

  it('round robin spreads 400 new connections evenly over 4 endpoints', T, async () => {
    await waitEndpoints('all', ALL);
    const ip = view('all').clusterIP;
    await serving('http', ip, HTTP, ALL);
    const res = await probe!.many(400, 'http', ip, HTTP);
    okReplies(res, 'spread');
    const counts = Object.fromEntries(ALL.map((n) => [n, 0])) as Record<string, number>;
    for (const n of podsOf(res)) counts[n] = (counts[n] ?? 0) + 1;
    // rr takes the endpoints in turn: nothing else uses this Service port now, so exactly 100 each.
    assert.deepEqual(counts, Object.fromEntries(ALL.map((n) => [n, 100])), `round robin: ${JSON.stringify(counts)}`);
  });

  it("DNS: Service names resolve through Portico's DNS (127.0.0.1:1053) and the answer carries traffic", T, async () => {
    const name = `all.${NS_NAME}.svc.cluster.local`;
    const dig = (await runOk(inNs(['dig', '+short', '+time=2', '+tries=2', '@127.0.0.1', '-p', '1053', name]))).trim();
    assert.equal(dig, view('all').clusterIP);
    const srv = (await runOk(inNs(['dig', '+short', '+time=2', '+tries=2', '@127.0.0.1', '-p', '1053', 'SRV', `_http._tcp.${name}`]))).trim();
    assert.equal(srv, `0 100 ${HTTP} ${name}.`);
    // The name, with the address Portico's DNS gave for it, through the relay (curl has no resolver
    // option for a DNS server on a port other than 53).
    const body = await runOk(inNs(['curl', '-sS', '-m', '5', '--resolve', `${name}:${HTTP}:${dig}`, `http://${name}:${HTTP}/`]));
    assert.ok(ALL.includes((JSON.parse(body) as ProbeReply).pod), body);
  });

  it('root-only: Service ports below 1024 and non-loopback external IPs are reported, not silently dropped', T, async () => {
    const low = view('low').clusterIP;
    await waitEndpoints('low', ALL);
    let m = '';
    await until('portico_userspace_listen_failures_total to count the root-only listeners', async () => {
      m = await metrics();
      const v = /^portico_userspace_listen_failures_total (\d+)/m.exec(m);
      // kubernetes :443, kube-dns :53 (UDP and TCP), low :80 and ext's external IP.
      return v !== null && Number(v[1]) >= 5;
    });
    const log = up!.stderr();
    const warned = (listener: string, err: RegExp) =>
      assert.ok(
        log.split('\n').some((l) => l.includes('cannot listen on service address') && l.includes(`"listener":"${listener}"`) && err.test(l)),
        `no warning for ${listener} in the agent's log: ${log.split('\n').filter((l) => l.includes('cannot listen')).join('\n')}`,
      );
    warned(`TCP ${low}:80`, /EACCES/);
    warned('TCP 127.96.0.10:53', /EACCES/);
    warned('UDP 127.96.0.10:53', /EACCES/);
    warned(`TCP ${EXTERNAL_IP}:${HTTP}`, /EADDRNOTAVAIL/);
    // Nothing listens there: the kernel refuses, which a client sees at once.
    const r = await probe!.one('http', low, 80, { timeoutMs: 3_000 });
    assert.equal(r.ok ? 'answered' : r.error, 'ECONNREFUSED');
    // The same Service on a port from 1024 up works as nobody.
    await serving('http', view('ext').clusterIP, HTTP, ALL, 8);
  });

  // The shared scenarios (scenarios.ts) that cannot apply to one unprivileged host, with the reason.
  const ROOT_ONLY: Record<string, string> = {
    'external-ip / lb-ip': 'binding an address outside loopback needs it on an interface, which needs CAP_NET_ADMIN (reported above as EADDRNOTAVAIL)',
    'etp-local-source': 'a user-space relay never keeps the client address (README of proxy/userspace, "Limits")',
    'etp-cluster / etp-local-drop / etp-local-pod / itp-local / health-check': 'one unprivileged host is one node: there is no other node to cross to or to have no local endpoint',
    hairpin: 'without root pods share the host network (loopback identities), so there is no pod bridge to hairpin through',
    'no-endpoints-udp': 'the relay\'s bound UDP socket takes the datagram; no ICMP port unreachable can come from user space',
    'agent-restart': 'the relay is the agent process: stopping it ends the connections it carries',
    cleanup: 'without root the userspace mode puts nothing in the kernel (no dummy interface, no address) to clean up',
  };
  for (const [ids, why] of Object.entries(ROOT_ONLY)) it(`shared scenario ${ids}`, { skip: `as an unprivileged user: ${why}` }, () => {});
});
