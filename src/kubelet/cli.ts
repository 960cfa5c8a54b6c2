// The pod runner's flags on `portico agent` (`--run-pods` and friends) and starting it from them:
// kept here so the agent command only spreads the flags in and calls startPods.
import type { Logger } from 'pino';
import type { KubeClient } from '../client/http.js';
import type { Service } from '../registry/kinds/service.js';
import { UsageError } from '../util/errors.js';
import { isValidIP } from '../util/ip.js';
import { parseDuration, type FlagSpec } from '../cli/flags.js';
import { PodRunner } from './runner.js';
import { Scheduler } from './scheduler.js';

export const POD_FLAGS = {
  'run-pods': { type: 'boolean', default: false },
  'schedule-pods': { type: 'boolean', default: false },
  'pod-state-dir': { type: 'string', default: '/var/lib/portico/pods' },
  'cluster-dns': { type: 'string', default: '' },
  'cluster-domain': { type: 'string', default: 'cluster.local' },
  'pod-bridge': { type: 'string', default: 'portico0' },
  'pod-netns-prefix': { type: 'string', default: 'portico-' },
  'pod-backoff-initial': { type: 'string', default: '10s' },
  'pod-backoff-max': { type: 'string', default: '5m' },
} as const satisfies FlagSpec;

export const POD_USAGE = `
pods (a small kubelet for processes; see src/kubelet/README.md):
  --run-pods                      run the Pods bound to this node as processes
  --schedule-pods                 also bind unbound Pods to Ready nodes (run it on one node only)
  --pod-state-dir DIR             pod records and container logs (default /var/lib/portico/pods)
  --cluster-dns IP[,IP]           pods' nameserver (default: the kube-system/kube-dns cluster IP)
  --cluster-domain NAME           pods' DNS search domain (default cluster.local)
  --pod-bridge NAME               the node's pod bridge (default portico0)
  --pod-netns-prefix PREFIX       prefix of pod network namespace names (default portico-)
  --pod-backoff-initial DURATION  first crash-loop back-off (default 10s)
  --pod-backoff-max DURATION      longest crash-loop back-off (default 5m)`;

type PodFlagValues = Record<keyof typeof POD_FLAGS, string | boolean | undefined>;

export interface StartedPods {
  runner?: PodRunner;
  scheduler?: Scheduler;
  /** Stops watching; pods keep running for the next agent to adopt unless killPods (see PodRunner.stop). */
  stop(opts?: { killPods?: boolean; graceful?: boolean }): Promise<void>;
}

/** Starts the pod runner (and scheduler) of `portico agent --run-pods`; undefined when not asked for. */
export async function startPods(v: PodFlagValues, o: { client: KubeClient; nodeName: string; nodeIPs: string[]; logger: Logger }): Promise<StartedPods | undefined> {
  if (!v['run-pods'] && !v['schedule-pods']) return undefined;
  const initialMs = parseDuration('pod-backoff-initial', String(v['pod-backoff-initial']));
  const maxMs = parseDuration('pod-backoff-max', String(v['pod-backoff-max']));
  if (maxMs < initialMs) throw new UsageError('--pod-backoff-max must not be below --pod-backoff-initial');
  let dns = v['cluster-dns'] ? String(v['cluster-dns']).split(',').map((s) => s.trim()) : [];
  for (const ip of dns) if (!isValidIP(ip)) throw new UsageError(`--cluster-dns: invalid IP address "${ip}"`);
  const scheduler = v['schedule-pods'] ? new Scheduler({ client: o.client, logger: o.logger.child({ component: 'scheduler' }) }) : undefined;
  await scheduler?.start();
  let runner: PodRunner | undefined;
  if (v['run-pods']) {
    if (!dns.length) {
      const svc = await o.client.request<Service>('GET', '/api/v1/namespaces/kube-system/services/kube-dns').catch(() => undefined);
      dns = svc?.spec?.clusterIP && svc.spec.clusterIP !== 'None' ? [svc.spec.clusterIP] : [];
      if (!dns.length) o.logger.warn('no --cluster-dns and no kube-system/kube-dns Service: pods get no nameserver');
    }
    runner = new PodRunner({
      client: o.client,
      nodeName: o.nodeName,
      nodeIPs: o.nodeIPs,
      stateDir: String(v['pod-state-dir']),
      bridge: String(v['pod-bridge']),
      netnsPrefix: String(v['pod-netns-prefix']),
      clusterDNS: dns,
      clusterDomain: String(v['cluster-domain']).replace(/\.$/, ''),
      backoff: { initialMs, maxMs, resetAfterMs: 2 * maxMs },
      logger: o.logger.child({ component: 'pods' }),
    });
    await runner.start();
  }
  return {
    runner,
    scheduler,
    async stop(opts = {}) {
      scheduler?.stop();
      await runner?.stop(opts);
    },
  };
}
