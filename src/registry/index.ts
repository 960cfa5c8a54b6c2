// The registry: every kind Portico serves, and lookups by resource, kind and short name.
import type { KindDef } from './types.js';
import type { KubeObject } from './kinds/meta.js';
import { endpointsKind } from './kinds/endpoints.js';
import { endpointSliceKind } from './kinds/endpointslice.js';
import { eventKind } from './kinds/event.js';
import { leaseKind } from './kinds/lease.js';
import { namespaceKind } from './kinds/namespace.js';
import { nodeKind } from './kinds/node.js';
import { podKind } from './kinds/pod.js';
import { serviceKind } from './kinds/service.js';
import { deploymentKind } from './kinds/deployment.js';
import { replicaSetKind } from './kinds/replicaset.js';
import { configMapKind, secretKind } from './kinds/configmap.js';

// A KindDef<Pod> is not a KindDef<KubeObject> to the type checker (its field selectors take a
// Pod); the generic layer only ever hands each definition objects of its own kind.
const erase = <T extends KubeObject>(def: KindDef<T>): KindDef => def as unknown as KindDef;

export const kinds: KindDef[] = [
  erase(namespaceKind),
  erase(serviceKind),
  erase(endpointsKind),
  erase(podKind),
  erase(nodeKind),
  erase(eventKind),
  erase(endpointSliceKind),
  erase(leaseKind),
  erase(deploymentKind),
  erase(replicaSetKind),
  erase(configMapKind),
  erase(secretKind),
];

const byGVR = new Map<string, KindDef>();
const byGroupKind = new Map<string, KindDef>();
const byShort = new Map<string, KindDef>();
for (const k of kinds) {
  byGVR.set(`${k.group}/${k.version}/${k.resource}`, k);
  byGroupKind.set(`${k.group}/${k.kind}`, k);
  for (const s of k.shortNames) byShort.set(s, k);
}

/** The kind served at /api(s)/<group>/<version>/<resource>; group '' for core. */
export function kindByResource(group: string, version: string, resource: string): KindDef | undefined {
  return byGVR.get(`${group}/${version}/${resource}`);
}

/** By kind name (e.g. 'Service'); give the group to disambiguate, '' for core. */
export function kindByKind(kind: string, group?: string): KindDef | undefined {
  if (group !== undefined) return byGroupKind.get(`${group}/${kind}`);
  return kinds.find((k) => k.kind === kind);
}

/** By short name, e.g. 'svc'. */
export function kindByShortName(short: string): KindDef | undefined {
  return byShort.get(short);
}

/** The distinct group-versions served, core first: [{group: '', version: 'v1'}, ...]. */
export function groupVersions(): { group: string; version: string }[] {
  const seen = new Map<string, { group: string; version: string }>();
  for (const k of kinds) seen.set(`${k.group}/${k.version}`, { group: k.group, version: k.version });
  return [...seen.values()];
}

export type { KindDef } from './types.js';
