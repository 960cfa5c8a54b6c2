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

/**
 * The ConfigMaps and Secrets of the pod's namespace that its env and envFrom name, read before the
 * container starts: each as its keys' decoded values, undefined when it does not exist.
 */
export interface EnvSources {
  configMaps: Map<string, Record<string, string> | undefined>;
  secrets: Map<string, Record<string, string> | undefined>;
}

const NO_SOURCES: EnvSources = { configMaps: new Map(), secrets: new Map() };

// The schema keeps valueFrom, configMapRef and secretRef as free-form objects: typed views of them.
interface SourceRef {
  name?: string;
  optional?: boolean;
}
interface KeyRef extends SourceRef {
  key?: string;
}
interface ValueFrom {
  fieldRef?: { fieldPath?: string };
  resourceFieldRef?: unknown;
  configMapKeyRef?: KeyRef;
  secretKeyRef?: KeyRef;
}
type EnvVarSpec = NonNullable<Container['env']>[number];
type EnvFromSpec = NonNullable<Container['envFrom']>[number];
const valueFromOf = (e: EnvVarSpec) => e.valueFrom as ValueFrom | undefined;
const envFromRefs = (f: EnvFromSpec) => ({ configMap: f.configMapRef as SourceRef | undefined, secret: f.secretRef as SourceRef | undefined });

/** The ConfigMap and Secret names a container's env and envFrom refer to. */
export function envSourceNames(container: Container): { configMaps: Set<string>; secrets: Set<string> } {
  const out = { configMaps: new Set<string>(), secrets: new Set<string>() };
  for (const f of container.envFrom ?? []) {
    const { configMap, secret } = envFromRefs(f);
    if (configMap?.name) out.configMaps.add(String(configMap.name));
    if (secret?.name) out.secrets.add(String(secret.name));
  }
  for (const e of container.env ?? []) {
    const from = valueFromOf(e);
    if (from?.configMapKeyRef?.name) out.configMaps.add(String(from.configMapKeyRef.name));
    if (from?.secretKeyRef?.name) out.secrets.add(String(from.secretKeyRef.name));
  }
  return out;
}

// kubelet's check for envFrom keys (IsEnvVarName): others are skipped.
const ENV_VAR_NAME = /^[-._a-zA-Z][-._a-zA-Z0-9]*$/;

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
 * name wins when turned into a map): Service variables, `envFrom` (ConfigMaps and Secrets, with
 * their prefix), then `env` (values with `$(VAR)`, `fieldRef`, `configMapKeyRef`, `secretKeyRef`).
 * A missing ConfigMap, Secret or key that is not `optional` throws EnvError with kubelet's text,
 * which it reports as CreateContainerConfigError; so does `resourceFieldRef` (not supported here).
 */
export function containerEnv(pod: Pod, container: Container, services: Iterable<Service>, facts: PodFacts, extra: Array<[string, string]> = [], sources: EnvSources = NO_SOURCES): Array<[string, string]> {
  const env = new Map<string, string>(serviceEnv(pod, services));
  for (const [k, v] of extra) env.set(k, v);
  const ns = pod.metadata?.namespace ?? 'default';
  const set = (k: string, v: string) => {
    env.delete(k);
    env.set(k, v);
  };
  for (const f of container.envFrom ?? []) {
    const refs = envFromRefs(f);
    const ref = refs.configMap ?? refs.secret;
    if (!ref?.name) continue;
    const what = refs.configMap ? 'configmap' : 'secret';
    const data = (refs.configMap ? sources.configMaps : sources.secrets).get(String(ref.name));
    if (!data) {
      if (ref.optional) continue;
      throw new EnvError(`${what} "${ref.name}" not found`);
    }
    for (const [k, v] of Object.entries(data)) {
      const name = (f.prefix ?? '') + k;
      if (ENV_VAR_NAME.test(name)) set(name, v);
    }
  }
  for (const e of container.env ?? []) {
    let value: string;
    const from = valueFromOf(e);
    if (from?.fieldRef) value = fieldRefValue(pod, facts, from.fieldRef.fieldPath ?? '');
    else if (from?.configMapKeyRef || from?.secretKeyRef) {
      const ref = (from.configMapKeyRef ?? from.secretKeyRef)!;
      const [what, kind] = from.configMapKeyRef ? ['configmap', 'ConfigMap'] : ['secret', 'Secret'];
      const data = (from.configMapKeyRef ? sources.configMaps : sources.secrets).get(ref.name ?? '');
      if (!data) {
        if (ref.optional) continue;
        throw new EnvError(`${what} "${ref.name ?? ''}" not found`);
      }
      const v = data[ref.key ?? ''];
      if (v === undefined) {
        if (ref.optional) continue;
        throw new EnvError(`couldn't find key ${ref.key ?? ''} in ${kind} ${ns}/${ref.name ?? ''}`);
      }
      value = v;
    } else if (from) throw new EnvError(`container "${container.name}": env ${e.name}: valueFrom.resourceFieldRef is not supported by Portico's process runtime`);
    else value = expand(e.value ?? '', (n) => env.get(n));
    set(e.name, value);
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
