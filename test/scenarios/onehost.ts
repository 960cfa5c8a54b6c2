// One node in a network namespace made for the run (`pt-<id>-<suffix>`, the "host": host0 with
// the given address, one end of a veth pair whose other end stays there too, a route for the
// service CIDR). Inside it run `portico up --proxy-mode none` (API on 127.0.0.1:6443, cluster DNS
// on HOST_IP:53) and `portico agent --run-pods --schedule-pods` (nftables data plane, the
// scheduler, the pod runner), both entered with `nsenter --net` so the pods' named network
// namespaces are visible to every process. Pod namespaces are `pt-<id>-<podPrefix><hash>`.
// `close()` ends both, the pods (by their recorded pids), every namespace and /etc/netns entry
// made, and the temp dir, also after a failed test.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KUBECTL, PORTICO, POD_CIDR, Proc, SERVICE_CIDR, run, runOk, type ExecResult } from './plan.js';
import { cleanupPods } from '../../src/kubelet/runner.js';
import { pollUntil } from '../../src/util/poll.js';

/** Polls `f` until it returns something truthy; throws with the last error after the bound. */
export const until = <T>(what: string, f: () => Promise<T | undefined | false>, boundMs = 90_000): Promise<T> => pollUntil(what, f, boundMs, 200);

export class OneHost {
  readonly id = randomBytes(3).toString('hex');
  readonly hostNs: string;
  readonly netnsPrefix: string;
  root = '';
  dataDir = '';
  stateDir = '';
  up: Proc | undefined;
  agent: Proc | undefined;
  private nsMade = false;

  constructor(
    readonly hostIP: string,
    suffix: string,
    podPrefix: string,
    private readonly agentArgs: string[] = [],
  ) {
    this.hostNs = `pt-${this.id}-${suffix}`;
    this.netnsPrefix = `pt-${this.id}-${podPrefix}`;
  }

  inHost(argv: string[]): string[] {
    return ['nsenter', `--net=/run/netns/${this.hostNs}`, ...argv];
  }

  kubectl(args: string[], input?: string, boundMs = 60_000): Promise<ExecResult> {
    return run(['ip', 'netns', 'exec', this.hostNs, KUBECTL, '--kubeconfig', join(this.dataDir, 'kubeconfig.yaml'), '--cache-dir', join(this.root, 'kube-cache'), '--request-timeout', '30s', ...args], { input, boundMs });
  }

  async kubectlOk(args: string[], input?: string, boundMs?: number): Promise<string> {
    const r = await this.kubectl(args, input, boundMs);
    if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} exited ${r.code}: ${r.stderr.trim()}`);
    return r.stdout;
  }

  async start(): Promise<void> {
    this.root = await mkdtemp(join(tmpdir(), `pt-${this.id}-`));
    this.dataDir = join(this.root, 'data');
    this.stateDir = join(this.root, 'node');
    await runOk(['ip', 'netns', 'add', this.hostNs]);
    this.nsMade = true;
    const ipIn = (args: string) => runOk(['ip', '-n', this.hostNs, ...args.split(' ')]);
    await ipIn('link set lo up');
    await ipIn('link add host0 type veth peer name host0p');
    await ipIn('link set host0p up');
    await ipIn(`addr add ${this.hostIP}/24 dev host0`);
    await ipIn('link set host0 up');
    await ipIn(`route add ${SERVICE_CIDR} dev host0`);
    this.up = new Proc('portico up', this.inHost([
      process.execPath, PORTICO, 'up',
      '--data-dir', this.dataDir,
      '--api-listen', '127.0.0.1:6443',
      '--dns-listen', `${this.hostIP}:53`,
      '--service-cidr', SERVICE_CIDR,
      '--pod-cidr', POD_CIDR,
      '--proxy-mode', 'none',
    ]));
    await this.up.waitFor(/^Portico is up: API https:\/\/\S+/m);
    await this.startAgent();
  }

  async startAgent(): Promise<void> {
    this.agent = new Proc('agent', this.inHost([
      process.execPath, PORTICO, 'agent',
      '--kubeconfig', join(this.dataDir, 'kubeconfig.yaml'),
      '--node-name', 'n1',
      '--node-ip', this.hostIP,
      '--mode', 'nftables',
      '--cluster-cidr', POD_CIDR,
      '--service-cidr', SERVICE_CIDR,
      '--metrics-bind-address', '',
      '--run-pods', '--schedule-pods',
      '--pod-state-dir', this.stateDir,
      '--pod-netns-prefix', this.netnsPrefix,
      ...this.agentArgs,
    ]));
    await this.agent.waitFor(/^Portico agent is up: .*running pods/m);
  }

  async close(): Promise<void> {
    await this.agent?.stop();
    await this.up?.stop();
    // The pods outlive the agent (a new one would adopt them): end them by their recorded pids.
    if (this.stateDir) await cleanupPods(this.stateDir);
    const list = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout ?? '';
    for (const line of list.split('\n')) {
      const n = line.split(' ')[0] ?? '';
      if (n.startsWith(this.netnsPrefix)) spawnSync('ip', ['netns', 'del', n]);
    }
    for (const d of await readdir('/etc/netns').catch(() => [] as string[])) if (d.startsWith(this.netnsPrefix)) await rm(join('/etc/netns', d), { recursive: true, force: true });
    if (this.nsMade) spawnSync('ip', ['netns', 'del', this.hostNs]);
    if (this.root) await rm(this.root, { recursive: true, force: true });
  }
}
