// The scenario cluster, built from network namespaces (names unique per run, `pt-<6 hex>-...`):
//
//   link   a bridge (br0) joining, on 198.19.255.0/24:
//            ctl 198.19.255.1     `portico up` (API on :6443, controllers, LB pool)
//            n1  198.19.255.11    node 1: `portico agent --mode M`, pod bridge cbr0 198.19.1.1/24
//            n2  198.19.255.12    node 2: same, cbr0 198.19.2.1/24
//            cli 198.19.255.100   the outside client
//   pods   n1a 198.19.1.10, n1b 198.19.1.11 (on n1), n2a 198.19.2.10, n2b 198.19.2.11 (on n2), each a
//          namespace with a veth into its node's cbr0 (hairpin on) and a default route to the node; each runs
//          `portico echo` (http :8080 and :<web port>, tcp :7000, udp :9000) and is a Pod object
//          whose status the test sets (Running, podIP, Ready).
//
// Routing: each node reaches the other's pod /24 through the other's link address and forwards;
// nodes reach the service CIDR on-link (their own rules DNAT it first). The client sends the
// service CIDR, external IPs (198.19.254.0/24) and load-balancer IPs (198.19.255.192/27) to n1, as a
// router in front of a cluster would. Nothing is routed anywhere outside these namespaces.
//
// Everything is undone by `destroy()`: processes ended by pid (and awaited), namespaces deleted,
// temp dir removed. `destroy()` is safe after a partial build.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, before, after } from 'node:test';
import { defineScenarios } from './scenarios.js';
import {
  CLUSTER_CIDR, CONTROL_IP, CLIENT_IP, ECHO_PORTS, EXTERNAL_NET, K8S_NAMESPACE, KUBECTL, LB_POOL, LB_ROUTE, NODE_IPS, PODS, POD_CIDR, PORTICO, SERVICE_CIDR,
  Probe, Proc, manifest, run, runOk, type ExecResult, type NodeName,
} from './plan.js';

export * from './plan.js';

export interface ClusterOptions {
  /** Extra `portico agent` flags for both nodes' agents, e.g. `['--iptables-variant', 'legacy']`. */
  agentArgs?: readonly string[];
}

export interface Cluster {
  id: string;
  mode: string;
  /** The extra agent flags the cluster was built with. */
  agentArgs: readonly string[];
  /** Namespace names by role: link, ctl, n1, n2, cli and one per pod (n1a, ...). */
  ns: Record<string, string>;
  dataDir: string;
  kubeconfig: string;
  kubectl(args: string[], input?: string): Promise<ExecResult>;
  kubectlOk(args: string[], input?: string): Promise<string>;
  /** Runs a command inside a namespace. */
  exec(role: string, argv: string[], opts?: { input?: string; boundMs?: number }): Promise<ExecResult>;
  /** The probe process of a namespace role (started on first use). */
  probe(role: string): Probe;
  startAgent(node: NodeName): Promise<Proc>;
  agent(node: NodeName): Proc | undefined;
  stopAgent(node: NodeName): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  destroy(): Promise<void>;
}

/** Builds the cluster. On failure, what was built is torn down before the error propagates. */
export async function buildCluster(mode: string, opts: ClusterOptions = {}): Promise<Cluster> {
  const agentArgs = [...(opts.agentArgs ?? [])];
  const id = randomBytes(3).toString('hex');
  const roles = ['link', 'ctl', 'n1', 'n2', 'cli', ...PODS.map((p) => p.name)];
  const ns: Record<string, string> = Object.fromEntries(roles.map((r) => [r, `pt-${id}-${r}`]));
  const made: string[] = [];
  const procs = new Set<Proc>();
  const probes = new Map<string, Probe>();
  const agents = new Map<NodeName, Proc>();
  const root = await mkdtemp(join(tmpdir(), `pt-${id}-`));
  const dataDir = join(root, 'data');
  const kubeconfig = join(dataDir, 'kubeconfig.yaml');

  const nsOf = (role: string) => {
    const n = ns[role];
    if (!n) throw new Error(`no namespace role ${role}`);
    return n;
  };
  const exec = (role: string, argv: string[], opts?: { input?: string; boundMs?: number }) => run(['ip', 'netns', 'exec', nsOf(role), ...argv], opts);
  const ipIn = (role: string, args: string) => runOk(['ip', '-n', nsOf(role), ...args.split(' ')]);
  const kubectl = (args: string[], input?: string) =>
    exec('ctl', [KUBECTL, '--kubeconfig', kubeconfig, '--cache-dir', join(root, 'kube-cache'), '--request-timeout', '30s', ...args], { input, boundMs: 60_000 });
  const kubectlOk = async (args: string[], input?: string) => {
    const r = await kubectl(args, input);
    if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} exited ${r.code}: ${r.stderr.trim()}`);
    return r.stdout;
  };
  const spawnIn = (role: string, label: string, argv: string[]) => {
    const p = new Proc(label, ['ip', 'netns', 'exec', nsOf(role), ...argv]);
    procs.add(p);
    return p;
  };

  // Last resort if the test process exits without `after` (e.g. an uncaught error): end the
  // children by pid and delete the namespaces synchronously.
  const onExit = () => {
    for (const p of procs) if (p.running && p.child.pid !== undefined) process.kill(p.child.pid, 'SIGKILL');
    for (const n of made) spawnSync('ip', ['netns', 'del', n]);
  };
  process.on('exit', onExit);

  const destroy = async () => {
    await Promise.allSettled([...probes.values()].map((p) => p.close()));
    probes.clear();
    // Agents first (they talk to the API), then everything else; each by its own pid.
    await Promise.allSettled([...agents.values()].map((a) => a.stop()));
    await Promise.allSettled([...procs].map((p) => p.stop()));
    procs.clear();
    for (const n of made.reverse()) await run(['ip', 'netns', 'del', n]);
    made.length = 0;
    await rm(root, { recursive: true, force: true });
    process.off('exit', onExit);
  };

  const cluster: Cluster = {
    id,
    mode,
    agentArgs,
    ns,
    dataDir,
    kubeconfig,
    kubectl,
    kubectlOk,
    exec,
    probe(role) {
      let p = probes.get(role);
      if (!p) probes.set(role, (p = new Probe(nsOf(role))));
      return p;
    },
    async startAgent(node) {
      const ip = NODE_IPS[node];
      const p = spawnIn(node, `agent ${node}`, [
        process.execPath, PORTICO, 'agent',
        '--kubeconfig', kubeconfig,
        '--node-name', node,
        '--node-ip', ip,
        '--mode', mode,
        '--cluster-cidr', CLUSTER_CIDR,
        '--metrics-bind-address', `${ip}:10249`,
        '--healthz-bind-address', `${ip}:10256`,
        ...agentArgs,
      ]);
      agents.set(node, p);
      await p.waitFor(/^Portico agent is up/m);
      return p;
    },
    agent: (node) => agents.get(node),
    async stopAgent(node) {
      const p = agents.get(node);
      if (!p) return { code: null, signal: null };
      const r = await p.stop();
      procs.delete(p);
      agents.delete(node);
      return r;
    },
    destroy,
  };

  try {
    for (const r of roles) {
      await runOk(['ip', 'netns', 'add', nsOf(r)]);
      made.push(nsOf(r));
      await ipIn(r, 'link set lo up');
    }
    // The link network.
    await ipIn('link', 'link add br0 type bridge');
    await ipIn('link', 'link set br0 up');
    const members: Array<[string, string]> = [
      ['ctl', CONTROL_IP],
      ['n1', NODE_IPS.n1],
      ['n2', NODE_IPS.n2],
      ['cli', CLIENT_IP],
    ];
    for (const [role, ip] of members) {
      await runOk(['ip', '-n', nsOf('link'), 'link', 'add', `v-${role}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', nsOf(role)]);
      await ipIn('link', `link set v-${role} master br0 up`);
      await ipIn(role, `addr add ${ip}/24 dev eth0`);
      await ipIn(role, 'link set eth0 up');
    }
    // Nodes and their pods.
    for (const node of ['n1', 'n2'] as const) {
      const n = node === 'n1' ? 1 : 2;
      const other = node === 'n1' ? 'n2' : 'n1';
      await exec(node, ['sysctl', '-q', '-w', 'net.ipv4.ip_forward=1']);
      await exec(node, ['sysctl', '-q', '-w', 'net.ipv4.conf.all.rp_filter=0']);
      await ipIn(node, 'link add cbr0 type bridge');
      await ipIn(node, `addr add 198.19.${n}.1/24 dev cbr0`);
      await ipIn(node, 'link set cbr0 up');
      await ipIn(node, `route add 198.19.${3 - n}.0/24 via ${NODE_IPS[other]}`);
      await ipIn(node, `route add ${SERVICE_CIDR} dev eth0`);
      for (const pod of PODS.filter((p) => p.node === node)) {
        await runOk(['ip', '-n', nsOf(node), 'link', 'add', `vp-${pod.name}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', nsOf(pod.name)]);
        await ipIn(node, `link set vp-${pod.name} master cbr0 up`);
        // As the CNI bridge plugin with hairpinMode (kubelet's default): with br_netfilter on (as
        // kubeadm requires), a pod's packet DNATed back to itself is bridged out of the port it came in.
        await ipIn(node, `link set vp-${pod.name} type bridge_slave hairpin on`);
        await ipIn(pod.name, `addr add ${pod.ip}/24 dev eth0`);
        await ipIn(pod.name, 'link set eth0 up');
        await ipIn(pod.name, `route add default via 198.19.${n}.1`);
      }
    }
    // The outside client: Service, external and load-balancer addresses go to n1.
    for (const dst of [SERVICE_CIDR, EXTERNAL_NET, LB_ROUTE]) await ipIn('cli', `route add ${dst} via ${NODE_IPS.n1}`);

    // Control plane.
    const up = spawnIn('ctl', 'portico up', [
      process.execPath, PORTICO, 'up',
      '--data-dir', dataDir,
      '--api-listen', `${CONTROL_IP}:6443`,
      '--dns-listen', '',
      '--service-cidr', SERVICE_CIDR,
      '--pod-cidr', POD_CIDR,
      '--lb-pool', LB_POOL,
      '--proxy-mode', 'none',
    ]);
    await up.waitFor(/^Portico is up: API https:\/\/\S+/m);

    // Backends: one echo server per pod namespace.
    await Promise.all(
      PODS.map((pod) => {
        const p = spawnIn(pod.name, `echo ${pod.name}`, [
          process.execPath, PORTICO, 'echo',
          '--name', pod.name,
          '--http', `0.0.0.0:${ECHO_PORTS.http}`,
          '--http', `0.0.0.0:${pod.webPort}`,
          '--tcp', `0.0.0.0:${ECHO_PORTS.tcp}`,
          '--udp', `0.0.0.0:${ECHO_PORTS.udp}`,
        ]);
        return p.waitFor(/^Portico echo is up/m);
      }),
    );

    await Promise.all([cluster.startAgent('n1'), cluster.startAgent('n2')]);

    // The Pods, bound to their nodes, Running and Ready with their addresses.
    const podObjects = PODS.map((p) => ({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: p.name, namespace: K8S_NAMESPACE, labels: p.labels },
      spec: {
        nodeName: p.node,
        containers: [
          {
            name: 'echo',
            image: 'portico/echo',
            command: ['portico', 'echo'],
            ports: [
              { name: 'http', containerPort: ECHO_PORTS.http },
              { name: 'web', containerPort: p.webPort },
              { name: 'tcp-echo', containerPort: ECHO_PORTS.tcp },
              { name: 'udp-echo', containerPort: ECHO_PORTS.udp, protocol: 'UDP' },
            ],
          },
        ],
      },
    }));
    const namespace = { apiVersion: 'v1', kind: 'Namespace', metadata: { name: K8S_NAMESPACE } };
    await kubectlOk(['apply', '-f', '-'], manifest([namespace, ...podObjects]));
    for (const p of PODS) {
      const status = {
        status: {
          phase: 'Running',
          podIP: p.ip,
          podIPs: [{ ip: p.ip }],
          conditions: [
            { type: 'Ready', status: 'True' },
            { type: 'ContainersReady', status: 'True' },
          ],
        },
      };
      await kubectlOk(['-n', K8S_NAMESPACE, 'patch', 'pod', p.name, '--subresource=status', '--type=merge', '-p', JSON.stringify(status)]);
    }
  } catch (err) {
    await destroy();
    throw err;
  }
  return cluster;
}

/**
 * The shared scenario suite, run against agents in the given mode (nftables, iptables, ipvs,
 * userspace), with optional extra agent flags. Every test file of a data plane is one call of this:
 *
 *     scenarioSuite('iptables', { agentArgs: ['--iptables-variant', 'legacy'] });
 *
 * Scenarios a mode cannot pass by design are skipped, with the reason, per scenarios.ts' table.
 */
export function scenarioSuite(mode: string, opts: ClusterOptions = {}): void {
  const flags = opts.agentArgs?.length ? ` ${opts.agentArgs.join(' ')}` : '';
  describe(`Service scenarios, agents in --mode ${mode}${flags}`, () => {
    const ctx: { cluster?: Cluster } = {};
    before(async () => {
      ctx.cluster = await buildCluster(mode, opts);
    });
    after(async () => {
      await ctx.cluster?.destroy();
    });
    defineScenarios(mode, () => {
      if (!ctx.cluster) throw new Error('the scenario cluster was not built (see the before hook)');
      return ctx.cluster;
    });
  });
}
