// A container's environment as kubelet builds it (pkg/kubelet/kubelet_pods.go makeEnvironmentVariables
// and pkg/kubelet/envvars): first the Service variables (`<SVC>_SERVICE_HOST`, `<SVC>_SERVICE_PORT`,
// `<SVC>_SERVICE_PORT_<NAME>` and the docker-link style `<SVC>_PORT...`) of the Services that exist
// when the container starts, then the container's own `env`, where `$(VAR)` refers to a variable
// defined before it and `valueFrom.fieldRef` reads a field of the pod. Pure: no I/O.
import type { Pod, Container } from '../registry/kinds/pod.js';
import type { Service } from '../registry/kinds/service.js';

export class EnvError extends Error {
  override name = 'EnvError';
  readonly code = 'CreateContainerConfigError';
}

/** The pod facts `fieldRef` may read that are not in the Pod object yet. */
export interface PodFacts {
  podIP: string;
  hostIP: string;
}

const isServiceIPSet = (s: Service) => Boolean(s.spec?.clusterIP) && s.spec?.clusterIP !== 'None';
const envName = (s: string) => s.toUpperCase().replace(/-/g, '_');
const joinHostPort = (ip: string, port: number) => (ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`);

/**
 * The Service variables for a pod: with enableServiceLinks (the default) every Service of the pod's
 * namespace with a cluster IP, and always the `kubernetes` Service of `default` (the master service)
 * unless the namespace has its own Service named `kubernetes`. Later definitions of a name win, as
 * kubelet's map does; the result is sorted by name.
 */
export function serviceEnv(pod: Pod, services: Iterable<Service>): Array<[string, string]> {
  const ns = pod.metadata?.namespace ?? 'default';
  const links = pod.spec?.enableServiceLinks ?? true;
  const chosen = new Map<string, Service>();
  for (const s of services) {
    if (!isServiceIPSet(s)) continue;
    const sNs = s.metadata?.namespace ?? '';
    const name = s.metadata?.name ?? '';
    if (sNs === 'default' && name === 'kubernetes') {
      if (!chosen.has(name)) chosen.set(name, s);
    } else if (sNs === ns && links) {
      chosen.set(name, s);
    }
  }
  const out = new Map<string, string>();
  for (const [name, s] of chosen) {
    const ip = s.spec!.clusterIP!;
    const ports = s.spec?.ports ?? [];
    const base = envName(name);
    const first = ports[0];
    out.set(`${base}_SERVICE_HOST`, ip);
    if (first) out.set(`${base}_SERVICE_PORT`, String(first.port));
    for (const p of ports) if (p.name) out.set(`${base}_SERVICE_PORT_${envName(p.name)}`, String(p.port));
    // Docker links.
    if (first) out.set(`${base}_PORT`, `${(first.protocol ?? 'TCP').toLowerCase()}://${joinHostPort(ip, first.port)}`);
    for (const p of ports) {
      const proto = (p.protocol ?? 'TCP').toLowerCase();
      const prefix = `${base}_PORT_${p.port}_${proto.toUpperCase()}`;
      out.set(prefix, `${proto}://${joinHostPort(ip, p.port)}`);
      out.set(`${prefix}_PROTO`, proto);
      out.set(`${prefix}_PORT`, String(p.port));
      out.set(`${prefix}_ADDR`, ip);
    }
  }
  return [...out].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
}

/**
 * Kubernetes' `$(VAR)` expansion (third_party/forked/golang/expansion): `$(NAME)` is replaced when NAME
 * is defined, left as written when it is not; `$$` is an escaped `$`.
 */
export function expand(input: string, lookup: (name: string) => string | undefined): string {
  let out = '';
  for (let i = 0; i < input.length; i++) {
    const c = input[i];
    if (c !== '$' || i + 1 >= input.length) {
      out += c;
      continue;
    }
    const next = input[i + 1];
    if (next === '$') {
      out += '$';
      i++;
    } else if (next === '(') {
      const close = input.indexOf(')', i + 2);
      if (close < 0) {
        out += input.slice(i);
        break;
      }
      const name = input.slice(i + 2, close);
      const v = name ? lookup(name) : undefined;
      out += v ?? input.slice(i, close + 1);
      i = close;
    } else {
      out += c;
    }
  }
  return out;
}

/** `metadata.labels['app']` → ['labels', 'app']. */
function mapField(path: string): [string, string] | undefined {
  const m = /^metadata\.(labels|annotations)\['(.*)'\]$/.exec(path);
  return m ? [m[1]!, m[2]!] : undefined;
}

/** The value of a `fieldRef.fieldPath`, as the downward API gives it. */
export function fieldRefValue(pod: Pod, facts: PodFacts, path: string): string {
  const md = pod.metadata ?? {};
  switch (path) {
    case 'metadata.name':
      return md.name ?? '';
    case 'metadata.namespace':
      return md.namespace ?? '';
    case 'metadata.uid':
      return md.uid ?? '';
    case 'spec.nodeName':
      return pod.spec?.nodeName ?? '';
    case 'spec.serviceAccountName':
      return pod.spec?.serviceAccountName ?? '';
    case 'status.podIP':
      return facts.podIP;
    case 'status.podIPs':
      return facts.podIP;
    case 'status.hostIP':
    case 'status.hostIPs':
      return facts.hostIP;
  }
  const mf = mapField(path);
  if (mf) {
    const m = (mf[0] === 'labels' ? md.labels : md.annotations) ?? {};
    return m[mf[1]] ?? '';
  }
  throw new EnvError(`unsupported fieldRef.fieldPath "${path}"`);
}

/**
 * The environment of one container, in order, as `[name, value]` pairs (a later pair of the same
 * name wins when turned into a map). Throws EnvError for sources Portico cannot read
 * (ConfigMap/Secret keys, envFrom), which kubelet reports as CreateContainerConfigError.
 */
export function containerEnv(pod: Pod, container: Container, services: Iterable<Service>, facts: PodFacts, extra: Array<[string, string]> = []): Array<[string, string]> {
  const env = new Map<string, string>(serviceEnv(pod, services));
  for (const [k, v] of extra) env.set(k, v);
  if (container.envFrom?.length) throw new EnvError(`container "${container.name}": envFrom (ConfigMap/Secret) is not supported by Portico's process runtime`);
  for (const e of container.env ?? []) {
    let value: string;
    const from = e.valueFrom as { fieldRef?: { fieldPath?: string }; resourceFieldRef?: unknown; configMapKeyRef?: unknown; secretKeyRef?: unknown } | undefined;
    if (from?.fieldRef) value = fieldRefValue(pod, facts, from.fieldRef.fieldPath ?? '');
    else if (from) throw new EnvError(`container "${container.name}": env ${e.name}: only valueFrom.fieldRef is supported by Portico's process runtime`);
    else value = expand(e.value ?? '', (n) => env.get(n));
    env.delete(e.name);
    env.set(e.name, value);
  }
  return [...env];
}

/** The command line of a container with `$(VAR)` expanded from its environment; undefined without a command. */
export function containerArgv(container: Container, env: Array<[string, string]>): string[] | undefined {
  if (!container.command?.length) return undefined;
  const m = new Map(env);
  const look = (n: string) => m.get(n);
  return [...container.command, ...(container.args ?? [])].map((a) => expand(a, look));
}
