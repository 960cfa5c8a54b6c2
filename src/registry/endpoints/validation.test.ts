import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fieldErrorString } from '../../util/errors.js';
import type { ClusterConfig } from '../types.js';
import type { Endpoints } from '../kinds/endpoints.js';
import { defaultEndpoints, validateEndpoints } from './validation.js';

const cfg: ClusterConfig = { serviceCIDRs: ['198.18.0.0/16', 'fd00:18::/112'], podCIDR: '198.19.0.0/16', nodePortRange: { base: 30000, size: 2768 }, clusterDomain: 'cluster.local', lbPool: [] };

test('ports default to TCP', () => {
  const ep: Endpoints = { metadata: { name: 'e' }, subsets: [{ addresses: [{ ip: '198.19.0.5' }], ports: [{ port: 80 }, { port: 53, protocol: 'UDP', name: 'dns' }] }] };
  defaultEndpoints(ep);
  assert.deepEqual(ep.subsets![0]!.ports!.map((p) => p.protocol), ['TCP', 'UDP']);
});

test('virtual IPs of every service CIDR are refused', () => {
  const rows: Array<[string, string[], string]> = [
    ['198.18.3.4', ['subsets[0].addresses[0].ip: Invalid value: "198.18.3.4": may not be in the service CIDR (198.18.0.0/16): an endpoint must be a real address (such as a pod\'s), not a virtual IP'], 'IPv4 VIP'],
    ['fd00:18::7', ['subsets[0].addresses[0].ip: Invalid value: "fd00:18::7": may not be in the service CIDR (fd00:18::/112): an endpoint must be a real address (such as a pod\'s), not a virtual IP'], 'IPv6 VIP'],
    ['198.19.0.5', [], 'pod address'],
  ];
  for (const [ip, want, reason] of rows) {
    const ep: Endpoints = { metadata: { name: 'e' }, subsets: [{ addresses: [{ ip }], ports: [{ port: 80, protocol: 'TCP' }] }] };
    assert.deepEqual(validateEndpoints(ep, cfg).map(fieldErrorString), want, reason);
  }
});

test('loopback endpoints are allowed only in a rootless (loopback service CIDR) cluster', () => {
  const loopbackCfg: ClusterConfig = { ...cfg, serviceCIDRs: ['127.96.0.0/12'] };
  const ep: Endpoints = { metadata: { name: 'e' }, subsets: [{ addresses: [{ ip: '127.0.0.5' }], ports: [{ port: 80, protocol: 'TCP' }] }] };
  assert.deepEqual(validateEndpoints(ep, loopbackCfg).map(fieldErrorString), [], 'rootless cluster');
  assert.deepEqual(validateEndpoints(ep, cfg).map(fieldErrorString), ['subsets[0].addresses[0].ip: Invalid value: "127.0.0.5": may not be in the loopback range (127.0.0.0/8, ::1/128)'], 'ordinary cluster');
});
