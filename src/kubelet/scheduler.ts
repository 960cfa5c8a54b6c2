// A tiny scheduler: binds each unbound Pod (no spec.nodeName, schedulerName default-scheduler) to a
// Ready, schedulable Node that fits it (nodeSelector, NoSchedule/NoExecute taints it does not
// tolerate, room under status.allocatable.pods), the one with the fewest pods first.
//
// Kubernetes binds through the `pods/binding` subresource and forbids changing spec.nodeName with a
// PATCH; Portico does not serve `pods/binding`, and its Pod strategy lets spec.nodeName be set by an
// update, so this scheduler PATCHes spec.nodeName (a merge patch carrying the resourceVersion it
// decided on, so a concurrent change makes it try again rather than bind twice). Against a real API
// server the PATCH is refused: run kube-scheduler there.
import type { Logger } from 'pino';
import { KubeClient, httpInformer } from '../client/http.js';
import type { Informer } from '../client/types.js';
import type { ListWatchInformer } from '../client/informer.js';
import type { Pod } from '../registry/kinds/pod.js';
import type { Node } from '../registry/kinds/node.js';
import { StatusError } from '../util/errors.js';

export interface SchedulerOptions {
  client: KubeClient;
  logger: Logger;
  /** Informers to share; the scheduler starts its own when not given. */
  pods?: Informer<Pod>;
  nodes?: Informer<Node>;
  /** The schedulerName this scheduler serves (default default-scheduler). */
  schedulerName?: string;
  /** Retry period for pods that fit nowhere (default 5 s). */
  retryMs?: number;
}

const isReady = (n: Node) => (n.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');

function tolerates(pod: Pod, taint: { key: string; value?: string; effect: string }): boolean {
  return (pod.spec?.tolerations ?? []).some((t) => {
    if (t.effect && t.effect !== taint.effect) return false;
    if (t.operator === 'Exists') return !t.key || t.key === taint.key;
    return t.key === taint.key && (t.value ?? '') === (taint.value ?? '');
  });
}

/** Why a node does not fit a pod, or undefined when it does. Pure. */
export function unfit(pod: Pod, node: Node, podsOnNode: number): string | undefined {
  if (!isReady(node)) return 'node is not Ready';
  if (node.spec?.unschedulable) return 'node is unschedulable';
  for (const [k, v] of Object.entries(pod.spec?.nodeSelector ?? {})) if (node.metadata?.labels?.[k] !== v) return "node does not match the pod's nodeSelector";
  for (const t of node.spec?.taints ?? []) {
    if ((t.effect === 'NoSchedule' || t.effect === 'NoExecute') && !tolerates(pod, t)) return `node has taint {${t.key}: ${t.value ?? ''}} that the pod does not tolerate`;
  }
  const cap = Number(node.status?.allocatable?.pods ?? node.status?.capacity?.pods ?? 110);
  if (Number.isFinite(cap) && podsOnNode >= cap) return 'too many pods';
  return undefined;
}

/** The node for a pod: the fitting node with the fewest pods (ties: by name). Pure. */
export function pickNode(pod: Pod, nodes: Node[], podsPerNode: ReadonlyMap<string, number>): { node?: string; reasons: string[] } {
  const fits: Array<[string, number]> = [];
  const reasons: string[] = [];
  for (const n of nodes) {
    const name = n.metadata?.name ?? '';
    const count = podsPerNode.get(name) ?? 0;
    const why = unfit(pod, n, count);
    if (why) reasons.push(why);
    else fits.push([name, count]);
  }
  fits.sort((a, b) => a[1] - b[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return { node: fits[0]?.[0], reasons };
}

export class Scheduler {
  private readonly pods: Informer<Pod>;
  private readonly nodes: Informer<Node>;
  private readonly own: Array<ListWatchInformer<Pod> | ListWatchInformer<Node>> = [];
  private readonly unsub: Array<() => void> = [];
  private readonly inFlight = new Set<string>();
  private retry: NodeJS.Timeout | undefined;
  private stopped = false;
  /** Pods bound so far (for tests and metrics). */
  bound = 0;

  constructor(private readonly opts: SchedulerOptions) {
    const onErr = (err: Error) => opts.logger.warn({ err: err.message }, 'scheduler watch error');
    if (opts.pods) this.pods = opts.pods;
    else this.own.push((this.pods = httpInformer<Pod>(opts.client, '/api/v1/pods', onErr)) as ListWatchInformer<Pod>);
    if (opts.nodes) this.nodes = opts.nodes;
    else this.own.push((this.nodes = httpInformer<Node>(opts.client, '/api/v1/nodes', onErr)) as ListWatchInformer<Node>);
  }

  async start(): Promise<void> {
    await Promise.all([this.pods.waitForSync(), this.nodes.waitForSync()]);
    this.unsub.push(this.pods.addHandler({ onAdd: (p) => this.consider(p), onUpdate: (_o, p) => this.consider(p) }));
    this.unsub.push(this.nodes.addHandler({ onAdd: () => this.scheduleAll(), onUpdate: () => this.scheduleAll() }));
    const loop = () => {
      if (this.stopped) return;
      this.scheduleAll();
      this.retry = setTimeout(loop, this.opts.retryMs ?? 5000);
      this.retry.unref();
    };
    loop();
  }

  stop(): void {
    this.stopped = true;
    if (this.retry) clearTimeout(this.retry);
    for (const u of this.unsub.splice(0)) u();
    for (const i of this.own) i.stop();
  }

  private scheduleAll(): void {
    for (const p of this.pods.list()) this.consider(p);
  }

  private wants(p: Pod): boolean {
    return !p.spec?.nodeName && !p.metadata?.deletionTimestamp && (p.spec?.schedulerName ?? 'default-scheduler') === (this.opts.schedulerName ?? 'default-scheduler') && !(p.spec?.schedulingGates?.length) && p.status?.phase !== 'Succeeded' && p.status?.phase !== 'Failed';
  }

  private consider(pod: Pod): void {
    if (this.stopped || !this.wants(pod)) return;
    const key = `${pod.metadata?.namespace}/${pod.metadata?.name}`;
    if (this.inFlight.has(key)) return;
    this.inFlight.add(key);
    void this.bind(pod)
      .catch((err: unknown) => this.opts.logger.warn({ pod: key, err: (err as Error).message }, 'binding failed'))
      .finally(() => this.inFlight.delete(key));
  }

  private async bind(pod: Pod): Promise<void> {
    const counts = new Map<string, number>();
    for (const p of this.pods.list()) {
      const n = p.spec?.nodeName;
      if (n && p.status?.phase !== 'Succeeded' && p.status?.phase !== 'Failed') counts.set(n, (counts.get(n) ?? 0) + 1);
    }
    const nodes = this.nodes.list();
    const { node, reasons } = pickNode(pod, nodes, counts);
    const path = `/api/v1/namespaces/${encodeURIComponent(pod.metadata?.namespace ?? '')}/pods/${encodeURIComponent(pod.metadata?.name ?? '')}`;
    if (!node) {
      const message = `0/${nodes.length} nodes are available${reasons.length ? `: ${[...new Set(reasons)].join(', ')}` : ''}.`;
      const cur = (pod.status?.conditions ?? []).find((c) => c.type === 'PodScheduled');
      if (cur?.message === message) return;
      await this.opts.client.request('PATCH', `${path}/status`, { status: { conditions: [{ type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message, lastTransitionTime: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z') }] } }, 'application/strategic-merge-patch+json');
      return;
    }
    try {
      await this.opts.client.request('PATCH', path, { metadata: { resourceVersion: pod.metadata?.resourceVersion }, spec: { nodeName: node } }, 'application/merge-patch+json');
      this.bound++;
      this.opts.logger.info({ pod: `${pod.metadata?.namespace}/${pod.metadata?.name}`, node }, 'bound pod');
    } catch (err) {
      // A conflict means the pod changed meanwhile: its update comes through the informer.
      if (err instanceof StatusError && (err.code === 409 || err.code === 404)) return;
      throw err;
    }
  }
}
