import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ClusterConfig } from '../types.js';
import type { Service, ServiceSpec } from '../kinds/service.js';
import { defaultService, prepareServiceUpdate } from './defaults.js';

const base: ClusterConfig = { serviceCIDRs: ['198.18.0.0/16'], podCIDR: '198.19.0.0/16', nodePortRange: { base: 30000, size: 2768 }, clusterDomain: 'cluster.local', lbPool: [] };
const v6: ClusterConfig = { ...base, serviceCIDRs: ['fd00:18::/112'] };
const dual: ClusterConfig = { ...base, serviceCIDRs: ['198.18.0.0/16', 'fd00:18::/112'] };
const dual6: ClusterConfig = { ...base, serviceCIDRs: ['fd00:18::/112', '198.18.0.0/16'] };

function defaulted(spec: ServiceSpec, cfg = base): ServiceSpec {
  const svc: Service = { metadata: { name: 's', namespace: 'default' }, spec: JSON.parse(JSON.stringify(spec)) as ServiceSpec };
  defaultService(svc, cfg);
  return svc.spec!;
}

const ports = [{ port: 80 }];
const sel = { app: 'x' };

test('field defaults', () => {
  const rows: Array<[ServiceSpec, Partial<ServiceSpec>, string]> = [
    [{ selector: sel, ports }, { type: 'ClusterIP', sessionAffinity: 'None', internalTrafficPolicy: 'Cluster' }, 'ClusterIP basics'],
    [{ selector: sel, ports: [{ port: 80, targetPort: 0 }] }, { ports: [{ port: 80, targetPort: 80, protocol: 'TCP' }] }, 'targetPort 0 means port'],
    [{ selector: sel, ports: [{ port: 80, targetPort: '' }] }, { ports: [{ port: 80, targetPort: 80, protocol: 'TCP' }] }, 'targetPort "" means port'],
    [{ selector: sel, ports, sessionAffinity: 'ClientIP' }, { sessionAffinityConfig: { clientIP: { timeoutSeconds: 10800 } } }, 'ClientIP timeout'],
    [{ selector: sel, ports, type: 'NodePort' }, { externalTrafficPolicy: 'Cluster' }, 'NodePort gets ETP'],
    [{ selector: sel, ports, type: 'LoadBalancer' }, { externalTrafficPolicy: 'Cluster', allocateLoadBalancerNodePorts: true }, 'LoadBalancer'],
    [{ selector: sel, ports, externalIPs: ['198.19.255.9'] }, { externalTrafficPolicy: 'Cluster' }, 'ClusterIP with external IPs is externally accessible'],
    [{ selector: sel, ports }, { externalTrafficPolicy: undefined, allocateLoadBalancerNodePorts: undefined }, 'plain ClusterIP gets neither'],
  ];
  for (const [spec, want, reason] of rows) {
    const got = defaulted(spec);
    for (const [k, v] of Object.entries(want)) assert.deepEqual(got[k as keyof ServiceSpec], v, `${reason}: ${k}`);
  }
});

test('ExternalName gets no IP fields', () => {
  const got = defaulted({ type: 'ExternalName', externalName: 'db.example.com' }, dual);
  assert.deepEqual(got, { type: 'ExternalName', externalName: 'db.example.com', sessionAffinity: 'None' });
});

test('IP families follow the service CIDRs and the policy', () => {
  type R = [ServiceSpec, ClusterConfig, string | undefined, string[] | undefined, string];
  const rows: R[] = [
    [{ selector: sel, ports }, base, 'SingleStack', ['IPv4'], 'IPv4 cluster'],
    [{ selector: sel, ports }, v6, 'SingleStack', ['IPv6'], 'IPv6 cluster'],
    [{ selector: sel, ports }, dual, 'SingleStack', ['IPv4'], 'dual cluster, no policy: primary only'],
    [{ selector: sel, ports, ipFamilyPolicy: 'PreferDualStack' }, dual, 'PreferDualStack', ['IPv4', 'IPv6'], 'PreferDualStack on dual'],
    [{ selector: sel, ports, ipFamilyPolicy: 'RequireDualStack' }, dual6, 'RequireDualStack', ['IPv6', 'IPv4'], 'RequireDualStack, IPv6 primary'],
    [{ selector: sel, ports, ipFamilyPolicy: 'PreferDualStack' }, base, 'PreferDualStack', ['IPv4'], 'PreferDualStack on single stack'],
    [{ selector: sel, ports, ipFamilyPolicy: 'RequireDualStack' }, base, 'RequireDualStack', undefined, 'RequireDualStack on single stack: left for validation'],
    [{ selector: sel, ports, clusterIP: 'fd00:18::10' }, dual, 'SingleStack', ['IPv6'], 'family from the given cluster IP'],
    [{ selector: sel, ports, ipFamilies: ['IPv6'], ipFamilyPolicy: 'PreferDualStack' }, dual, 'PreferDualStack', ['IPv6', 'IPv4'], 'requested family first'],
    [{ clusterIP: 'None', ports }, base, 'RequireDualStack', ['IPv4', 'IPv6'], 'headless selectorless'],
    [{ clusterIP: 'None', selector: sel, ports }, base, 'SingleStack', ['IPv4'], 'headless with selector'],
  ];
  for (const [spec, cfg, policy, fams, reason] of rows) {
    const got = defaulted(spec, cfg);
    assert.equal(got.ipFamilyPolicy, policy, `${reason}: policy`);
    assert.deepEqual(got.ipFamilies, fams, `${reason}: families`);
  }
});

test('prepareServiceUpdate keeps allocated values and drops stale ones', () => {
  const old: Service = {
    metadata: { name: 's' },
    spec: defaulted({ selector: sel, type: 'NodePort', clusterIP: '198.18.0.5', ports: [{ name: 'http', port: 80, nodePort: 30001 }] }),
  };
  const next: Service = { metadata: { name: 's' }, spec: defaulted({ selector: sel, type: 'NodePort', ports: [{ name: 'http', port: 80 }] }) };
  prepareServiceUpdate(next, old);
  assert.equal(next.spec!.clusterIP, '198.18.0.5', 'clusterIP kept');
  assert.deepEqual(next.spec!.clusterIPs, ['198.18.0.5'], 'clusterIPs kept');
  assert.equal(next.spec!.ports![0]!.nodePort, 30001, 'node port kept by port name');

  const toCIP: Service = { metadata: { name: 's' }, spec: { ...JSON.parse(JSON.stringify(old.spec)), type: 'ClusterIP' } };
  prepareServiceUpdate(toCIP, old);
  assert.equal(toCIP.spec!.ports![0]!.nodePort, undefined, 'node port dropped going to ClusterIP');
  assert.equal(toCIP.spec!.externalTrafficPolicy, undefined, 'ETP dropped going to ClusterIP');

  const toExt: Service = { metadata: { name: 's' }, spec: { ...JSON.parse(JSON.stringify(old.spec)), type: 'ExternalName', externalName: 'x.example.com' } };
  prepareServiceUpdate(toExt, old);
  assert.deepEqual([toExt.spec!.clusterIP, toExt.spec!.clusterIPs, toExt.spec!.ipFamilies, toExt.spec!.ipFamilyPolicy], [undefined, undefined, undefined, undefined], 'IP fields dropped going to ExternalName');
});
