// The scenarios of issue 6's "Show it", against the cluster of topology.ts. Every check goes
// through real traffic from a namespace (a pod, a node or the outside client) to the echo servers,
// whose answers say which pod answered, on which address and port, and from which client address.
// Convergence after an API change is awaited by polling with a bound; the assertions themselves
// are about who answered, which error came back (ECONNREFUSED = a reset or ICMP unreachable came;
// ETIMEDOUT = silently dropped), and counts with statistical bounds.
import { before, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import {
  CLIENT_IP, ECHO_PORTS, EXTERNAL_IP, K8S_NAMESPACE, NODE_IPS, PODS,
  PORTICO, SLOWDOWN, manifest, runOk, type ExecResult, type Probe, type ProbeReply, type ProbeResult,
} from './plan.js';
import type { Cluster } from './topology.js';

const NS = K8S_NAMESPACE;
const T = { timeout: 180_000 * SLOWDOWN };
const ALL = PODS.map((p) => p.name).sort();
const podIP = (name: string) => PODS.find((p) => p.name === name)!.ip;
const ipOf = (hostPort: string) => hostPort.replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const HTTP = { name: 'http', port: 80, targetPort: ECHO_PORTS.http, protocol: 'TCP' };
const TCP = { name: 'tcp', port: ECHO_PORTS.tcp, targetPort: ECHO_PORTS.tcp, protocol: 'TCP' };
const UDP = { name: 'udp', port: ECHO_PORTS.udp, targetPort: ECHO_PORTS.udp, protocol: 'UDP' };

function service(name: string, spec: Record<string, unknown>): Record<string, unknown> {
  return { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: NS }, spec };
}

const SERVICES = [
  service('all', { selector: { app: 'echo' }, ports: [HTTP, TCP, UDP] }),
  service('named', { selector: { app: 'echo' }, ports: [{ name: 'web', port: 80, targetPort: 'web' }] }),
  service('np', { type: 'NodePort', selector: { app: 'echo' }, ports: [HTTP] }),
  service('np-one', { type: 'NodePort', selector: { pod: 'n2a' }, ports: [HTTP] }),
  service('lb-local', { type: 'LoadBalancer', externalTrafficPolicy: 'Local', selector: { pod: 'n2a' }, ports: [HTTP] }),
  service('ext', { selector: { app: 'echo' }, externalIPs: [EXTERNAL_IP], ports: [HTTP] }),
  service('lb', { type: 'LoadBalancer', selector: { app: 'echo' }, ports: [HTTP] }),
  service('itp', { selector: { pod: 'n2a' }, internalTrafficPolicy: 'Local', ports: [HTTP] }),
  service('itp-both', { selector: { half: 'yes' }, internalTrafficPolicy: 'Local', ports: [HTTP] }),
  service('aff', { selector: { app: 'echo' }, sessionAffinity: 'ClientIP', ports: [HTTP] }),
  service('empty', { selector: { app: 'nothing' }, ports: [HTTP, UDP] }),
  service('hp', { selector: { pod: 'n1a' }, ports: [HTTP] }),
  service('rm', { selector: { rm: 'yes' }, ports: [TCP, UDP] }),
];

/**
 * What each data plane can and cannot do, by design. A scenario listed under `skip` is reported
 * as skipped with its reason (never run, never passed); `todo` runs it and reports its failure as
 * a known gap; `expect` says which error a client sees where the modes differ, and why (printed as
 * a diagnostic of the test that checks it).
 */
export interface Capabilities {
  skip: Readonly<Record<string, string>>;
  todo: Readonly<Record<string, string>>;
  expect: {
    /** TCP where the kernel modes DROP (Local policy, no local endpoint). */
    dropped: { code: string; why?: string };
    /** TCP to a Service port without endpoints. */
    tcpNoEndpoints: { code: string; why?: string };
  };
}

const KERNEL: Capabilities = {
  skip: {},
  todo: {},
  expect: { dropped: { code: 'ETIMEDOUT' }, tcpNoEndpoints: { code: 'ECONNREFUSED' } },
};

export const CAPABILITIES: Readonly<Record<string, Capabilities>> = {
  nftables: KERNEL,
  iptables: KERNEL,
  // Every scenario applies and passes in the VM (ipvs.test.ts); the kernel verdicts come from the
  // mode's iptables part (REJECT/DROP on ipsets), so the errors are the kernel modes' too.
  ipvs: KERNEL,
  userspace: {
    skip: {
      'etp-local-source':
        'a user-space relay opens its own connection to the endpoint, so the pod sees the node\'s address, never the client\'s (README of proxy/userspace, "Limits")',
      'no-endpoints-udp':
        'the relay\'s bound UDP socket takes the datagram; no ICMP port unreachable can come from user space, so the client can only time out',
      'agent-restart':
        'the relay is the agent process: stopping it ends the connections it carries, and nothing accepts new ones until the new agent listens',
    },
    todo: {},
    expect: {
      dropped: { code: 'ECONNRESET', why: 'a user-space relay cannot drop a SYN: the kernel completes the handshake, the relay finds no endpoint and resets' },
      tcpNoEndpoints: { code: 'ECONNRESET', why: 'the relay accepts, finds no endpoint and resets at once (no reject rule in the kernel)' },
    },
  },
};

export function capabilitiesOf(mode: string): Capabilities {
  const c = CAPABILITIES[mode];
  if (!c) throw new Error(`no capability table for mode ${mode} in scenarios.ts`);
  return c;
}

interface SvcView {
  clusterIP: string;
  nodePort: number;
  healthCheckNodePort: number;
  lbIP: string;
}

function summarize(results: ProbeResult[]): string {
  const by = new Map<string, number>();
  for (const r of results) {
    const k = r.ok ? `ok:${r.reply.pod}` : `${r.error}`;
    by.set(k, (by.get(k) ?? 0) + 1);
  }
  const firstErr = results.find((r) => !r.ok);
  return JSON.stringify(Object.fromEntries(by)) + (firstErr && !firstErr.ok ? ` first error: ${firstErr.message}` : '');
}

function pods(results: ProbeResult[]): string[] {
  return results.map((r) => (r.ok ? r.reply.pod : `<${r.error}>`));
}

function okReplies(results: ProbeResult[], what: string): ProbeReply[] {
  const bad = results.filter((r) => !r.ok);
  assert.equal(bad.length, 0, `${what}: ${bad.length} of ${results.length} failed: ${summarize(results)}`);
  return results.map((r) => (r as { reply: ProbeReply }).reply);
}

/** Polls `fn` until it returns a value; fails with `what` (and the last value seen) after the bound. */
async function until<T>(what: string, fn: () => Promise<T | undefined>, describeLast: () => string = () => '', boundMs = 45_000): Promise<T> {
  const deadline = Date.now() + boundMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${boundMs} ms waiting for ${what}${describeLast() ? `; last: ${describeLast()}` : ''}`);
    await sleep(200);
  }
}

export function defineScenarios(mode: string, get: () => Cluster): void {
  const views = new Map<string, SvcView>();
  const caps = capabilitiesOf(mode);
  /** One scenario: skipped (with the reason) or marked todo per the mode's capability table. */
  const scenario = (id: string, title: string, fn: (t: TestContext) => Promise<void>) => {
    const skip = caps.skip[id];
    const todo = caps.todo[id];
    it(title, { ...T, ...(skip ? { skip: `--mode ${mode}: ${skip}` } : {}), ...(todo ? { todo: `--mode ${mode}: ${todo}` } : {}) }, fn);
  };
  /** The error code a mode gives for `what`, with its reason as a diagnostic where it differs from the kernel modes'. */
  const expected = (t: TestContext, what: keyof Capabilities['expect']): string => {
    const e = caps.expect[what];
    if (e.why) t.diagnostic(`--mode ${mode}: ${e.code} instead of ${KERNEL.expect[what].code}: ${e.why}`);
    return e.code;
  };

  async function view(name: string): Promise<SvcView> {
    const s = JSON.parse(await get().kubectlOk(['-n', NS, 'get', 'service', name, '-o', 'json'])) as {
      spec?: { clusterIP?: string; ports?: Array<{ nodePort?: number }>; healthCheckNodePort?: number };
      status?: { loadBalancer?: { ingress?: Array<{ ip?: string }> } };
    };
    const v: SvcView = {
      clusterIP: s.spec?.clusterIP ?? '',
      nodePort: s.spec?.ports?.[0]?.nodePort ?? 0,
      healthCheckNodePort: s.spec?.healthCheckNodePort ?? 0,
      lbIP: s.status?.loadBalancer?.ingress?.[0]?.ip ?? '',
    };
    views.set(name, v);
    return v;
  }

  /** Waits until the Service's EndpointSlices list exactly these pods as ready. */
  async function waitEndpoints(name: string, want: string[]): Promise<void> {
    const wantIPs = want.map(podIP).sort();
    let last = '';
    await until(
      `EndpointSlices of ${name} to list ${want.join(', ') || 'nothing'} as ready`,
      async () => {
        const list = JSON.parse(await get().kubectlOk(['-n', NS, 'get', 'endpointslices', '-l', `kubernetes.io/service-name=${name}`, '-o', 'json'])) as {
          items: Array<{ endpoints?: Array<{ addresses?: string[]; conditions?: { ready?: boolean } }> }>;
        };
        const ips = [...new Set(list.items.flatMap((s) => (s.endpoints ?? []).filter((e) => e.conditions?.ready !== false).flatMap((e) => e.addresses ?? [])))].sort();
        last = ips.join(',');
        return ips.join(',') === wantIPs.join(',') ? true : undefined;
      },
      () => last,
    );
  }

  /**
   * Sends requests until every expected pod has answered (rules converged), then checks that a
   * further batch all succeeds and reaches only expected pods. Returns that batch.
   */
  async function serving(p: Probe, op: 'http' | 'tcp' | 'udp', host: string, port: number, want: string[], batch = 20): Promise<ProbeReply[]> {
    const seen = new Set<string>();
    let recent: ProbeResult[] = [];
    await until(
      `${op} ${host}:${port} from ${p.ns} to be answered by ${want.join(', ')}`,
      async () => {
        recent = await p.many(Math.max(8, want.length * 4), op, host, port, { timeoutMs: 2_000 });
        for (const r of recent) if (r.ok) seen.add(r.reply.pod);
        return want.every((w) => seen.has(w)) ? true : undefined;
      },
      () => `answered so far by [${[...seen].join(', ')}], last batch ${summarize(recent)}`,
    );
    const res = await p.many(batch, op, host, port);
    const replies = okReplies(res, `${op} ${host}:${port} from ${p.ns} after convergence`);
    const strangers = replies.filter((r) => !want.includes(r.pod));
    assert.equal(strangers.length, 0, `${op} ${host}:${port} from ${p.ns} reached pods outside ${want}: ${pods(res).join(' ')}`);
    return replies;
  }

  /** Waits until requests fail with `code` (after an API change), then checks that they keep failing so. */
  async function failsWith(p: Probe, op: 'http' | 'tcp' | 'udp', host: string, port: number, code: string | string[], timeoutMs = 2_000): Promise<ProbeResult[]> {
    const codes = Array.isArray(code) ? code : [code];
    let last: ProbeResult | undefined;
    await until(
      `${op} ${host}:${port} from ${p.ns} to fail with ${code}`,
      async () => {
        last = await p.one(op, host, port, { timeoutMs });
        return !last.ok && codes.includes(last.error) ? true : undefined;
      },
      () => JSON.stringify(last),
    );
    const res = await p.many(5, op, host, port, { timeoutMs });
    for (const r of res) {
      assert.equal(r.ok, false, `${op} ${host}:${port} from ${p.ns} expected ${code}, got an answer from ${r.ok ? r.reply.pod : ''}`);
      if (!r.ok) assert.ok(codes.includes(r.error), `${op} ${host}:${port} from ${p.ns}: expected ${codes.join(' or ')}, got ${r.error} (${r.message}) after ${r.ms} ms`);
    }
    return res;
  }

  before(async () => {
    const c = get();
    await c.kubectlOk(['apply', '-f', '-'], manifest(SERVICES));
    for (const s of SERVICES) await view((s.metadata as { name: string }).name);
  });

  scenario('clusterip', 'ClusterIP: reachable from a pod and from each node, TCP, HTTP and UDP', async () => {
    const c = get();
    await waitEndpoints('all', ALL);
    const ip = views.get('all')!.clusterIP;
    await serving(c.probe('n1a'), 'http', ip, 80, ALL);
    await serving(c.probe('n2b'), 'tcp', ip, ECHO_PORTS.tcp, ALL);
    await serving(c.probe('n1b'), 'udp', ip, ECHO_PORTS.udp, ALL);
    for (const node of ['n1', 'n2'] as const) {
      await serving(c.probe(node), 'http', ip, 80, ALL);
      await serving(c.probe(node), 'udp', ip, ECHO_PORTS.udp, ALL);
    }
  });

  scenario('named-port', 'a named targetPort resolves per pod', async () => {
    const c = get();
    await waitEndpoints('named', ALL);
    const replies = await serving(c.probe('n1a'), 'http', views.get('named')!.clusterIP, 80, ALL, 40);
    for (const r of replies) {
      const def = PODS.find((p) => p.name === r.pod)!;
      assert.equal(r.port, def.webPort, `pod ${r.pod} was reached on port ${r.port}, its port "web" is ${def.webPort}`);
      assert.equal(r.address, def.ip);
    }
  });

  scenario('nodeport', 'NodePort from the outside client to each node (Cluster policy: source masqueraded)', async () => {
    const c = get();
    await waitEndpoints('np', ALL);
    const port = views.get('np')!.nodePort;
    assert.ok(port >= 30000 && port <= 32767, `nodePort ${port}`);
    for (const node of ['n1', 'n2'] as const) {
      const replies = await serving(c.probe('cli'), 'http', NODE_IPS[node], port, ALL);
      for (const r of replies) assert.notEqual(ipOf(r.client), CLIENT_IP, `Cluster policy via ${node}: pod ${r.pod} saw the client's own address`);
    }
  });

  scenario('external-ip', 'externalIPs: traffic to an external IP arriving at a node reaches the endpoints', async () => {
    const c = get();
    await waitEndpoints('ext', ALL);
    await serving(c.probe('cli'), 'http', EXTERNAL_IP, 80, ALL);
    await serving(c.probe('n1a'), 'http', EXTERNAL_IP, 80, ALL);
  });

  scenario('lb-ip', 'a load-balancer IP from the pool carries traffic', async () => {
    const c = get();
    await waitEndpoints('lb', ALL);
    const v = await until('an ingress IP for Service lb', async () => {
      const x = await view('lb');
      return x.lbIP ? x : undefined;
    });
    assert.match(v.lbIP, /^198\.19\.255\.(20\d|210)$/, `ingress IP ${v.lbIP} outside the pool`);
    await serving(c.probe('cli'), 'http', v.lbIP, 80, ALL);
    await serving(c.probe('n2b'), 'http', v.lbIP, 80, ALL);
  });

  scenario('etp-cluster', 'externalTrafficPolicy: Cluster masquerades and crosses nodes', async () => {
    const c = get();
    const cli = c.probe('cli');
    await waitEndpoints('np-one', ['n2a']);
    const cluster = views.get('np-one')!.nodePort;
    for (const node of ['n1', 'n2'] as const) {
      for (const r of await serving(cli, 'http', NODE_IPS[node], cluster, ['n2a'], 10)) {
        assert.notEqual(ipOf(r.client), CLIENT_IP, `Cluster policy via ${node}: the pod saw the client's own address ${r.client}`);
      }
    }
  });

  /** The ingress IP of lb-local, routed by the "load balancer" (the client's route) to n2, which has the endpoint. */
  async function lbLocalIP(c: Cluster): Promise<string> {
    const v = await until('an ingress IP for Service lb-local', async () => {
      const x = await view('lb-local');
      return x.lbIP ? x : undefined;
    });
    await c.exec('cli', ['ip', 'route', 'replace', `${v.lbIP}/32`, 'via', NODE_IPS.n2]);
    return v.lbIP;
  }

  scenario('etp-local-source', 'externalTrafficPolicy: Local keeps the client address (node port and load-balancer IP)', async () => {
    const c = get();
    const cli = c.probe('cli');
    await waitEndpoints('lb-local', ['n2a']);
    const local = views.get('lb-local')!.nodePort;
    for (const r of await serving(cli, 'http', NODE_IPS.n2, local, ['n2a'], 10)) {
      assert.equal(ipOf(r.client), CLIENT_IP, `Local policy via n2: the pod saw ${r.client}, not the client's own address`);
    }
    const lbIP = await lbLocalIP(c);
    for (const r of await serving(cli, 'http', lbIP, 80, ['n2a'], 10)) assert.equal(ipOf(r.client), CLIENT_IP, `Local policy via the LB IP: the pod saw ${r.client}`);
  });

  scenario('etp-local-drop', 'externalTrafficPolicy: Local serves only where a local endpoint is and drops elsewhere', async (t) => {
    const c = get();
    const cli = c.probe('cli');
    await waitEndpoints('lb-local', ['n2a']);
    const local = views.get('lb-local')!.nodePort;
    await serving(cli, 'http', NODE_IPS.n2, local, ['n2a'], 10);
    // n1 has no endpoint of lb-local: its node port drops (no answer at all, not a reset).
    await failsWith(cli, 'http', NODE_IPS.n1, local, expected(t, 'dropped'));
    await serving(cli, 'http', await lbLocalIP(c), 80, ['n2a'], 10);
  });

  scenario('etp-local-pod', 'externalTrafficPolicy: Local: from inside the cluster, its external address works from any node\'s pods', async () => {
    const c = get();
    await waitEndpoints('lb-local', ['n2a']);
    await serving(c.probe('n1a'), 'http', await lbLocalIP(c), 80, ['n2a'], 5);
  });

  scenario('health-check', 'healthCheckNodePort: 200 with the local endpoint count where there are local endpoints, 503 elsewhere', async () => {
    const c = get();
    await waitEndpoints('lb-local', ['n2a']);
    const hc = views.get('lb-local')!.healthCheckNodePort;
    assert.ok(hc > 0, 'lb-local has no healthCheckNodePort');
    const get1 = async (node: 'n1' | 'n2') => {
      const r: ExecResult = await c.exec('cli', ['curl', '-sS', '--connect-timeout', '3', '-m', '5', '-w', '\n%{http_code}', `http://${NODE_IPS[node]}:${hc}/`]);
      const lines = r.stdout.trimEnd().split('\n');
      return { status: Number(lines.pop()), body: lines.join('\n'), err: r.stderr };
    };
    const n2 = await until('n2 health check to answer 200', async () => {
      const r = await get1('n2');
      return r.status === 200 ? r : undefined;
    });
    assert.equal((JSON.parse(n2.body) as { localEndpoints?: number }).localEndpoints, 1, n2.body);
    const n1 = await get1('n1');
    assert.equal(n1.status, 503, `n1 health check: ${n1.status} ${n1.body} ${n1.err}`);
    assert.equal((JSON.parse(n1.body) as { localEndpoints?: number }).localEndpoints, 0, n1.body);
  });

  scenario('itp-local', 'internalTrafficPolicy: Local uses only this node\'s endpoints and drops where there are none', async (t) => {
    const c = get();
    await waitEndpoints('itp', ['n2a']);
    const ip = views.get('itp')!.clusterIP;
    await serving(c.probe('n2b'), 'http', ip, 80, ['n2a'], 10);
    // A timeout alone could also mean "not programmed yet": first wait for n1's agent to report a
    // Service with internal policy Local and no local endpoints (kube-proxy's metric).
    let metrics = '';
    await until(
      "n1's agent to count a Service without local endpoints for internal traffic",
      async () => {
        const r = await c.exec('n1', ['curl', '-sS', '--connect-timeout', '3', '-m', '5', `http://${NODE_IPS.n1}:10249/metrics`]);
        metrics = r.stdout;
        const m = /^kubeproxy_sync_proxy_rules_no_local_endpoints_total\{traffic_policy="internal"\} (\d+)/m.exec(r.stdout);
        return m && Number(m[1]) >= 1 ? true : undefined;
      },
      () => metrics.split('\n').filter((l) => l.includes('no_local_endpoints')).join(' | '),
    );
    await failsWith(c.probe('n1a'), 'http', ip, 80, expected(t, 'dropped'));
    await waitEndpoints('itp-both', ['n1a', 'n2a']);
    const both = views.get('itp-both')!.clusterIP;
    const from1 = await c.probe('n1b').many(30, 'http', both, 80);
    assert.deepEqual([...new Set(pods(from1))], ['n1a'], `from n1b: ${summarize(from1)}`);
    const from2 = await c.probe('n2b').many(30, 'http', both, 80);
    assert.deepEqual([...new Set(pods(from2))], ['n2a'], `from n2b: ${summarize(from2)}`);
  });

  scenario('affinity', 'session affinity ClientIP: one client keeps its endpoint', async () => {
    const c = get();
    await waitEndpoints('aff', ALL);
    const ip = views.get('aff')!.clusterIP;
    for (const from of ['n1a', 'n2b', 'n1']) {
      const p = c.probe(from);
      await until(`aff ${ip}:80 answering ${from}`, async () => ((await p.one('http', ip, 80, { timeoutMs: 2_000 })).ok ? true : undefined));
      // Four endpoints: without affinity, 40 answers from one pod has probability 4 * 4^-40.
      const res = await p.many(40, 'http', ip, 80);
      okReplies(res, `aff from ${from}`);
      assert.equal(new Set(pods(res)).size, 1, `affinity from ${from} broken: ${summarize(res)}`);
    }
  });

  scenario('no-endpoints-tcp', 'no endpoints: TCP is refused at once, not a timeout', async (t) => {
    const c = get();
    await waitEndpoints('empty', []);
    const ip = views.get('empty')!.clusterIP;
    const code = expected(t, 'tcpNoEndpoints');
    for (const from of ['n1a', 'n2', 'n1']) await failsWith(c.probe(from), 'http', ip, 80, code, 5_000);
  });

  scenario('no-endpoints-udp', 'no endpoints: UDP gets port unreachable at once, not a timeout', async () => {
    const c = get();
    await waitEndpoints('empty', []);
    const ip = views.get('empty')!.clusterIP;
    for (const from of ['n1a', 'n2', 'n1']) {
      // From a pod the ICMP port unreachable comes back (ECONNREFUSED); on a node the reject in
      // the output hook fails the send itself (EPERM), as with kube-proxy. Budget: the kernel sends
      // a host at most a burst of 6 ICMP errors, then one a second (net.ipv4.icmp_ratelimit), and
      // failsWith sends 1 + 5 datagrams: do not add ICMP-answered probes to one pod before this.
      await failsWith(c.probe(from), 'udp', ip, ECHO_PORTS.udp, from.length === 2 ? ['ECONNREFUSED', 'EPERM'] : 'ECONNREFUSED', 5_000);
    }
  });

  scenario('hairpin', 'hairpin: a pod reaches itself through its Service', async () => {
    const c = get();
    await waitEndpoints('hp', ['n1a']);
    const replies = await serving(c.probe('n1a'), 'http', views.get('hp')!.clusterIP, 80, ['n1a'], 10);
    for (const r of replies) assert.notEqual(ipOf(r.client), podIP('n1a'), 'hairpin traffic must be masqueraded (else the reply bypasses the node)');
  });

  scenario('endpoint-removed', 'an endpoint removed: no new TCP connection and no further UDP datagram reaches it', async () => {
    const c = get();
    const p = c.probe('n1a');
    await waitEndpoints('rm', ['n1b', 'n2b']);
    const ip = views.get('rm')!.clusterIP;
    await serving(p, 'tcp', ip, ECHO_PORTS.tcp, ['n1b', 'n2b']);
    await serving(p, 'udp', ip, ECHO_PORTS.udp, ['n1b', 'n2b']);
    // A UDP flow (one source port, so one conntrack entry) pinned to n2b.
    let flow = '';
    for (let i = 0; i < 40 && !flow; i++) {
      const r = await p.one('udp', ip, ECHO_PORTS.udp, { flow: `f${i}` });
      if (r.ok && r.reply.pod === 'n2b') flow = `f${i}`;
      else await p.send({ op: 'close', flow: `f${i}` });
    }
    assert.ok(flow, 'no UDP flow landed on n2b in 40 tries');
    const pinned = await p.many(5, 'udp', ip, ECHO_PORTS.udp, { flow });
    assert.deepEqual([...new Set(pods(pinned))], ['n2b'], `the flow is not stable before the change: ${summarize(pinned)}`);
    try {
      await c.kubectlOk(['-n', NS, 'label', 'pod', 'n2b', 'rm-']);
      await waitEndpoints('rm', ['n1b']);
      // Rules converged: 30 new TCP connections in a row reach n1b (by chance: 2^-30).
      let run = 0;
      let last: ProbeResult | undefined;
      await until(
        'new TCP connections to stop reaching the removed endpoint n2b',
        async () => {
          last = await p.one('tcp', ip, ECHO_PORTS.tcp);
          run = last.ok && last.reply.pod === 'n1b' ? run + 1 : 0;
          return run >= 30 ? true : undefined;
        },
        () => JSON.stringify(last),
      );
      const tcp = await p.many(30, 'tcp', ip, ECHO_PORTS.tcp);
      assert.deepEqual([...new Set(pods(tcp))], ['n1b'], `new TCP connections after the removal: ${summarize(tcp)}`);
      // The pinned UDP flow: its stale conntrack entry must go, so datagrams now reach n1b.
      const seen: string[] = [];
      const deadline = Date.now() + 10_000;
      for (;;) {
        const r = await p.one('udp', ip, ECHO_PORTS.udp, { flow, timeoutMs: 1_000 });
        seen.push(r.ok ? r.reply.pod : `<${r.error}>`);
        if (r.ok && r.reply.pod === 'n1b') break;
        if (Date.now() > deadline) {
          assert.fail(`stale UDP conntrack entry: the flow from ${podIP('n1a')}:${r.localPort} to ${ip}:${ECHO_PORTS.udp} still reaches the removed endpoint n2b ` +
            `${seen.filter((s) => s === 'n2b').length} times over 10 s after the rules dropped it (answers: ${seen.slice(-10).join(' ')})`);
        }
        await sleep(100);
      }
      const after = await p.many(20, 'udp', ip, ECHO_PORTS.udp, { flow });
      assert.deepEqual([...new Set(pods(after))], ['n1b'], `UDP datagrams after the flow moved: ${summarize(after)}`);
    } finally {
      await p.send({ op: 'close', flow });
      await c.kubectl(['-n', NS, 'label', 'pod', 'n2b', 'rm=yes', '--overwrite']);
    }
  });

  scenario('spread', 'an even spread over endpoints (400 new connections, 4 endpoints)', async () => {
    const c = get();
    await waitEndpoints('all', ALL);
    const ip = views.get('all')!.clusterIP;
    const p = c.probe('n2a');
    await serving(p, 'http', ip, 80, ALL);
    const res = await p.many(400, 'http', ip, 80);
    okReplies(res, 'spread');
    const counts = Object.fromEntries(ALL.map((n) => [n, 0])) as Record<string, number>;
    for (const n of pods(res)) counts[n] = (counts[n] ?? 0) + 1;
    // Binomial(400, 1/4): mean 100, sd 8.7; [50, 150] is 5.8 sd each side (p < 1e-8 per pod).
    for (const [n, k] of Object.entries(counts)) assert.ok(k >= 50 && k <= 150, `pod ${n} got ${k} of 400 connections (expected 100 ± 50): ${JSON.stringify(counts)}`);
  });

  scenario('agent-restart', 'agent restart under steady traffic: no failed request', async () => {
    const c = get();
    await waitEndpoints('all', ALL);
    await waitEndpoints('np', ALL);
    const ip = views.get('all')!.clusterIP;
    const np = views.get('np')!.nodePort;
    const pod = c.probe('n1a');
    const cli = c.probe('cli');
    await serving(pod, 'http', ip, 80, ALL);
    await serving(cli, 'http', NODE_IPS.n1, np, ALL);
    await pod.send({ op: 'loop', loop: 'r', intervalMs: 20, cmd: { op: 'http', host: ip, port: 80, timeoutMs: 3_000 } });
    await pod.send({ op: 'loop', loop: 'u', intervalMs: 20, cmd: { op: 'udp', host: ip, port: ECHO_PORTS.udp, timeoutMs: 3_000 } });
    await cli.send({ op: 'loop', loop: 'r', intervalMs: 20, cmd: { op: 'http', host: NODE_IPS.n1, port: np, timeoutMs: 3_000 } });
    let stopped: { code: number | null; signal: NodeJS.Signals | null } | undefined;
    try {
      await sleep(1_000);
      stopped = await c.stopAgent('n1');
      await sleep(1_000);
      await c.startAgent('n1');
      await sleep(2_000);
    } finally {
      const results = await Promise.all([pod.send({ op: 'stop', loop: 'r' }), pod.send({ op: 'stop', loop: 'u' }), cli.send({ op: 'stop', loop: 'r' })]);
      for (const [i, r] of results.entries()) {
        const what = ['pod n1a → ClusterIP (HTTP)', 'pod n1a → ClusterIP (UDP)', 'client → n1 NodePort (HTTP)'][i];
        const failures = r.failures as Array<{ error: string; message: string }>;
        assert.ok((r.total as number) > 20, `${what}: only ${r.total} requests`);
        assert.equal(failures.length, 0, `${what}: ${failures.length} of ${r.total} requests failed across the restart: ${JSON.stringify(failures.slice(0, 3))}`);
      }
    }
    assert.equal(stopped?.code, 0, `agent exit on SIGTERM: ${JSON.stringify(stopped)}`);
  });

  scenario('cleanup', '--cleanup leaves no Portico object in the kernel', async () => {
    const c = get();
    for (const node of ['n1', 'n2'] as const) {
      await c.stopAgent(node);
      const before = await portico(c, node);
      if (c.mode !== 'userspace') assert.notEqual(before, '', `${node}: the ${c.mode} agent left nothing in the kernel to clean up (was it programming?)`);
      const r = await c.exec(node, [process.execPath, PORTICO, 'agent', '--cleanup', '--mode', c.mode]);
      assert.equal(r.code, 0, `portico agent --cleanup in ${node}: ${r.stderr}`);
      assert.equal(await portico(c, node), '', `${node}: Portico objects left after --cleanup`);
      // Cleaning up twice is fine.
      const again = await c.exec(node, [process.execPath, PORTICO, 'agent', '--cleanup', '--mode', c.mode]);
      assert.equal(again.code, 0, `second --cleanup in ${node}: ${again.stderr}`);
    }
  });
}

/** Every line naming Portico in the node's nftables ruleset, iptables tables, ipsets and IPVS table (if the tools exist), links and addresses. */
async function portico(c: Cluster, role: string): Promise<string> {
  const outs: string[] = [];
  outs.push(await runOk(['ip', 'netns', 'exec', c.ns[role]!, 'nft', 'list', 'ruleset']));
  for (const tool of ['iptables-save', 'ip6tables-save', 'iptables-legacy-save', 'ip6tables-legacy-save']) {
    const r = await c.exec(role, [tool]).catch(() => undefined);
    if (r?.code === 0) outs.push(r.stdout);
  }
  // IPVS and ipsets (where the tools exist): every virtual server in a node's namespace is the agent's.
  const sets = await c.exec(role, ['ipset', 'list', '-n']).catch(() => undefined);
  if (sets?.code === 0) outs.push(sets.stdout);
  const ipvs = await c.exec(role, ['ipvsadm', '-Sn']).catch(() => undefined);
  if (ipvs?.code === 0) outs.push(ipvs.stdout.split('\n').filter((l) => l.trim()).map((l) => `portico-ipvs virtual server: ${l}`).join('\n'));
  outs.push(await runOk(['ip', '-n', c.ns[role]!, '-o', 'link', 'show']));
  // Service addresses the userspace mode put on lo (no dummy driver) carry the label lo:portico.
  outs.push(await runOk(['ip', '-n', c.ns[role]!, '-o', 'addr', 'show']));
  return outs
    .join('\n')
    .split('\n')
    .filter((l) => /portico/i.test(l))
    .join('\n');
}
