// Discovery documents: legacy (APIVersions, APIGroupList, APIResourceList) and aggregated
// (apidiscovery.k8s.io/v2 APIGroupDiscoveryList), computed once from the registered kinds.
import type { KindDef } from '../registry/types.js';

export const SERVER_VERSION = {
  major: '1',
  minor: '32',
  gitVersion: 'v1.32.0-portico',
  gitCommit: '0000000000000000000000000000000000000000',
  gitTreeState: 'clean',
  buildDate: '2026-11-24T00:00:00Z',
  goVersion: 'n/a (Portico, TypeScript on Node.js)',
  compiler: 'portico',
  platform: `${process.platform}/${process.arch === 'x64' ? 'amd64' : process.arch}`,
};

const VERBS = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];

export interface GroupVersion {
  group: string;
  version: string;
  kinds: KindDef[];
}

export function groupVersions(kinds: KindDef[]): GroupVersion[] {
  const byKey = new Map<string, GroupVersion>();
  for (const k of kinds) {
    const key = `${k.group}/${k.version}`;
    let gv = byKey.get(key);
    if (!gv) byKey.set(key, (gv = { group: k.group, version: k.version, kinds: [] }));
    gv.kinds.push(k);
  }
  return [...byKey.values()];
}

function subresourceVerbs(sub: string): string[] {
  return sub === 'log' ? ['get'] : ['get', 'patch', 'update'];
}

/** The kind a subresource answers with: pods/log gives text (Pod upstream), `scale` an autoscaling/v1 Scale. */
function subresourceKind(k: KindDef, sub: string): { group: string; version: string; kind: string } {
  if (sub === 'log') return { group: '', version: 'v1', kind: 'Pod' };
  if (sub === 'scale') return { group: 'autoscaling', version: 'v1', kind: 'Scale' };
  return { group: k.group, version: k.version, kind: k.kind };
}

export function resourceList(gv: GroupVersion): object {
  const groupVersion = gv.group ? `${gv.group}/${gv.version}` : gv.version;
  const resources: object[] = [];
  for (const k of gv.kinds) {
    const r: Record<string, unknown> = { name: k.resource, singularName: k.singular, namespaced: k.namespaced, kind: k.kind, verbs: VERBS };
    if (k.shortNames.length) r.shortNames = k.shortNames;
    if (k.categories.length) r.categories = k.categories;
    resources.push(r);
    for (const sub of k.subresources) {
      const rk = subresourceKind(k, sub);
      const r: Record<string, unknown> = { name: `${k.resource}/${sub}`, singularName: '', namespaced: k.namespaced };
      // A subresource of another group-version names it, as kube does for */scale.
      if (rk.group !== k.group || rk.version !== k.version) Object.assign(r, { group: rk.group, version: rk.version });
      resources.push({ ...r, kind: rk.kind, verbs: subresourceVerbs(sub) });
    }
  }
  return { kind: 'APIResourceList', apiVersion: 'v1', groupVersion, resources };
}

export function apiVersions(serverAddress: string): object {
  return { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress }] };
}

function apiGroup(gv: GroupVersion): object {
  const v = { groupVersion: `${gv.group}/${gv.version}`, version: gv.version };
  return { name: gv.group, versions: [v], preferredVersion: v };
}

export function apiGroupList(gvs: GroupVersion[]): object {
  return { kind: 'APIGroupList', apiVersion: 'v1', groups: gvs.filter((g) => g.group).map(apiGroup) };
}

export function apiGroupDoc(gv: GroupVersion): object {
  return { kind: 'APIGroup', apiVersion: 'v1', ...apiGroup(gv) };
}

/** Aggregated discovery: `/api` holds the core group, `/apis` every named group. */
export function aggregated(gvs: GroupVersion[], core: boolean): object {
  const groups = new Map<string, GroupVersion[]>();
  for (const gv of gvs) {
    if (core !== (gv.group === '')) continue;
    const list = groups.get(gv.group) ?? [];
    list.push(gv);
    groups.set(gv.group, list);
  }
  return {
    kind: 'APIGroupDiscoveryList',
    apiVersion: 'apidiscovery.k8s.io/v2',
    metadata: {},
    items: [...groups.entries()].map(([group, versions]) => ({
      metadata: { name: group, creationTimestamp: null },
      versions: versions.map((gv) => ({
        version: gv.version,
        freshness: 'Current',
        resources: gv.kinds.map((k) => {
          const responseKind = { group: k.group, version: k.version, kind: k.kind };
          const r: Record<string, unknown> = {
            resource: k.resource,
            responseKind,
            scope: k.namespaced ? 'Namespaced' : 'Cluster',
            singularResource: k.singular,
            verbs: VERBS,
          };
          if (k.shortNames.length) r.shortNames = k.shortNames;
          if (k.categories.length) r.categories = k.categories;
          if (k.subresources.length) {
            r.subresources = k.subresources.map((s) => ({ subresource: s, responseKind: subresourceKind(k, s), verbs: subresourceVerbs(s) }));
          }
          return r;
        }),
      })),
    })),
  };
}

export const AGGREGATED_CONTENT_TYPE = 'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList';
