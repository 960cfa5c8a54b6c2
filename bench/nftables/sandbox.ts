// Network namespaces and child processes the benchmark creates, all undone by `destroy()`: children
// ended by pid (and awaited), namespaces deleted. Also undone synchronously if the process exits
// without it, and on SIGINT/SIGTERM.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { Proc, run, runOk, type ExecResult } from '../../test/scenarios/plan.js';
import type { Exec } from '../../src/proxy/exec.js';

export class Sandbox {
  readonly id = randomBytes(3).toString('hex');
  private readonly made: string[] = [];
  private readonly procs = new Set<Proc>();
  private readonly onExit = () => {
    for (const p of this.procs) if (p.running && p.child.pid !== undefined) process.kill(p.child.pid, 'SIGKILL');
    for (const n of this.made) spawnSync('ip', ['netns', 'del', n]);
  };
  private readonly onSignal = () => {
    void this.destroy().finally(() => process.exit(130));
  };

  constructor() {
    process.on('exit', this.onExit);
    process.on('SIGINT', this.onSignal);
    process.on('SIGTERM', this.onSignal);
  }

  /** Creates namespace `pbn-<id>-<role>` with lo up; returns its name. */
  async addNs(role: string): Promise<string> {
    const name = `pbn-${this.id}-${role}`;
    await runOk(['ip', 'netns', 'add', name]);
    this.made.push(name);
    await runOk(['ip', '-n', name, 'link', 'set', 'lo', 'up']);
    return name;
  }

  async delNs(name: string): Promise<void> {
    const i = this.made.indexOf(name);
    if (i >= 0) this.made.splice(i, 1);
    await run(['ip', 'netns', 'del', name]);
  }

  exec(ns: string, argv: string[], opts: { input?: string; boundMs?: number } = {}): Promise<ExecResult> {
    return run(['ip', 'netns', 'exec', ns, ...argv], opts);
  }

  async execOk(ns: string, argv: string[], opts: { input?: string; boundMs?: number } = {}): Promise<string> {
    return runOk(['ip', 'netns', 'exec', ns, ...argv], opts);
  }

  /** `ip -n NS ARGS...` (space-separated), failing loudly. */
  ip(ns: string, args: string): Promise<string> {
    return runOk(['ip', '-n', ns, ...args.split(' ')]);
  }

  /** Moves one end of a new veth pair into each namespace. */
  async veth(nsA: string, ifA: string, nsB: string, ifB: string): Promise<void> {
    await runOk(['ip', '-n', nsA, 'link', 'add', ifA, 'type', 'veth', 'peer', 'name', ifB, 'netns', nsB]);
    await this.ip(nsA, `link set ${ifA} up`);
    await this.ip(nsB, `link set ${ifB} up`);
  }

  /**
   * A node between a client and a pod namespace: `cliIf` in `cli` to `eth0` in `nodeNs` (a /30,
   * cliIP and nodeIP), the client routing `vip` through the node, forwarding on, and `pods`
   * (198.19.254.254/24) to `eth0` in `podNs` holding podIPs, whose default route is the node.
   */
  async nodeWithPods(cli: string, cliIf: string, nodeNs: string, podNs: string, a: { cliIP: string; nodeIP: string; vip: string; podIPs: readonly string[] }): Promise<void> {
    await this.veth(cli, cliIf, nodeNs, 'eth0');
    await this.ip(cli, `addr add ${a.cliIP}/30 dev ${cliIf}`);
    await this.ip(nodeNs, `addr add ${a.nodeIP}/30 dev eth0`);
    await this.ip(cli, `route add ${a.vip}/32 via ${a.nodeIP}`);
    await this.execOk(nodeNs, ['sysctl', '-q', '-w', 'net.ipv4.ip_forward=1']);
    await this.execOk(nodeNs, ['sysctl', '-q', '-w', 'net.ipv4.conf.all.rp_filter=0']);
    await this.veth(nodeNs, 'pods', podNs, 'eth0');
    await this.ip(nodeNs, 'addr add 198.19.254.254/24 dev pods');
    for (const ip of a.podIPs) await this.ip(podNs, `addr add ${ip}/24 dev eth0`);
    await this.ip(podNs, 'route add default via 198.19.254.254');
  }

  /** An nftables applier Exec inside a namespace (no bound: a big `nft -f` may take a while). */
  nftExec(ns: string): Exec {
    return async (argv, stdin) => {
      const r = await run(['ip', 'netns', 'exec', ns, ...argv], { input: stdin, boundMs: 600_000 });
      return { code: r.code ?? 1, stdout: r.stdout, stderr: r.stderr };
    };
  }

  spawn(ns: string, label: string, argv: string[]): Proc {
    const p = new Proc(label, ['ip', 'netns', 'exec', ns, ...argv]);
    this.procs.add(p);
    return p;
  }

  async stop(p: Proc): Promise<void> {
    await p.stop();
    this.procs.delete(p);
  }

  async destroy(): Promise<void> {
    await Promise.allSettled([...this.procs].map((p) => p.stop()));
    this.procs.clear();
    for (const n of this.made.splice(0).reverse()) await run(['ip', 'netns', 'del', n]);
    process.off('exit', this.onExit);
    process.off('SIGINT', this.onSignal);
    process.off('SIGTERM', this.onSignal);
  }
}
