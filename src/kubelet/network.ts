// Pod networking, the CNI bridge plugin's job reduced to what Portico needs. As root each pod gets a
// network namespace `<prefix><hash of uid>` with `eth0`, one end of a veth pair whose other end
// (`pv<hash>`, hairpin on) is a port of the node's bridge (`portico0`, holding the first address of
// the node's podCIDR); an address from the podCIDR and a default route via the bridge. Its
// resolv.conf and hosts are files in /etc/netns/<netns>/, which `ip netns exec` bind-mounts over
// /etc/resolv.conf and /etc/hosts for every process it starts there. Without root pods share the
// host's network and get loopback addresses (127.0.0.2 and on) for identification only.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { cidrAddress, cidrSize, formatIP, parseCIDR } from '../util/ip.js';

export const NETNS_ETC = '/etc/netns';

export interface CmdResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export type CmdRunner = (argv: string[]) => Promise<CmdResult>;

export const runCmd: CmdRunner = (argv) =>
  new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });

async function ok(run: CmdRunner, argv: string[]): Promise<string> {
  const r = await run(argv);
  if (r.code !== 0) throw new Error(`${argv.join(' ')}: exit ${r.code}: ${r.stderr.trim()}`);
  return r.stdout;
}

const shortHash = (s: string, n: number) => createHash('sha256').update(s).digest('hex').slice(0, n);

/** The network namespace of a pod: deterministic from its UID (bounded, recognisable by prefix). */
export const podNetnsName = (prefix: string, uid: string) => `${prefix}${shortHash(uid, 10)}`;
/** The node end of the pod's veth pair (at most 15 characters, as the kernel wants). */
export const podVethName = (uid: string) => `pv${shortHash(uid, 12)}`;

/**
 * The first free pod address of a podCIDR: offsets 2 and up (offset 0 is the network, 1 the
 * bridge), never the last (broadcast). Undefined when the range is full. Pure.
 */
export function allocatePodIP(podCIDR: string, used: ReadonlySet<string>): string | undefined {
  const c = parseCIDR(podCIDR);
  if (!c) throw new Error(`invalid podCIDR "${podCIDR}"`);
  const size = cidrSize(c);
  const last = c.family === 4 ? size - 1n : size;
  for (let off = 2n; off < last && off < 2n + 65536n; off++) {
    const ip = formatIP(cidrAddress(c, off)!);
    if (!used.has(ip)) return ip;
  }
  return undefined;
}

/** The bridge address of a podCIDR: its first address, with the range's prefix. */
export function gatewayOf(podCIDR: string): { ip: string; prefix: number } {
  const c = parseCIDR(podCIDR);
  if (!c) throw new Error(`invalid podCIDR "${podCIDR}"`);
  return { ip: formatIP(cidrAddress(c, 1n)!), prefix: c.prefix };
}

/** A loopback address per pod when running without root: 127.0.0.2 and on. */
export function allocateLoopbackIP(used: ReadonlySet<string>): string | undefined {
  for (let i = 2; i < 255; i++) {
    const ip = `127.0.0.${i}`;
    if (!used.has(ip)) return ip;
  }
  return undefined;
}

export interface DNSSettings {
  /** Cluster DNS server addresses (kubelet's --cluster-dns). */
  nameservers: string[];
  /** The cluster domain (kubelet's --cluster-domain). */
  domain: string;
}

/**
 * resolv.conf for a pod with dnsPolicy ClusterFirst: the cluster DNS, the search path
 * `<ns>.svc.<domain> svc.<domain> <domain>` and ndots:5; dnsConfig adds to it; dnsPolicy None uses
 * dnsConfig alone; Default uses the node's own resolv.conf (`hostResolv`).
 */
export function resolvConf(pod: { metadata?: { namespace?: string }; spec?: { dnsPolicy?: string; dnsConfig?: { nameservers?: string[]; searches?: string[]; options?: Array<Record<string, unknown>> } } }, dns: DNSSettings, hostResolv = ''): string {
  const policy = pod.spec?.dnsPolicy ?? 'ClusterFirst';
  if (policy === 'Default' && !pod.spec?.dnsConfig) return hostResolv;
  const ns = pod.metadata?.namespace ?? 'default';
  let servers: string[] = [];
  let search: string[] = [];
  const options = new Map<string, string | undefined>();
  if (policy === 'ClusterFirst' || policy === 'ClusterFirstWithHostNet') {
    servers = [...dns.nameservers];
    search = [`${ns}.svc.${dns.domain}`, `svc.${dns.domain}`, dns.domain];
    options.set('ndots', '5');
  }
  const cfg = pod.spec?.dnsConfig;
  for (const s of cfg?.nameservers ?? []) if (!servers.includes(s)) servers.push(s);
  for (const s of cfg?.searches ?? []) if (!search.includes(s)) search.push(s);
  for (const o of cfg?.options ?? []) {
    const name = String(o.name ?? '');
    if (name) options.set(name, o.value === undefined ? undefined : String(o.value));
  }
  const lines = servers.slice(0, 3).map((s) => `nameserver ${s}`);
  if (search.length) lines.push(`search ${search.slice(0, 32).join(' ')}`);
  if (options.size) lines.push(`options ${[...options].map(([k, v]) => (v === undefined ? k : `${k}:${v}`)).join(' ')}`);
  return lines.join('\n') + '\n';
}

/** The pod's /etc/hosts, as kubelet writes it. */
export function hostsFile(podIP: string, hostname: string, fqdn?: string, aliases: Array<{ ip: string; hostnames?: string[] }> = []): string {
  const lines = [
    '# Kubernetes-managed hosts file (Portico).',
    '127.0.0.1\tlocalhost',
    '::1\tlocalhost ip6-localhost ip6-loopback',
    `${podIP}\t${fqdn ? `${fqdn}\t` : ''}${hostname}`,
  ];
  for (const a of aliases) if (a.hostnames?.length) lines.push(`${a.ip}\t${a.hostnames.join('\t')}`);
  return lines.join('\n') + '\n';
}

export interface PodNetwork {
  netns: string;
  veth: string;
  ip: string;
}

/** The node side: bridge with the gateway address, forwarding on. Idempotent. */
export async function ensureBridge(bridge: string, podCIDR: string, run: CmdRunner = runCmd): Promise<void> {
  const gw = gatewayOf(podCIDR);
  const exists = (await run(['ip', 'link', 'show', 'dev', bridge])).code === 0;
  if (!exists) await ok(run, ['ip', 'link', 'add', bridge, 'type', 'bridge']);
  const addrs = await ok(run, ['ip', '-o', '-4', 'addr', 'show', 'dev', bridge]);
  if (!addrs.includes(` ${gw.ip}/`)) await ok(run, ['ip', 'addr', 'add', `${gw.ip}/${gw.prefix}`, 'dev', bridge]);
  await pinBridgeAddress(bridge, run);
  await ok(run, ['ip', 'link', 'set', bridge, 'up']);
  await run(['sysctl', '-q', '-w', 'net.ipv4.ip_forward=1']);
}

/**
 * Sets the bridge's MAC address to the one it has now. Unless an address was set, Linux gives a
 * bridge the lowest MAC of its ports and changes it whenever a port joins or leaves; a pod that
 * resolved its gateway to the old address then has its frames dropped (they reach the node
 * addressed to another port) until its ARP entry expires, seconds in which every reply it sends is
 * lost. A set address stays put (as the CNI bridge plugin keeps its bridge's).
 */
async function pinBridgeAddress(bridge: string, run: CmdRunner): Promise<void> {
  const [link] = JSON.parse(await ok(run, ['ip', '-j', 'link', 'show', 'dev', bridge])) as Array<{ address?: string }>;
  if (!link?.address) throw new Error(`bridge ${bridge} has no MAC address`);
  await ok(run, ['ip', 'link', 'set', 'dev', bridge, 'address', link.address]);
}

/** Creates the pod's namespace, veth and address (after removing leftovers of the same name). */
export async function setupPodNetwork(bridge: string, podCIDR: string, net: PodNetwork, run: CmdRunner = runCmd): Promise<void> {
  const gw = gatewayOf(podCIDR);
  await teardownPodNetwork(net, run);
  await ok(run, ['ip', 'netns', 'add', net.netns]);
  await ok(run, ['ip', 'link', 'add', net.veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', net.netns]);
  await ok(run, ['ip', 'link', 'set', net.veth, 'master', bridge]);
  // Hairpin, as the CNI bridge plugin with kubelet's default hairpinMode: a pod reaching itself
  // through a Service address is bridged back out of the port it came in.
  await ok(run, ['ip', 'link', 'set', net.veth, 'type', 'bridge_slave', 'hairpin', 'on']);
  await ok(run, ['ip', 'link', 'set', net.veth, 'up']);
  await ok(run, ['ip', '-n', net.netns, 'link', 'set', 'lo', 'up']);
  await ok(run, ['ip', '-n', net.netns, 'addr', 'add', `${net.ip}/${gw.prefix}`, 'dev', 'eth0']);
  await ok(run, ['ip', '-n', net.netns, 'link', 'set', 'eth0', 'up']);
  await ok(run, ['ip', '-n', net.netns, 'route', 'add', 'default', 'via', gw.ip]);
  // The address may have been a pod's a moment ago: the node's ARP entry still names that pod's
  // MAC, and would keep the new pod unreachable (and its readiness probe failing) for seconds.
  await ok(run, ['ip', 'neigh', 'flush', 'to', net.ip, 'dev', bridge]);
}

/** Whether the pod's namespace is still there (for adoption after a restart). */
export async function podNetworkExists(net: PodNetwork, run: CmdRunner = runCmd): Promise<boolean> {
  const r = await run(['ip', '-n', net.netns, '-o', '-4', 'addr', 'show', 'dev', 'eth0']);
  return r.code === 0 && r.stdout.includes(` ${net.ip}/`);
}

/** Writes /etc/netns/<netns>/{resolv.conf,hosts}. */
export async function writePodEtc(netns: string, files: { resolv: string; hosts: string }): Promise<void> {
  const dir = join(NETNS_ETC, netns);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'resolv.conf'), files.resolv);
  await writeFile(join(dir, 'hosts'), files.hosts);
}

/** Removes the namespace (which takes the veth pair with it) and its /etc/netns files. Idempotent. */
export async function teardownPodNetwork(net: Pick<PodNetwork, 'netns' | 'veth'>, run: CmdRunner = runCmd): Promise<void> {
  await run(['ip', 'link', 'del', net.veth]);
  await run(['ip', 'netns', 'del', net.netns]);
  await rm(join(NETNS_ETC, net.netns), { recursive: true, force: true });
}
