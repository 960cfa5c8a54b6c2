// `portico up` and `portico server`: flags → ControlPlaneOptions, start, print where to find it,
// and stop cleanly on SIGINT/SIGTERM.
import { join, relative } from 'node:path';
import { existsSync } from 'node:fs';
import { isIP } from 'node:net';
import { networkInterfaces } from 'node:os';
import { KubeClient, loadKubeconfig } from '../client/http.js';
import { PROXY_MODES, type ProxyMode } from '../agent/backend.js';
import { startNodeAgent } from '../agent/start.js';
import { defaultNodeName, detectNodeIP } from '../agent/node.js';
import { POD_FLAGS, startPods, type StartedPods } from '../kubelet/cli.js';


/** The pod flags' defaults, for the runner `portico up` starts in-process. */
const POD_DEFAULTS = Object.fromEntries(Object.entries(POD_FLAGS).map(([k, v]) => [k, v.default])) as Record<keyof typeof POD_FLAGS, string | boolean>;
import { UsageError } from '../util/errors.js';
import { startIdleGc } from '../util/idlegc.js';
import { isValidCIDR } from '../util/ip.js';
import { startControlPlane, DEFAULT_CLUSTER, type ControlPlaneOptions } from '../api/controlplane.js';
import { parseFlags, parseHostPort, parsePortRange, parseDuration, type FlagSpec } from './flags.js';

const SERVER_FLAGS = {
  'data-dir': { type: 'string', default: '.portico' },
  'api-listen': { type: 'string', default: '127.0.0.1:6443' },
  'advertise-address': { type: 'string', default: '' },
  'dns-listen': { type: 'string', default: '127.0.0.1:1053' },
  'dns-http-listen': { type: 'string', default: '' },
  'dns-upstream': { type: 'string', default: '' },
  store: { type: 'string', default: 'sqlite' },
  'service-cidr': { type: 'string', default: DEFAULT_CLUSTER.serviceCIDRs.join(',') },
  'pod-cidr': { type: 'string', default: DEFAULT_CLUSTER.podCIDR },
  'service-node-port-range': { type: 'string', default: '30000-32767' },
  'lb-pool': { type: 'string', default: '' },
  'cluster-domain': { type: 'string', default: DEFAULT_CLUSTER.clusterDomain },
  'compaction-interval': { type: 'string', default: '5m' },
  'bookmark-interval': { type: 'string', default: '1m' },
  // Only `up` runs a node agent; `server` rejects these as unknown.
  'proxy-mode': { type: 'string', default: 'auto' },
  'node-name': { type: 'string', default: '' },
  'no-pods': { type: 'boolean', default: false },
} as const satisfies FlagSpec;

function usage(cmd: string, what: string): string {
  return `usage: portico ${cmd} [flags]

${what}

flags:
  --data-dir DIR                    state, credentials and kubeconfig.yaml (default .portico)
  --api-listen HOST:PORT            HTTPS API address (default 127.0.0.1:6443; port 0 picks one)
  --advertise-address IP            the kubernetes Service's endpoint: the API also answers there and
                                    the serving certificate names it (default: the listen address;
                                    as root, up uses the pod bridge's address so pods reach it)
  --dns-listen HOST:PORT            cluster DNS address, UDP and TCP (default 127.0.0.1:1053; empty: no DNS)
  --dns-http-listen HOST:PORT       DNS /health, /ready and /metrics (default: off)
  --dns-upstream HOST[:PORT][,...]  resolvers for names outside the cluster (default: /etc/resolv.conf)
  --store sqlite|memory             where state lives (default sqlite, in DATA_DIR/state.db)
  --service-cidr CIDR[,CIDR]        Service cluster IP range(s) (default 10.96.0.0/12)
  --pod-cidr CIDR                   pod address range (default 10.244.0.0/16)
  --service-node-port-range A-B     NodePort range (default 30000-32767)
  --lb-pool CIDR|A-B[,...]          LoadBalancer ingress addresses (default none: <pending>)
  --cluster-domain NAME             DNS domain (default cluster.local)
  --compaction-interval DURATION    history kept for watchers to resume (default 5m)
  --bookmark-interval DURATION      watch bookmark period (default 1m)${
    cmd === 'up'
      ? `
  --proxy-mode auto|nftables|iptables|userspace|none   the node agent's data plane (default auto: nftables as
                                    root with nft installed, else userspace; without root the
                                    default service CIDR moves into loopback, 127.96.0.0/12)
  --node-name NAME                  this node's name (default: the host name)
  --no-pods                         do not run Pods as processes on this host (default: run them)`
      : ''
  }`;
}

/** The data plane `portico up` uses: nftables as root with nft installed, else userspace. */
function autoProxyMode(): ProxyMode {
  const root = process.getuid?.() === 0;
  const hasNft = ['/usr/sbin/nft', '/sbin/nft', '/usr/bin/nft'].some((p) => existsSync(p));
  return root && hasNft ? 'nftables' : 'userspace';
}

/** Whether this host has `ip` (Linux answers on all of 127.0.0.0/8). */
function isLocalAddress(ip: string): boolean {
  if (ip.startsWith('127.') || ip === '::1') return true;
  return Object.values(networkInterfaces()).some((list) => (list ?? []).some((a) => a.address === ip));
}

export function controlPlaneOptions(v: Record<keyof typeof SERVER_FLAGS, string | boolean | undefined>): ControlPlaneOptions {
  const s = (k: keyof typeof SERVER_FLAGS) => String(v[k]);
  const api = parseHostPort('api-listen', s('api-listen'));
  const advertise = s('advertise-address');
  if (advertise && (!isIP(advertise) || advertise === '0.0.0.0' || advertise === '::')) throw new UsageError(`--advertise-address: invalid IP address "${advertise}"`);
  if (advertise && !isLocalAddress(advertise)) throw new UsageError(`--advertise-address: ${advertise} is not an address of this host`);
  if (s('dns-listen')) parseHostPort('dns-listen', s('dns-listen'));
  if (s('dns-http-listen')) parseHostPort('dns-http-listen', s('dns-http-listen'));
  const store = s('store');
  if (store !== 'sqlite' && store !== 'memory') throw new UsageError(`--store: unsupported value "${store}": supported values: "sqlite", "memory"`);
  const serviceCIDRs = s('service-cidr').split(',').map((c) => c.trim());
  for (const c of serviceCIDRs) if (!isValidCIDR(c)) throw new UsageError(`--service-cidr: invalid CIDR "${c}"`);
  if (serviceCIDRs.length > 2) throw new UsageError('--service-cidr: at most two CIDRs (one per IP family)');
  const podCIDR = s('pod-cidr');
  if (!isValidCIDR(podCIDR)) throw new UsageError(`--pod-cidr: invalid CIDR "${podCIDR}"`);
  const domain = s('cluster-domain').replace(/\.$/, '');
  if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/.test(domain)) throw new UsageError(`--cluster-domain: invalid domain "${domain}"`);
  const lbPool = s('lb-pool') ? s('lb-pool').split(',').map((x) => x.trim()) : [];
  return {
    dataDir: s('data-dir'),
    apiHost: api.host,
    apiPort: api.port,
    store,
    cluster: {
      serviceCIDRs,
      podCIDR,
      nodePortRange: parsePortRange('service-node-port-range', s('service-node-port-range')),
      clusterDomain: domain,
      lbPool,
    },
    dns: s('dns-listen')
      ? {
          listen: s('dns-listen'),
          httpListen: s('dns-http-listen') || undefined,
          upstreams: s('dns-upstream') ? s('dns-upstream').split(',').map((u) => u.trim()) : undefined,
        }
      : undefined,
    compactionIntervalMs: parseDuration('compaction-interval', s('compaction-interval')),
    bookmarkIntervalMs: parseDuration('bookmark-interval', s('bookmark-interval')),
  };
}

async function run(cmd: 'up' | 'server', argv: string[]): Promise<void> {
  const what = cmd === 'up' ? 'Runs Portico on this host: API server, controllers and cluster DNS.' : 'Runs the control plane and the cluster DNS server, without a node agent.';
  const flags = parseFlags(argv, SERVER_FLAGS, usage(cmd, what));
  if (cmd === 'server' && ['--proxy-mode', '--node-name', '--no-pods'].some((f) => argv.some((a) => a.startsWith(f)))) {
    throw new UsageError('portico server runs no node agent: --proxy-mode, --node-name and --no-pods are for portico up and portico agent');
  }
  const requested = String(flags['proxy-mode']);
  if (!['auto', 'none', ...PROXY_MODES].includes(requested)) throw new UsageError(`--proxy-mode: unsupported value "${requested}": supported values: "auto", "none", "nftables", "iptables", "userspace"`);
  const mode: ProxyMode | 'none' = cmd === 'server' ? 'none' : requested === 'auto' ? autoProxyMode() : (requested as ProxyMode | 'none');
  // Rootless userspace needs Service addresses it can bind: loopback holds all of 127.0.0.0/8.
  if (mode === 'userspace' && process.getuid?.() !== 0 && !argv.some((a) => a.startsWith('--service-cidr'))) flags['service-cidr'] = '127.96.0.0/12';
  const opts = controlPlaneOptions(flags);
  const cp = await startControlPlane(opts);
  const advertise = String(flags['advertise-address']);
  if (advertise) {
    try {
      await cp.serveApiAt(advertise);
    } catch (err) {
      await cp.close();
      throw new Error(`--advertise-address ${advertise}: the API cannot serve there: ${(err as Error).message}`);
    }
  }
  // Gives back the heap a burst of API work grew into once the server is quiet again (--expose-gc).
  startIdleGc();
  let agent: { stop(): Promise<void> } | undefined;
  let pods: StartedPods | undefined;
  let podDnsLine = '';
  const nodeIP = detectNodeIP() ?? '127.0.0.1';
  if (mode !== 'none') {
    const client = new KubeClient(loadKubeconfig(cp.kubeconfigPath));
    const nodeName = String(flags['node-name']) || defaultNodeName();
    try {
      agent = await startNodeAgent({
        client,
        mode,
        nodeName,
        nodeIPs: [nodeIP],
        nodePortAddresses: [],
        clusterCIDR: opts.cluster.podCIDR,
        serviceCIDRs: opts.cluster.serviceCIDRs,
        masqueradeAll: false,
        minSyncPeriodMs: 0,
        fullSyncPeriodMs: 3_600_000,
        metricsListen: '127.0.0.1:10249',
        healthListen: '127.0.0.1:10256',
        scheduler: 'rr',
        register: true,
        logger: cp.logger,
      });
      if (!flags['no-pods']) {
        // One host: this node runs the Pods and schedules them (there is no other node).
        pods = await startPods(
          { ...POD_DEFAULTS, 'run-pods': true, 'schedule-pods': true, 'pod-state-dir': join(opts.dataDir, 'pods'), 'cluster-domain': opts.cluster.clusterDomain },
          { client, nodeName, nodeIPs: [nodeIP], logger: cp.logger },
        );
        const runner = pods?.runner;
        if (runner) cp.registry.podLogs = (ns, name, container, o) => runner.readLogs(ns, name, container, o);
        // Pods in their own network namespaces cannot reach a loopback DNS address: the DNS also
        // answers on the pod bridge's address, and kube-dns's endpoint (behind the cluster IP in
        // every pod's resolv.conf) moves there.
        const bridgeIP = await runner?.ensureNodeBridge();
        if (bridgeIP && cp.dnsAddress) {
          await cp.serveDnsAt(bridgeIP);
          podDnsLine = `\n  pods: cluster DNS through the kube-dns cluster IP, answered on ${bridgeIP}:${cp.dnsAddress.replace(/^.*:/, '')} (bridge ${String(POD_DEFAULTS['pod-bridge'])})`;
        }
        // Likewise the API: the `kubernetes` Service's endpoint becomes the bridge address (unless
        // one was chosen; pods reach a host address through the bridge too).
        if (bridgeIP && !advertise) {
          await cp.serveApiAt(bridgeIP);
          podDnsLine += `\n  pods: the API through the kubernetes Service, answered on ${bridgeIP}:${cp.port}`;
        }
      }
    } catch (err) {
      await pods?.stop().catch(() => {});
      await agent?.stop().catch(() => {});
      await cp.close();
      throw new Error(`node agent (${mode}) failed to start: ${(err as Error).message}`);
    }
  }
  const kc = relative(process.cwd(), cp.kubeconfigPath) || cp.kubeconfigPath;
  const dnsLine = cp.dnsAddress ? `\n  cluster DNS on ${cp.dnsAddress} (UDP and TCP): dig @${cp.dnsAddress.replace(/:(\d+)$/, ' -p $1')} kubernetes.default.svc.${opts.cluster.clusterDomain}` : '';
  const rootless = mode === 'userspace' && process.getuid?.() !== 0;
  const agentLine =
    mode === 'none'
      ? ''
      : `\n  node agent: ${mode} data plane, Service CIDR ${opts.cluster.serviceCIDRs.join(',')}, node ports on ${nodeIP}` +
        (rootless ? '\n  (without root, Service ports below 1024 cannot be bound unless net.ipv4.ip_unprivileged_port_start is lowered)' : '');
  let stopping = false;
  const stop = (sig: string) => {
    if (stopping) return;
    stopping = true;
    cp.logger.info({ signal: sig }, 'shutting down');
    // Unlike `portico agent`, `up` takes its pods down with it (SIGTERM, SIGKILL after their grace
    // period; namespaces removed); the Pods stay in the API and run again on the next `up`.
    (pods ? pods.stop({ killPods: true, graceful: true }) : Promise.resolve())
      .then(() => agent?.stop())
      .then(() => cp.close())
      .then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  // Announced only once the signal handlers are in: whoever waits for this line may signal at once.
  process.stdout.write(`Portico is up: API ${cp.url}\n  kubectl --kubeconfig ${kc} get namespaces${dnsLine}${podDnsLine}${agentLine}\n`);
}

export const runUp = (argv: string[]) => run('up', argv);
export const runServer = (argv: string[]) => run('server', argv);
