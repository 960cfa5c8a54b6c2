// PodRunner: a small kubelet for processes on one node. It watches the Pods bound to the node
// (field selector spec.nodeName=<node>), gives each a network (network.ts), runs each container's
// command as a process (process.ts) with kubelet's environment (env.ts), probes it (probe.ts),
// restarts it under the restartPolicy with back-off (backoff.ts), keeps the pod's status true
// (status.ts, PATCH /status), and on deletion stops it gracefully (SIGTERM, the grace period,
// SIGKILL) before deleting the Pod with gracePeriodSeconds=0.
//
// State lives under <stateDir>/pods/<uid>/: pod.json (address, namespace, each container's pid,
// start time, restart count, states), and per container its log files (<name>/<restart>.log) and
// exit-status files. A runner started after another one adopts the pods it finds there: processes
// still alive are watched (by pid and start time), not restarted; pods no longer bound here are
// stopped and removed.
import { mkdir, readdir, readFile, rm, writeFile, rename, stat, open } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import type { Logger } from 'pino';
import { KubeClient, httpInformer } from '../client/http.js';
import type { Informer } from '../client/types.js';
import type { ListWatchInformer } from '../client/informer.js';
import type { Container, ContainerState, Pod } from '../registry/kinds/pod.js';
import type { Service } from '../registry/kinds/service.js';
import type { Node } from '../registry/kinds/node.js';
import { StatusError } from '../util/errors.js';
import { DEFAULT_BACKOFF, nextCrashCount, restartDelay, shouldRestart, type BackoffOptions } from './backoff.js';
import { EnvError, containerArgv, containerEnv, envSourceNames, type EnvSources } from './env.js';
import { ProbeTracker, runProbe, type ProbeKind } from './probe.js';
import { computePodStatus, rfc3339, type ContainerView } from './status.js';
import { isAlive, readExitStatus, signalGroup, spawnContainer, terminationOf } from './process.js';
import {
  allocateLoopbackIP, allocatePodIP, ensureBridge, gatewayOf, hostsFile, podNetnsName, podNetworkExists, podVethName, resolvConf, setupPodNetwork, teardownPodNetwork, writePodEtc,
} from './network.js';

export interface PodRunnerOptions {
  client: KubeClient;
  nodeName: string;
  /** The node's addresses; the first is the pods' hostIP. */
  nodeIPs: string[];
  /** Where pod records and logs live (survives restarts of the runner). */
  stateDir: string;
  /** 'netns' (needs root): a network namespace per pod; 'loopback': 127.0.0.x identities. Default: netns as root. */
  isolation?: 'netns' | 'loopback';
  /** The node's pod bridge (default portico0). */
  bridge?: string;
  /** Prefix of the pods' network namespace names (default portico-). */
  netnsPrefix?: string;
  /** Cluster DNS addresses written to the pods' resolv.conf. */
  clusterDNS: string[];
  clusterDomain: string;
  backoff?: BackoffOptions;
  /** How often an adopted process (not our child) is checked for life (default 1 s). */
  pollMs?: number;
  /** A Services informer to share (else the runner starts its own). */
  services?: Informer<Service>;
  logger: Logger;
}

export interface ReadLogsOptions {
  follow?: boolean;
  previous?: boolean;
  /** For tests and `kubectl logs -f`: how often a followed log is polled (default 250 ms). */
  pollMs?: number;
}

export class LogsNotFoundError extends Error {
  override name = 'LogsNotFoundError';
  readonly code = 404;
}

interface ContainerRecord {
  restartCount: number;
  crashes: number;
  pid?: number;
  startTicks?: string;
  startedAtMs?: number;
  state: ContainerState;
  lastState?: ContainerState;
  started: boolean;
}

interface PodRecord {
  uid: string;
  namespace: string;
  name: string;
  ip?: string;
  netns?: string;
  veth?: string;
  startTime?: string;
  failure?: { reason: string; message: string };
  containers: Record<string, ContainerRecord>;
}

const STATE_FILE = 'pod.json';
/** How soon a container whose ConfigMap or Secret is missing is tried again. */
const CONFIG_RETRY_MS = 2000;

/** Runtime of one container: its record plus what only lives in memory (probes, timers). */
/** `lifecycle.preStop.sleep.seconds` of a container, 0 when it has none. */
export function preStopSleepSeconds(c: Container): number {
  const s = (c.lifecycle as { preStop?: { sleep?: { seconds?: unknown } } } | undefined)?.preStop?.sleep?.seconds;
  return typeof s === 'number' && s > 0 ? s : 0;
}

class ContainerRuntime {
  run = 0;
  ready = false;
  /** The environment of the current run (exec probes run with it). */
  env: Record<string, string> = {};
  backoffTimer: NodeJS.Timeout | undefined;
  killTimer: NodeJS.Timeout | undefined;
  probeTimers: NodeJS.Timeout[] = [];
  /** Resolvers waiting for the current run to end. */
  waiters: Array<() => void> = [];
  constructor(
    readonly spec: Container,
    readonly rec: ContainerRecord,
  ) {}
  get running(): boolean {
    return Boolean(this.rec.state.running) && this.rec.pid !== undefined;
  }
  clearTimers(): void {
    if (this.backoffTimer) clearTimeout(this.backoffTimer);
    this.backoffTimer = undefined;
    for (const t of this.probeTimers) clearTimeout(t);
    this.probeTimers = [];
  }
}

class PodWorker {
  readonly containers = new Map<string, ContainerRuntime>();
  private chain: Promise<void> = Promise.resolve();
  private again = false;
  private busy = false;
  terminating = false;
  removedFromAPI = false;
  done = false;
  private lastStatus = '';

  constructor(
    private readonly runner: PodRunner,
    public pod: Pod,
    readonly rec: PodRecord,
    readonly dir: string,
  ) {
    for (const c of pod.spec?.containers ?? []) {
      const r = (rec.containers[c.name] ??= { restartCount: 0, crashes: 0, state: { waiting: { reason: 'ContainerCreating' } }, started: false });
      this.containers.set(c.name, new ContainerRuntime(c, r));
    }
  }

  get key(): string {
    return `${this.rec.namespace}/${this.rec.name}`;
  }

  /** Queues a sync; syncs of one pod never overlap, and requests during one fold into the next. */
  requestSync(): void {
    if (this.busy) {
      this.again = true;
      return;
    }
    this.busy = true;
    this.chain = this.chain.then(async () => {
      do {
        this.again = false;
        try {
          await this.sync();
        } catch (err) {
          this.runner.log.warn({ pod: this.key, err: (err as Error).message }, 'pod sync failed');
        }
      } while (this.again && !this.done);
      this.busy = false;
    });
  }

  async persist(): Promise<void> {
    if (this.done) return;
    const tmp = join(this.dir, `${STATE_FILE}.tmp`);
    await writeFile(tmp, JSON.stringify(this.rec));
    await rename(tmp, join(this.dir, STATE_FILE));
  }

  private async sync(): Promise<void> {
    // A stopped runner starts nothing and writes no status (the next one takes over from the API).
    if (this.done || this.runner.stopped) return;
    if (this.removedFromAPI || this.pod.metadata?.deletionTimestamp) {
      await this.terminate();
      return;
    }
    const phase = this.pod.status?.phase;
    const finished = this.rec.failure !== undefined || phase === 'Succeeded' || phase === 'Failed';
    if (!finished) {
      if (!this.rec.ip) await this.runner.setupNetwork(this);
      if (!this.rec.startTime) this.rec.startTime = rfc3339();
      for (const c of this.containers.values()) {
        if (c.running || c.backoffTimer || this.rec.failure) continue;
        const term = c.rec.state.terminated;
        if (term) continue; // ended for good under the restartPolicy
        const waitingRestart = c.rec.lastState?.terminated && c.rec.state.waiting;
        if (waitingRestart) c.rec.restartCount++;
        await this.startContainer(c);
      }
      await this.persist();
    }
    await this.writeStatus();
    // A pod that has ended for good gives its address back; the record (and logs) stay until the Pod goes.
    const newPhase = this.pod.status?.phase;
    if ((newPhase === 'Succeeded' || newPhase === 'Failed') && this.rec.netns && [...this.containers.values()].every((c) => !c.running)) {
      await teardownPodNetwork({ netns: this.rec.netns, veth: this.rec.veth ?? '' });
      this.rec.netns = undefined;
      this.rec.veth = undefined;
      await this.persist();
    }
  }

  private async startContainer(c: ContainerRuntime): Promise<void> {
    const pod = this.pod;
    const facts = { podIP: this.rec.ip ?? '', hostIP: this.runner.hostIP };
    const hostname = this.runner.hostnameOf(pod);
    const extra: Array<[string, string]> = [
      ['PATH', process.env.PATH ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
      ['HOSTNAME', hostname],
    ];
    if (this.runner.isolation === 'loopback') extra.push(['POD_IP', facts.podIP]);
    let env: Array<[string, string]>;
    try {
      env = containerEnv(pod, c.spec, this.runner.serviceList(), facts, extra, await this.runner.envSources(pod, c.spec));
    } catch (err) {
      if (!(err instanceof EnvError)) throw err;
      c.rec.state = { waiting: { reason: err.code, message: err.message } };
      // As kubelet, try again later: the ConfigMap or Secret may appear.
      c.backoffTimer = setTimeout(() => {
        c.backoffTimer = undefined;
        this.requestSync();
      }, CONFIG_RETRY_MS);
      return;
    }
    const argv = containerArgv(c.spec, env);
    if (!argv) {
      const message = `container "${c.spec.name}" has no command: Portico runs processes, not images (image "${c.spec.image ?? ''}" is recorded, not pulled); give the container a command`;
      c.rec.state = { terminated: { exitCode: 128, reason: 'NoCommand', message } };
      this.rec.failure = { reason: 'NoCommand', message };
      return;
    }
    const cdir = join(this.dir, c.spec.name);
    await mkdir(cdir, { recursive: true });
    const attempt = c.rec.restartCount;
    const exitFile = join(cdir, `${attempt}.exit`);
    await rm(exitFile, { force: true });
    try {
      const sp = await spawnContainer({
        argv,
        env: Object.fromEntries(env),
        cwd: c.spec.workingDir || undefined,
        logFile: join(cdir, `${attempt}.log`),
        exitFile,
        netns: this.rec.netns,
        hostname,
      });
      c.env = Object.fromEntries(env);
      c.rec.pid = sp.pid;
      c.rec.startTicks = sp.startTicks;
      c.rec.startedAtMs = Date.now();
      c.rec.state = { running: { startedAt: rfc3339(c.rec.startedAtMs) } };
      c.rec.started = !c.spec.startupProbe;
      c.ready = false;
      const run = ++c.run;
      void sp.exited.then(() => this.onExit(c, run));
      this.runner.log.info({ pod: this.key, container: c.spec.name, pid: sp.pid, restartCount: attempt }, 'container started');
      this.startProbes(c, run);
    } catch (err) {
      c.rec.state = { waiting: { reason: 'RunContainerError', message: (err as Error).message } };
    }
  }

  /** Watches an adopted process (not our child) for its end. */
  adopt(c: ContainerRuntime): void {
    const run = ++c.run;
    c.ready = !c.spec.readinessProbe && c.rec.started;
    const poll = async () => {
      if (c.run !== run || this.done) return;
      if (c.rec.pid !== undefined && (await isAlive(c.rec.pid, c.rec.startTicks ?? ''))) {
        setTimeout(() => void poll(), this.runner.pollMs).unref();
        return;
      }
      void this.onExit(c, run);
    };
    void poll();
    this.startProbes(c, run);
  }

  private async onExit(c: ContainerRuntime, run: number): Promise<void> {
    if (c.run !== run || this.done) return;
    c.run++;
    c.clearTimers();
    if (c.killTimer) clearTimeout(c.killTimer);
    c.killTimer = undefined;
    const status = await readExitStatus(join(this.dir, c.spec.name, `${c.rec.restartCount}.exit`));
    const t = terminationOf(status);
    const finishedAtMs = Date.now();
    const terminated = { ...t, startedAt: rfc3339(c.rec.startedAtMs ?? finishedAtMs), finishedAt: rfc3339(finishedAtMs), containerID: `portico://${c.rec.pid ?? 0}` };
    const ranMs = finishedAtMs - (c.rec.startedAtMs ?? finishedAtMs);
    c.rec.pid = undefined;
    c.rec.startTicks = undefined;
    c.ready = false;
    this.runner.log.info({ pod: this.key, container: c.spec.name, exitCode: t.exitCode }, 'container exited');
    if (this.terminating || this.removedFromAPI || this.pod.metadata?.deletionTimestamp || !shouldRestart(this.pod.spec?.restartPolicy, t.exitCode)) {
      c.rec.state = { terminated };
    } else {
      c.rec.lastState = { terminated };
      c.rec.crashes = nextCrashCount(c.rec.crashes, ranMs, this.runner.backoff);
      const delay = restartDelay(c.rec.crashes, this.runner.backoff);
      const pod = this.pod.metadata;
      c.rec.state = { waiting: delay > 0 ? { reason: 'CrashLoopBackOff', message: `back-off ${Math.round(delay / 1000)}s restarting failed container=${c.spec.name} pod=${pod?.name}_${pod?.namespace}(${pod?.uid})` } : { reason: 'ContainerCreating' } };
      if (delay > 0) {
        c.backoffTimer = setTimeout(() => {
          c.backoffTimer = undefined;
          this.requestSync();
        }, delay);
      }
    }
    for (const w of c.waiters.splice(0)) w();
    await this.persist().catch(() => undefined);
    this.requestSync();
  }

  private startProbes(c: ContainerRuntime, run: number): void {
    const kinds: Array<[ProbeKind, NonNullable<Container['livenessProbe']>]> = [];
    if (c.spec.startupProbe) kinds.push(['startup', c.spec.startupProbe]);
    if (c.spec.livenessProbe) kinds.push(['liveness', c.spec.livenessProbe]);
    if (c.spec.readinessProbe) kinds.push(['readiness', c.spec.readinessProbe]);
    if (!c.spec.readinessProbe) c.ready = c.rec.started;
    for (const [kind, probe] of kinds) {
      const tracker = new ProbeTracker(kind, probe);
      const tick = async () => {
        if (c.run !== run || this.done) return;
        const active = kind === 'startup' ? !c.rec.started : c.rec.started;
        if (active && !this.terminating) {
          const outcome = await runProbe(probe, {
            podIP: this.rec.ip ?? '127.0.0.1',
            container: c.spec,
            execPrefix: this.rec.netns ? ['ip', 'netns', 'exec', this.rec.netns] : [],
            env: c.env.PATH ? c.env : { PATH: process.env.PATH },
            cwd: c.spec.workingDir || undefined,
          });
          if (c.run !== run || this.done) return;
          const changed = tracker.record(outcome);
          if (kind === 'readiness' && changed) {
            c.ready = tracker.result;
            this.requestSync();
          } else if (kind === 'startup' && changed && tracker.result) {
            c.rec.started = true;
            if (!c.spec.readinessProbe) c.ready = true;
            this.requestSync();
          } else if (kind !== 'readiness' && tracker.failed) {
            this.runner.log.info({ pod: this.key, container: c.spec.name, probe: kind, message: outcome.message }, 'probe failed; killing the container');
            this.kill(c, probe.terminationGracePeriodSeconds ?? this.pod.spec?.terminationGracePeriodSeconds ?? 30);
            return;
          }
        }
        c.probeTimers = c.probeTimers.filter((x) => x !== timer);
        timer = setTimeout(() => void tick(), Math.max(1, probe.periodSeconds ?? 10) * 1000);
        c.probeTimers.push(timer);
      };
      let timer = setTimeout(() => void tick(), Math.max(0, probe.initialDelaySeconds ?? 0) * 1000);
      c.probeTimers.push(timer);
    }
  }

  /** SIGTERM to the container's process group, SIGKILL after the grace period. */
  kill(c: ContainerRuntime, graceSeconds: number): Promise<void> {
    if (!c.running || c.rec.pid === undefined) return Promise.resolve();
    const pid = c.rec.pid;
    const ended = new Promise<void>((r) => c.waiters.push(r));
    for (const t of c.probeTimers) clearTimeout(t);
    c.probeTimers = [];
    signalGroup(pid, 'SIGTERM');
    if (!c.killTimer) {
      c.killTimer = setTimeout(() => {
        c.killTimer = undefined;
        if (c.rec.pid === pid) signalGroup(pid, 'SIGKILL');
      }, Math.max(0, graceSeconds) * 1000);
    }
    return ended;
  }

  /** Graceful stop of every container, then the network and records; DELETE with grace 0 if the Pod still exists. */
  private async terminate(): Promise<void> {
    if (this.terminating) return;
    this.terminating = true;
    const md = this.pod.metadata;
    const grace = md?.deletionGracePeriodSeconds ?? this.pod.spec?.terminationGracePeriodSeconds ?? 30;
    this.runner.log.info({ pod: this.key, grace }, 'stopping pod');
    for (const c of this.containers.values()) {
      if (c.backoffTimer) {
        clearTimeout(c.backoffTimer);
        c.backoffTimer = undefined;
        if (c.rec.lastState?.terminated) c.rec.state = { terminated: c.rec.lastState.terminated };
      }
    }
    const started = Date.now();
    await Promise.all(
      [...this.containers.values()].map(async (c) => {
        // A preStop `sleep` (the one lifecycle hook run) keeps the container serving while Services
        // forget the terminating pod; it counts against the grace period, as in kube.
        const wait = Math.min(preStopSleepSeconds(c.spec), grace);
        if (wait > 0 && c.running) await new Promise((r) => setTimeout(r, wait * 1000));
        return this.kill(c, grace - (Date.now() - started) / 1000);
      }),
    );
    await this.writeStatus().catch(() => undefined);
    await this.runner.forget(this);
    if (!this.removedFromAPI) {
      try {
        await this.runner.client.request('DELETE', `/api/v1/namespaces/${encodeURIComponent(md?.namespace ?? '')}/pods/${encodeURIComponent(md?.name ?? '')}`, {
          apiVersion: 'v1',
          kind: 'DeleteOptions',
          gracePeriodSeconds: 0,
          preconditions: { uid: md?.uid },
        });
      } catch (err) {
        if (!(err instanceof StatusError && (err.code === 404 || err.code === 409))) throw err;
      }
    }
  }

  /**
   * Stops every container without touching the API, for `stop({ killPods: true })`: SIGKILL at once,
   * or (graceful) SIGTERM and SIGKILL after the pod's terminationGracePeriodSeconds.
   */
  async killNow(graceful = false): Promise<void> {
    this.terminating = true;
    const grace = graceful ? (this.pod.spec?.terminationGracePeriodSeconds ?? 30) : 0;
    await Promise.all([...this.containers.values()].map((c) => this.kill(c, grace)));
  }

  view(): ContainerView[] {
    return (this.pod.spec?.containers ?? []).map((spec) => {
      const c = this.containers.get(spec.name)!;
      const v: ContainerView = {
        name: spec.name,
        image: spec.image ?? '',
        state: c.rec.state,
        restartCount: c.rec.restartCount,
        ready: c.ready,
        started: c.rec.started,
      };
      if (c.rec.lastState) v.lastState = c.rec.lastState;
      if (c.rec.pid !== undefined) v.containerID = `portico://${c.rec.pid}`;
      return v;
    });
  }

  async writeStatus(): Promise<void> {
    if (this.removedFromAPI) return;
    const status = computePodStatus(this.pod, { podIP: this.rec.ip, hostIP: this.runner.hostIP, startTime: this.rec.startTime, containers: this.view(), failure: this.rec.failure }, rfc3339());
    const text = JSON.stringify(status);
    if (text === this.lastStatus) return;
    const md = this.pod.metadata;
    try {
      const updated = await this.runner.client.request<Pod>('PATCH', `/api/v1/namespaces/${encodeURIComponent(md?.namespace ?? '')}/pods/${encodeURIComponent(md?.name ?? '')}/status`, { status }, 'application/merge-patch+json');
      this.lastStatus = text;
      if (updated?.metadata?.uid === this.rec.uid) this.pod = updated;
    } catch (err) {
      if (err instanceof StatusError && err.code === 404) return;
      throw err;
    }
  }
}

export class PodRunner {
  readonly log: Logger;
  readonly isolation: 'netns' | 'loopback';
  readonly backoff: BackoffOptions;
  readonly pollMs: number;
  readonly client: KubeClient;
  private readonly workers = new Map<string, PodWorker>();
  private podInformer: ListWatchInformer<Pod> | undefined;
  private ownServices: ListWatchInformer<Service> | undefined;
  private services: Informer<Service> | undefined;
  private unsubscribe: (() => void) | undefined;
  private podCIDR: string | undefined;
  private netLock: Promise<void> = Promise.resolve();
  /** Set by stop(): workers stop syncing. */
  stopped = false;

  constructor(private readonly opts: PodRunnerOptions) {
    this.log = opts.logger;
    this.client = opts.client;
    this.isolation = opts.isolation ?? (process.getuid?.() === 0 ? 'netns' : 'loopback');
    this.backoff = opts.backoff ?? DEFAULT_BACKOFF;
    this.pollMs = opts.pollMs ?? 1000;
  }

  get hostIP(): string {
    return this.opts.nodeIPs[0] ?? '';
  }

  private get podsDir(): string {
    return join(this.opts.stateDir, 'pods');
  }

  hostnameOf(pod: Pod): string {
    return (pod.spec?.hostname || pod.metadata?.name || 'pod').slice(0, 63).replace(/[-.]+$/, '');
  }

  /** Reads the ConfigMaps and Secrets a container's env and envFrom name, as kubelet does at container start. */
  async envSources(pod: Pod, container: Container): Promise<EnvSources> {
    const ns = encodeURIComponent(pod.metadata?.namespace ?? 'default');
    const names = envSourceNames(container);
    const read = async (resource: 'configmaps' | 'secrets', name: string): Promise<Record<string, string> | undefined> => {
      let obj: { data?: Record<string, string> };
      try {
        obj = await this.client.request<{ data?: Record<string, string> }>('GET', `/api/v1/namespaces/${ns}/${resource}/${encodeURIComponent(name)}`);
      } catch (err) {
        if (err instanceof StatusError && err.code === 404) return undefined;
        throw new EnvError(`reading ${resource === 'configmaps' ? 'configmap' : 'secret'} "${name}": ${(err as Error).message}`);
      }
      const data = obj.data ?? {};
      // Secret values travel base64-encoded; the process sees the bytes.
      return resource === 'secrets' ? Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')])) : data;
    };
    const out: EnvSources = { configMaps: new Map(), secrets: new Map() };
    for (const n of names.configMaps) out.configMaps.set(n, await read('configmaps', n));
    for (const n of names.secrets) out.secrets.set(n, await read('secrets', n));
    return out;
  }

  serviceList(): Service[] {
    return this.services?.list() ?? [];
  }

  /** Starts watching; resolves once the pods found in the state dir are adopted or removed. */
  async start(): Promise<void> {
    await mkdir(this.podsDir, { recursive: true });
    const onErr = (err: Error) => this.log.warn({ err: err.message }, 'pod runner watch error');
    this.services = this.opts.services ?? (this.ownServices = httpInformer<Service>(this.client, '/api/v1/services', onErr));
    this.podInformer = httpInformer<Pod>(this.client, '/api/v1/pods', onErr, `fieldSelector=${encodeURIComponent(`spec.nodeName=${this.opts.nodeName}`)}`);
    await Promise.all([this.podInformer.waitForSync(), this.services.waitForSync()]);
    await this.adoptAll();
    this.unsubscribe = this.podInformer.addHandler({
      onAdd: (p) => this.onPod(p),
      onUpdate: (_o, p) => this.onPod(p),
      onDelete: (p) => {
        const w = this.workers.get(p.metadata?.uid ?? '');
        if (!w) return;
        w.removedFromAPI = true;
        w.requestSync();
      },
    });
  }

  /**
   * Stops watching. Pods keep running (a later runner adopts them) unless killPods is set: then
   * their containers end (SIGKILL, or with `graceful` SIGTERM and SIGKILL after each pod's grace
   * period) and their namespaces, records and logs go; the Pods stay in the API, and the next
   * runner starts them again, as after a node reboot.
   */
  async stop(opts: { killPods?: boolean; graceful?: boolean } = {}): Promise<void> {
    this.stopped = true;
    this.unsubscribe?.();
    this.podInformer?.stop();
    this.ownServices?.stop();
    for (const w of this.workers.values()) for (const c of w.containers.values()) c.clearTimers();
    if (opts.killPods) {
      await Promise.all([...this.workers.values()].map(async (w) => {
        await w.killNow(opts.graceful);
        await this.forget(w);
      }));
    }
    for (const w of this.workers.values()) w.done = true;
    this.workers.clear();
  }

  private onPod(pod: Pod): void {
    if (this.stopped) return;
    const uid = pod.metadata?.uid ?? '';
    let w = this.workers.get(uid);
    if (!w) {
      if (pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed') {
        // Already finished before we saw it (e.g. its record was lost): nothing to run.
        if (!pod.metadata?.deletionTimestamp) return;
      }
      const rec: PodRecord = { uid, namespace: pod.metadata?.namespace ?? '', name: pod.metadata?.name ?? '', containers: {} };
      w = new PodWorker(this, pod, rec, join(this.podsDir, uid));
      this.workers.set(uid, w);
      const worker = w;
      void mkdir(w.dir, { recursive: true }).then(() => worker.requestSync());
      return;
    }
    w.pod = pod;
    w.requestSync();
  }

  private async adoptAll(): Promise<void> {
    const bound = new Map((this.podInformer?.list() ?? []).map((p) => [p.metadata?.uid ?? '', p]));
    let entries: string[] = [];
    try {
      entries = await readdir(this.podsDir);
    } catch {
      return;
    }
    for (const uid of entries) {
      const dir = join(this.podsDir, uid);
      let rec: PodRecord;
      try {
        rec = JSON.parse(await readFile(join(dir, STATE_FILE), 'utf8')) as PodRecord;
      } catch {
        await rm(dir, { recursive: true, force: true });
        continue;
      }
      const pod = bound.get(uid);
      const w = new PodWorker(this, pod ?? ({ metadata: { uid, name: rec.name, namespace: rec.namespace }, spec: { terminationGracePeriodSeconds: 0, containers: Object.keys(rec.containers).map((name) => ({ name })) } } as Pod), rec, dir);
      this.workers.set(uid, w);
      if (!pod) w.removedFromAPI = true;
      if (rec.netns && rec.ip && !(await podNetworkExists({ netns: rec.netns, veth: rec.veth ?? '', ip: rec.ip }))) {
        this.log.warn({ pod: w.key }, 'adopted pod lost its network namespace; setting it up again');
        rec.ip = undefined;
      }
      for (const c of w.containers.values()) {
        if (c.rec.pid !== undefined && c.rec.state.running) w.adopt(c);
      }
      this.log.info({ pod: w.key, running: [...w.containers.values()].filter((c) => c.running).length }, pod ? 'adopted pod' : 'pod no longer bound here; stopping it');
      w.requestSync();
    }
  }

  /** Gives a pod its address and (as root) its namespace; serialised so two pods never take one address. */
  async setupNetwork(w: PodWorker): Promise<void> {
    const next = this.netLock.then(async () => {
      const used = new Set<string>();
      for (const o of this.workers.values()) if (o.rec.ip && !o.pod.spec?.hostNetwork) used.add(o.rec.ip);
      if (w.pod.spec?.hostNetwork) {
        // The node's network: the pod's address is the node's, no namespace of its own.
        w.rec.ip = this.hostIP || '127.0.0.1';
        return;
      }
      if (this.isolation === 'loopback') {
        const ip = allocateLoopbackIP(used);
        if (!ip) throw new Error('no free loopback address');
        w.rec.ip = ip;
        return;
      }
      const cidr = await this.nodePodCIDR();
      await ensureBridge(this.opts.bridge ?? 'portico0', cidr);
      const ip = allocatePodIP(cidr, used);
      if (!ip) throw new Error(`podCIDR ${cidr} is full`);
      const net = { netns: podNetnsName(this.opts.netnsPrefix ?? 'portico-', w.rec.uid), veth: podVethName(w.rec.uid), ip };
      await setupPodNetwork(this.opts.bridge ?? 'portico0', cidr, net);
      const hostname = this.hostnameOf(w.pod);
      const ns = w.pod.metadata?.namespace ?? 'default';
      const fqdn = w.pod.spec?.subdomain ? `${hostname}.${w.pod.spec.subdomain}.${ns}.svc.${this.opts.clusterDomain}` : undefined;
      let hostResolv = '';
      try {
        hostResolv = await readFile('/etc/resolv.conf', 'utf8');
      } catch {
        // none
      }
      await writePodEtc(net.netns, {
        resolv: resolvConf(w.pod, { nameservers: this.opts.clusterDNS, domain: this.opts.clusterDomain }, hostResolv),
        hosts: hostsFile(ip, hostname, fqdn, w.pod.spec?.hostAliases ?? []),
      });
      Object.assign(w.rec, net);
    });
    this.netLock = next.catch(() => undefined);
    await next;
    await w.persist();
  }

  /**
   * As root: makes the node's pod bridge (waiting for the node's podCIDR) and returns its address,
   * the node address every pod reaches; undefined without network namespaces.
   */
  async ensureNodeBridge(): Promise<string | undefined> {
    if (this.isolation !== 'netns') return undefined;
    const cidr = await this.nodePodCIDR();
    await ensureBridge(this.opts.bridge ?? 'portico0', cidr);
    return gatewayOf(cidr).ip;
  }

  private async nodePodCIDR(): Promise<string> {
    if (this.podCIDR) return this.podCIDR;
    for (;;) {
      const node = await this.client.request<Node>('GET', `/api/v1/nodes/${encodeURIComponent(this.opts.nodeName)}`).catch(() => undefined);
      const cidr = node?.spec?.podCIDRs?.find((c) => !c.includes(':')) ?? node?.spec?.podCIDR;
      if (cidr) return (this.podCIDR = cidr);
      if (this.stopped) throw new Error('stopped');
      this.log.info({ node: this.opts.nodeName }, 'waiting for the node to get a podCIDR');
      await new Promise((r) => setTimeout(r, 1000));
    }
  }

  /** Removes what a pod made here: network, records, logs. */
  async forget(w: PodWorker): Promise<void> {
    w.done = true;
    for (const c of w.containers.values()) c.clearTimers();
    if (w.rec.netns) await teardownPodNetwork({ netns: w.rec.netns, veth: w.rec.veth ?? '' });
    await rm(w.dir, { recursive: true, force: true });
    this.workers.delete(w.rec.uid);
  }

  /** Pods this runner looks after, with their addresses (for tests and `describe`-like output). */
  pods(): Array<{ namespace: string; name: string; uid: string; ip?: string; netns?: string }> {
    return [...this.workers.values()].map((w) => ({ namespace: w.rec.namespace, name: w.rec.name, uid: w.rec.uid, ip: w.rec.ip, netns: w.rec.netns }));
  }

  /**
   * A container's log, as `kubectl logs` serves it: the current run, or the one before with
   * `previous`; with `follow` the stream stays open and carries what is written until that run ends.
   */
  async readLogs(namespace: string, name: string, container: string | undefined, opts: ReadLogsOptions = {}): Promise<Readable> {
    const w = [...this.workers.values()].find((x) => x.rec.namespace === namespace && x.rec.name === name);
    if (!w) throw new LogsNotFoundError(`pods "${name}" not found on node ${this.opts.nodeName}`);
    const names = [...w.containers.keys()];
    const cname = container ?? (names.length === 1 ? names[0] : undefined);
    if (!cname) throw new LogsNotFoundError(`a container name must be specified for pod ${name}, choose one of: [${names.join(' ')}]`);
    const c = w.containers.get(cname);
    if (!c) throw new LogsNotFoundError(`container ${cname} is not valid for pod ${name}`);
    // The file of the current (or last) run is <restartCount>.log, unless a restart is still pending.
    const pendingRestart = Boolean(c.rec.state.waiting && c.rec.lastState?.terminated);
    const attempt = opts.previous && !pendingRestart ? c.rec.restartCount - 1 : c.rec.restartCount;
    if (attempt < 0) throw new LogsNotFoundError(`previous terminated container "${cname}" in pod "${name}" not found`);
    const file = join(w.dir, cname, `${attempt}.log`);
    try {
      await stat(file);
    } catch {
      throw new LogsNotFoundError(opts.previous ? `previous terminated container "${cname}" in pod "${name}" not found` : `container "${cname}" in pod "${name}" has no log yet`);
    }
    const follow = Boolean(opts.follow) && !opts.previous;
    const run = c.run;
    const live = () => !w.done && c.run === run && c.running;
    const pollMs = opts.pollMs ?? 250;
    // A reader that goes away (kubectl stopped) must end the poll loop too: destroying the stream
    // only reaches the generator at its next yield, which a quiet log never makes.
    const stream: Readable = Readable.from(tail(file, () => follow && !stream.destroyed && live(), pollMs));
    return stream;
  }
}

/** Reads a file from the start, then (while `more()` holds) whatever is appended to it. */
async function* tail(file: string, more: () => boolean, pollMs: number): AsyncGenerator<Buffer> {
  const fh = await open(file, 'r');
  try {
    let pos = 0;
    const buf = Buffer.alloc(64 * 1024);
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
      if (bytesRead > 0) {
        pos += bytesRead;
        yield Buffer.from(buf.subarray(0, bytesRead));
        continue;
      }
      if (!more()) {
        // One last read: what was written just before the end.
        const last = await fh.read(buf, 0, buf.length, pos);
        if (last.bytesRead > 0) yield Buffer.from(buf.subarray(0, last.bytesRead));
        return;
      }
      await new Promise((r) => setTimeout(r, pollMs));
    }
  } finally {
    await fh.close();
  }
}

/**
 * Stops every pod recorded under a state dir without an API server: SIGKILL to each live container
 * process group (checked by pid and start time), the pods' namespaces and /etc/netns files removed,
 * the records deleted. For `portico agent --cleanup` and for tests' teardown. Returns how many pods.
 */
export async function cleanupPods(stateDir: string): Promise<number> {
  const podsDir = join(stateDir, 'pods');
  let entries: string[] = [];
  try {
    entries = await readdir(podsDir);
  } catch {
    return 0;
  }
  for (const uid of entries) {
    const dir = join(podsDir, uid);
    try {
      const rec = JSON.parse(await readFile(join(dir, STATE_FILE), 'utf8')) as PodRecord;
      for (const c of Object.values(rec.containers)) {
        if (c.pid !== undefined && (await isAlive(c.pid, c.startTicks ?? ''))) signalGroup(c.pid, 'SIGKILL');
      }
      if (rec.netns) await teardownPodNetwork({ netns: rec.netns, veth: rec.veth ?? '' });
    } catch {
      // no readable record: only the directory to remove
    }
    await rm(dir, { recursive: true, force: true });
  }
  return entries.length;
}
