// `portico agent`: the node agent (kube-proxy's job) against any API server from a kubeconfig, and
// `portico agent --cleanup --mode M`, which removes everything the agent put in the kernel.
import { newLogger } from '../util/log.js';
import { RELAY_KINDS, type RelayKind } from '../proxy/userspace/native.js';
import { UsageError } from '../util/errors.js';
import { kubeClientFromFlag } from './common.js';
import { isValidCIDR, isValidIP } from '../util/ip.js';
import { defaultNodeName, detectNodeIP } from '../agent/node.js';
import { NFT_BACKENDS, PROXY_MODES, type NftBackendChoice, type ProxyMode } from '../agent/backend.js';
import { cleanupMode, startNodeAgent } from '../agent/start.js';
import { parseFlags, parseDuration, parseHostPort, type FlagSpec } from './flags.js';
import { POD_FLAGS, POD_USAGE, startPods } from '../kubelet/cli.js';

const FLAGS = {
  kubeconfig: { type: 'string' },
  'node-name': { type: 'string' },
  'node-ip': { type: 'string' },
  mode: { type: 'string', default: 'nftables' },
  cleanup: { type: 'boolean', default: false },
  'node-port-addresses': { type: 'string', default: '' },
  'masquerade-all': { type: 'boolean', default: false },
  'cluster-cidr': { type: 'string', default: '' },
  'service-cidr': { type: 'string', default: '' },
  'min-sync-period': { type: 'string', default: '0s' },
  'sync-period': { type: 'string', default: '1h' },
  'metrics-bind-address': { type: 'string', default: '127.0.0.1:10249' },
  'healthz-bind-address': { type: 'string', default: '0.0.0.0:10256' },
  'no-register-node': { type: 'boolean', default: false },
  scheduler: { type: 'string', default: 'rr' },
  'ipvs-scheduler': { type: 'string', default: 'rr' },
  'iptables-variant': { type: 'string', default: '' },
  'nft-backend': { type: 'string', default: 'auto' },
  'userspace-relay': { type: 'string', default: 'auto' },
  ...POD_FLAGS,
} as const satisfies FlagSpec;

const USAGE = `usage: portico agent --kubeconfig FILE --node-name NAME [flags]
       portico agent --cleanup --mode MODE

Runs the node agent: makes Services' cluster IPs, node ports, external and load-balancer IPs carry
traffic to their endpoints on this node.

flags:
  --kubeconfig FILE               how to reach the API server (required unless --cleanup)
  --node-name NAME                this node's name (default: the host name)
  --node-ip IP[,IP]               this node's address(es) (default: the first non-loopback IPv4)
  --mode nftables|iptables|ipvs|userspace   data plane (default nftables)
  --cleanup                       remove everything the agent put in the kernel, then exit
  --node-port-addresses CIDR,...  local addresses that accept node ports (default: all but loopback)
  --masquerade-all                SNAT all Service traffic
  --cluster-cidr CIDR             pod range: traffic from outside it is masqueraded
  --service-cidr CIDR[,CIDR]      Service range(s): unallocated addresses in them are dropped
  --min-sync-period DURATION      least time between two syncs (default 0s: bursts still coalesce)
  --sync-period DURATION          full resync period (default 1h)
  --metrics-bind-address H:P      /metrics (default 127.0.0.1:10249; empty: off)
  --healthz-bind-address H:P      /healthz and /livez (default 0.0.0.0:10256; empty: off)
  --no-register-node              do not create or heartbeat this node's Node and Lease
  --nft-backend auto|netlink|cli  nftables mode: send rules over netlink or through \`nft -f\`
                                  (default auto: netlink when the native addon loads)
  --userspace-relay auto|native|js   userspace mode: move TCP bytes in the native pump or in JS
                                  (default auto: native when the addon is built)
  --scheduler NAME                userspace mode: rr (default), wrr, lc, wlc, sh, dh, sed, nq, random;
                                  a Service's portico.dev/scheduler annotation overrides it
  --ipvs-scheduler NAME           ipvs mode: rr (default), wrr, lc, wlc, lblc, lblcr, dh, sh, sed, nq, mh;
                                  a Service's portico.dev/scheduler annotation overrides it${POD_USAGE}`;

function iptablesVariant(v: string): 'legacy' | 'nft' | undefined {
  if (v === '') return undefined;
  if (v === 'legacy' || v === 'nft') return v;
  throw new UsageError(`--iptables-variant: unsupported value "${v}": supported values: "legacy", "nft"`);
}

function nftBackend(v: string): NftBackendChoice {
  if ((NFT_BACKENDS as readonly string[]).includes(v)) return v as NftBackendChoice;
  throw new UsageError(`--nft-backend: unsupported value "${v}": supported values: ${NFT_BACKENDS.map((b) => `"${b}"`).join(', ')}`);
}

export async function runAgent(argv: string[]): Promise<void> {
  const v = parseFlags(argv, FLAGS, USAGE);
  const nft = nftBackend(String(v['nft-backend']));
  const relay = String(v['userspace-relay']);
  if (!(RELAY_KINDS as readonly string[]).includes(relay)) throw new UsageError(`--userspace-relay: unsupported value "${relay}": supported values: ${RELAY_KINDS.map((k) => `"${k}"`).join(', ')}`);
  const mode = String(v.mode) as ProxyMode;
  if (!PROXY_MODES.includes(mode)) throw new UsageError(`--mode: unsupported value "${mode}": supported values: ${PROXY_MODES.map((m) => `"${m}"`).join(', ')}`);
  if (v.cleanup) {
    await cleanupMode(mode, nft);
    process.stdout.write(`portico agent: removed everything the ${mode} data plane had programmed\n`);
    return;
  }
  if (!v.kubeconfig) throw new UsageError('--kubeconfig is required');
  const nodeIPs = v['node-ip'] ? String(v['node-ip']).split(',').map((s) => s.trim()) : [detectNodeIP()].filter((x): x is string => Boolean(x));
  for (const ip of nodeIPs) if (!isValidIP(ip)) throw new UsageError(`--node-ip: invalid IP address "${ip}"`);
  if (!nodeIPs.length) throw new UsageError('--node-ip: no non-loopback address found on this host; pass one');
  const npa = v['node-port-addresses'] ? String(v['node-port-addresses']).split(',').map((s) => s.trim()) : [];
  for (const c of npa) if (!isValidCIDR(c)) throw new UsageError(`--node-port-addresses: invalid CIDR "${c}"`);
  const clusterCIDR = String(v['cluster-cidr']);
  if (clusterCIDR && !isValidCIDR(clusterCIDR)) throw new UsageError(`--cluster-cidr: invalid CIDR "${clusterCIDR}"`);
  const serviceCIDRs = v['service-cidr'] ? String(v['service-cidr']).split(',').map((s) => s.trim()) : [];
  for (const c of serviceCIDRs) if (!isValidCIDR(c)) throw new UsageError(`--service-cidr: invalid CIDR "${c}"`);
  for (const f of ['metrics-bind-address', 'healthz-bind-address'] as const) if (v[f]) parseHostPort(f, String(v[f]));
  const client = kubeClientFromFlag(String(v.kubeconfig));
  const logger = newLogger();
  const nodeName = v['node-name'] ? String(v['node-name']) : defaultNodeName();
  const running = await startNodeAgent({
    client,
    mode,
    nodeName,
    nodeIPs,
    nodePortAddresses: npa,
    clusterCIDR,
    serviceCIDRs,
    masqueradeAll: Boolean(v['masquerade-all']),
    minSyncPeriodMs: parseDuration('min-sync-period', String(v['min-sync-period'])),
    fullSyncPeriodMs: parseDuration('sync-period', String(v['sync-period'])),
    metricsListen: String(v['metrics-bind-address']),
    healthListen: String(v['healthz-bind-address']),
    scheduler: String(v.scheduler),
    ipvsScheduler: String(v['ipvs-scheduler']),
    iptablesVariant: iptablesVariant(String(v['iptables-variant'])),
    nftBackend: nft,
    userspaceRelay: relay as RelayKind,
    register: !v['no-register-node'],
    logger,
  });
  const pods = await startPods(v, { client, nodeName, nodeIPs, logger });
  const stop = () => {
    (pods ? pods.stop() : Promise.resolve()).then(() => running.stop()).then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  // Announced only once the signal handlers are in: whoever waits for this line may signal at once.
  process.stdout.write(`Portico agent is up: node ${nodeName} (${nodeIPs.join(', ')}), mode ${mode}${pods?.runner ? ', running pods' : ''}\n`);
}
