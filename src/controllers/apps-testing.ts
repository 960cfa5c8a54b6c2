// Helpers for the workload controllers' tests: Deployments and ReplicaSets of one container, and a
// stand-in kubelet that marks pods Ready through the status subresource as the real one would.
import type { Deployment } from '../registry/kinds/deployment.js';
import type { ReplicaSet } from '../registry/kinds/replicaset.js';
import type { Pod } from '../registry/kinds/pod.js';
import type { TestAPI } from './testing.js';

export function deployment(name: string, replicas: number, image = 'web:1', extra: Partial<NonNullable<Deployment['spec']>> = {}): Deployment {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name },
    spec: { replicas, selector: { matchLabels: { app: name } }, template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'c', image }] } }, ...extra },
  } as Deployment;
}

export function replicaSet(name: string, replicas: number, extra: Partial<NonNullable<ReplicaSet['spec']>> = {}): ReplicaSet {
  return {
    apiVersion: 'apps/v1',
    kind: 'ReplicaSet',
    metadata: { name },
    spec: { replicas, selector: { matchLabels: { app: name } }, template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'c', image: 'web:1' }] } }, ...extra },
  } as ReplicaSet;
}

export async function podsOf(api: TestAPI, ns = 'default'): Promise<Pod[]> {
  return (await api.pods.list(ns)).items.filter((p) => !p.metadata?.deletionTimestamp);
}

/** Marks a pod Ready (as the kubelet would, with a transition time). */
export async function markReady(api: TestAPI, p: Pod): Promise<void> {
  await api.pods
    .guaranteedUpdate(p.metadata?.namespace, p.metadata?.name ?? '', (cur) => {
      cur.status = { ...(cur.status ?? {}), phase: 'Running', conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: new Date().toISOString().replace(/\.\d+Z$/, 'Z') }] };
      return cur;
    }, { subresource: 'status' })
    .catch(() => {});
}
