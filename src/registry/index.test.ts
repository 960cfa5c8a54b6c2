import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { TSchema } from '@sinclair/typebox';
import { groupVersions, kindByKind, kindByResource, kindByShortName, kinds } from './index.js';
import { apiVersionOf } from './types.js';

test('lookups by resource, kind and short name', () => {
  assert.equal(kindByResource('', 'v1', 'services')?.kind, 'Service');
  assert.equal(kindByResource('discovery.k8s.io', 'v1', 'endpointslices')?.kind, 'EndpointSlice');
  assert.equal(kindByResource('', 'v1', 'endpointslices'), undefined, 'wrong group');
  assert.equal(kindByKind('Lease')?.group, 'coordination.k8s.io');
  assert.equal(kindByKind('Pod', '')?.resource, 'pods');
  assert.equal(kindByKind('Pod', 'apps'), undefined);
  const shorts: [string, string][] = [['svc', 'services'], ['ep', 'endpoints'], ['po', 'pods'], ['no', 'nodes'], ['ns', 'namespaces'], ['ev', 'events'], ['deploy', 'deployments'], ['rs', 'replicasets'], ['cm', 'configmaps']];
  for (const [s, r] of shorts) assert.equal(kindByShortName(s)?.resource, r, s);
  assert.deepEqual(groupVersions().map(apiVersionOf), ['v1', 'discovery.k8s.io/v1', 'coordination.k8s.io/v1', 'apps/v1']);
});

test('kind definitions are consistent', () => {
  const expect: Record<string, { namespaced: boolean; nameRule: string; status: boolean; categories: string[] }> = {
    Namespace: { namespaced: false, nameRule: 'dns1123label', status: true, categories: [] },
    Service: { namespaced: true, nameRule: 'dns1035', status: true, categories: ['all'] },
    Endpoints: { namespaced: true, nameRule: 'dns1123subdomain', status: false, categories: [] },
    Pod: { namespaced: true, nameRule: 'dns1123subdomain', status: true, categories: ['all'] },
    Node: { namespaced: false, nameRule: 'dns1123subdomain', status: true, categories: [] },
    Event: { namespaced: true, nameRule: 'dns1123subdomain', status: false, categories: [] },
    EndpointSlice: { namespaced: true, nameRule: 'dns1123subdomain', status: false, categories: [] },
    Lease: { namespaced: true, nameRule: 'dns1123subdomain', status: false, categories: [] },
    Deployment: { namespaced: true, nameRule: 'dns1123subdomain', status: true, categories: ['all'] },
    ReplicaSet: { namespaced: true, nameRule: 'dns1123subdomain', status: true, categories: ['all'] },
    ConfigMap: { namespaced: true, nameRule: 'dns1123subdomain', status: false, categories: [] },
    Secret: { namespaced: true, nameRule: 'dns1123subdomain', status: false, categories: [] },
  };
  assert.deepEqual(kinds.map((k) => k.kind).sort(), Object.keys(expect).sort());
  for (const k of kinds) {
    const e = expect[k.kind]!;
    assert.equal(k.namespaced, e.namespaced, k.kind);
    assert.equal(k.nameRule, e.nameRule, k.kind);
    assert.equal(k.subresources.includes('status'), e.status, k.kind);
    assert.deepEqual(k.categories, e.categories, k.kind);
    assert.equal(k.listKind, `${k.kind}List`);
    const gvk = (k.schema as TSchema)['x-kubernetes-group-version-kind'] as unknown[];
    assert.deepEqual(gvk, [{ group: k.group, version: k.version, kind: k.kind }], k.kind);
    // The printer yields one cell per column, even for an empty object.
    assert.equal(k.table.cells({ metadata: { name: 'x' } }, new Date()).length, k.table.columns.length, k.kind);
  }
});

test('simple defaults of the kinds this part owns', () => {
  const pod = { spec: { containers: [{ name: 'a', image: 'nginx:1.27', ports: [{ containerPort: 80 }], readinessProbe: { httpGet: { port: 80 } } }, { name: 'b', image: 'busybox' }] } };
  kindByKind('Pod')!.defaults!(pod, { serviceCIDRs: [], podCIDR: '', nodePortRange: { base: 30000, size: 2768 }, clusterDomain: 'cluster.local', lbPool: [] });
  assert.equal((pod.spec as Record<string, unknown>).restartPolicy, 'Always');
  assert.equal((pod.spec as Record<string, unknown>).terminationGracePeriodSeconds, 30);
  assert.equal((pod.spec as Record<string, unknown>).dnsPolicy, 'ClusterFirst');
  const [a, b] = pod.spec.containers as Record<string, unknown>[];
  assert.equal(a!.imagePullPolicy, 'IfNotPresent', 'tagged image');
  assert.equal(b!.imagePullPolicy, 'Always', 'untagged means latest');
  assert.equal(a!.terminationMessagePath, '/dev/termination-log');
  assert.deepEqual(a!.ports, [{ containerPort: 80, protocol: 'TCP' }]);
  assert.deepEqual(a!.readinessProbe, { httpGet: { port: 80, path: '/', scheme: 'HTTP' }, timeoutSeconds: 1, periodSeconds: 10, successThreshold: 1, failureThreshold: 3 });
  const ns: Record<string, unknown> = { metadata: { name: 'x' } };
  kindByKind('Namespace')!.defaults!(ns, { serviceCIDRs: [], podCIDR: '', nodePortRange: { base: 30000, size: 2768 }, clusterDomain: 'cluster.local', lbPool: [] });
  assert.deepEqual(ns.status, { phase: 'Active' });
  assert.equal(kindByKind('Node')!.defaults, undefined);
});

test('field selectors', () => {
  const pods = kindByKind('Pod')!.fieldSelectors!;
  const p = { spec: { nodeName: 'n1', containers: [] }, status: { phase: 'Running', podIP: '10.0.0.1', podIPs: [{ ip: '10.0.0.1' }] } };
  assert.equal(pods['spec.nodeName']!(p), 'n1');
  assert.equal(pods['status.phase']!(p), 'Running');
  assert.equal(pods['status.podIP']!(p), '10.0.0.1');
  assert.equal(kindByKind('Node')!.fieldSelectors!['spec.unschedulable']!({}), 'false');
  assert.equal(kindByKind('Namespace')!.fieldSelectors!['status.phase']!({ status: { phase: 'Active' } }), 'Active');
  const ev = kindByKind('Event')!.fieldSelectors!;
  assert.equal(ev['involvedObject.name']!({ involvedObject: { name: 'web' } }), 'web');
  assert.equal(ev['type']!({ type: 'Warning' }), 'Warning');
});
