import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { kindByKind } from '../../registry/index.js';
import type { KindDef } from '../../registry/types.js';
import { pruneAndCheck } from '../../registry/decode.js';
import { StatusError } from '../../util/errors.js';
import { MESSAGES } from './messages.js';
import { decodeProtobufObject, protobufSupported } from './index.js';
import { WireReader } from './wire.js';

// ---- a tiny encoder, enough to build what Go's generated marshallers write ----

function varint(v: number | bigint): number[] {
  let n = BigInt.asUintN(64, BigInt(v));
  const out: number[] = [];
  do {
    let b = Number(n & 0x7fn);
    n >>= 7n;
    if (n > 0n) b |= 0x80;
    out.push(b);
  } while (n > 0n);
  return out;
}
const tag = (field: number, wire: number) => varint((field << 3) | wire);
const int = (field: number, v: number | bigint): number[] => [...tag(field, 0), ...varint(v)];
const bool = (field: number, v: boolean): number[] => int(field, v ? 1 : 0);
const bytes = (field: number, b: number[] | Uint8Array): number[] => [...tag(field, 2), ...varint(b.length), ...b];
const str = (field: number, s: string): number[] => bytes(field, [...Buffer.from(s, 'utf8')]);
const msg = (field: number, ...parts: number[][]): number[] => bytes(field, parts.flat());
const entry = (field: number, k: string, v: string): number[] => msg(field, str(1, k), str(2, v));
const qtyEntry = (field: number, k: string, v: string): number[] => msg(field, str(1, k), msg(2, str(1, v)));
const intstr = (field: number, v: number | string): number[] =>
  typeof v === 'number' ? msg(field, int(1, 0), int(2, v), str(3, '')) : msg(field, int(1, 1), int(2, 0), str(3, v));

/** ObjectMeta as kubectl's generators send it: every string field written, empty or not. */
function meta(name: string, extra: number[][] = []): number[] {
  return msg(1, str(1, name), str(2, ''), str(3, ''), str(4, ''), str(5, ''), str(6, ''), int(7, 0), msg(8), ...extra);
}

function envelope(kind: string, raw: number[], apiVersion = 'v1'): Buffer {
  return Buffer.from([0x6b, 0x38, 0x73, 0x00, ...msg(1, str(1, apiVersion), str(2, kind)), ...bytes(2, raw), ...str(3, ''), ...str(4, '')]);
}

function def(kind: string): KindDef {
  const d = kindByKind(kind);
  assert.ok(d, `kind ${kind} registered`);
  return d;
}

function statusOf(fn: () => unknown): { code: number; message: string } {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof StatusError, `a StatusError, got ${String(e)}`);
    return { code: e.code, message: e.message };
  }
  assert.fail('expected an error');
}

// ---- the wire reader ----

describe('WireReader', () => {
  const rows: { why: string; bytes: number[]; read: (r: WireReader) => unknown; want: unknown }[] = [
    { why: 'one-byte varint', bytes: [0x05], read: (r) => r.varint(), want: 5n },
    { why: 'two-byte varint', bytes: [0x96, 0x01], read: (r) => r.varint(), want: 150n },
    { why: 'negative int32 arrives sign-extended to ten bytes', bytes: varint(-1), read: (r) => r.int32(), want: -1 },
    { why: 'int64 keeps the sign', bytes: varint(-62135596800n), read: (r) => r.int64(), want: -62135596800n },
    { why: 'bool', bytes: [0x01], read: (r) => r.bool(), want: true },
    { why: 'fixed32 little-endian', bytes: [0x01, 0x02, 0x03, 0x84], read: (r) => r.fixed32(), want: 0x84030201 },
    { why: 'fixed64 little-endian', bytes: [1, 0, 0, 0, 0, 0, 0, 0x80], read: (r) => r.fixed64(), want: 0x8000000000000001n },
    { why: 'string', bytes: [0x02, 0x68, 0x69], read: (r) => r.string('s'), want: 'hi' },
  ];
  for (const row of rows) {
    it(row.why, () => {
      const r = new WireReader(Uint8Array.from(row.bytes));
      assert.deepEqual(row.read(r), row.want);
      assert.ok(r.done(), 'all bytes consumed');
    });
  }

  const bad: { why: string; bytes: number[]; read: (r: WireReader) => unknown; message: RegExp }[] = [
    { why: 'varint cut short', bytes: [0x80], read: (r) => r.varint(), message: /unexpected EOF/ },
    { why: 'varint longer than ten bytes', bytes: [...Array<number>(10).fill(0xff), 0x01], read: (r) => r.varint(), message: /integer overflow/ },
    { why: 'length past the end', bytes: [0x05, 0x61], read: (r) => r.bytes(), message: /unexpected EOF/ },
    { why: 'huge length', bytes: varint(2n ** 63n), read: (r) => r.bytes(), message: /negative length/ },
    { why: 'fixed64 cut short', bytes: [1, 2, 3], read: (r) => r.fixed64(), message: /unexpected EOF/ },
    { why: 'fixed32 cut short', bytes: [1], read: (r) => r.fixed32(), message: /unexpected EOF/ },
    { why: 'field number 0', bytes: [0x02], read: (r) => r.tag('M'), message: /illegal tag 0/ },
    { why: 'group wire type', bytes: [0x0b], read: (r) => r.tag('M'), message: /illegal wireType 3/ },
    { why: 'invalid UTF-8 in a string', bytes: [0x02, 0xc3, 0x28], read: (r) => r.string('name'), message: /invalid UTF-8/ },
  ];
  for (const row of bad) {
    it(`rejects: ${row.why}`, () => {
      const s = statusOf(() => row.read(new WireReader(Uint8Array.from(row.bytes))));
      assert.equal(s.code, 400);
      assert.match(s.message, row.message);
    });
  }

  it('skips every wire type', () => {
    const r = new WireReader(Uint8Array.from([0x96, 0x01, 1, 2, 3, 4, 5, 6, 7, 8, 0x01, 0x00, 1, 2, 3, 4]));
    r.skip(0);
    r.skip(1);
    r.skip(2);
    r.skip(5);
    assert.ok(r.done());
  });
});

// ---- objects ----

describe('decodeProtobufObject', () => {
  const rows: { why: string; kind: string; raw: number[]; want: object }[] = [
    {
      why: 'kubectl create namespace: empty strings, zero time and empty status vanish',
      kind: 'Namespace',
      raw: [...meta('demo'), ...msg(2), ...msg(3, str(1, ''))],
      want: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'demo' } },
    },
    {
      why: 'namespace with finalizers, labels, annotations and a status condition',
      kind: 'Namespace',
      raw: [
        ...meta('ns1', [entry(11, 'a', '1'), entry(11, 'b', ''), entry(12, 'note', 'x'), str(14, 'example.com/f')]),
        ...msg(2, str(1, 'kubernetes')),
        ...msg(3, str(1, 'Active'), msg(2, str(1, 'NamespaceDeletionDiscoveryFailure'), str(2, 'False'), msg(4, int(1, 1700000000)), str(5, ''), str(6, ''))),
      ],
      want: {
        apiVersion: 'v1',
        kind: 'Namespace',
        metadata: { name: 'ns1', labels: { a: '1', b: '' }, annotations: { note: 'x' }, finalizers: ['example.com/f'] },
        spec: { finalizers: ['kubernetes'] },
        status: { phase: 'Active', conditions: [{ type: 'NamespaceDeletionDiscoveryFailure', status: 'False', lastTransitionTime: '2023-11-14T22:13:20Z' }] },
      },
    },
    {
      why: 'kubectl create service clusterip (bytes as captured from kubectl 1.32)',
      kind: 'Service',
      raw: [
        ...meta('web', [entry(11, 'app', 'web')]),
        ...msg(
          2,
          msg(1, str(1, '80-8080'), str(2, 'TCP'), int(3, 80), intstr(4, 8080), int(5, 0)),
          entry(2, 'app', 'web'),
          str(3, ''),
          str(4, 'ClusterIP'),
          str(7, ''),
          str(8, ''),
          str(10, ''),
          str(11, ''),
          int(12, 0),
          bool(13, false),
        ),
        ...msg(3, msg(1)),
      ],
      want: {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: 'web', labels: { app: 'web' } },
        spec: { ports: [{ name: '80-8080', protocol: 'TCP', port: 80, targetPort: 8080 }], selector: { app: 'web' }, type: 'ClusterIP' },
      },
    },
    {
      why: 'service: named targetPort, nodePort, pointer fields kept even when zero, session affinity',
      kind: 'Service',
      raw: [
        ...meta('np'),
        ...msg(
          2,
          msg(1, str(1, 'http'), str(2, 'TCP'), int(3, 80), intstr(4, 'web'), int(5, 30080), str(6, 'http')),
          msg(1, str(2, 'UDP'), int(3, 0), msg(4, int(1, 0), int(2, 0), str(3, ''))),
          str(4, 'NodePort'),
          str(5, '198.19.255.200'),
          str(7, 'ClientIP'),
          str(11, 'Local'),
          msg(14, msg(1, int(1, 0))),
          str(17, 'SingleStack'),
          str(18, '198.18.0.10'),
          str(19, 'IPv4'),
          bool(20, false),
          str(22, 'Cluster'),
        ),
      ],
      want: {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: 'np' },
        spec: {
          ports: [
            { name: 'http', protocol: 'TCP', port: 80, targetPort: 'web', nodePort: 30080, appProtocol: 'http' },
            { protocol: 'UDP', port: 0 },
          ],
          type: 'NodePort',
          externalIPs: ['198.19.255.200'],
          sessionAffinity: 'ClientIP',
          externalTrafficPolicy: 'Local',
          sessionAffinityConfig: { clientIP: { timeoutSeconds: 0 } },
          ipFamilyPolicy: 'SingleStack',
          clusterIPs: ['198.18.0.10'],
          ipFamilies: ['IPv4'],
          allocateLoadBalancerNodePorts: false,
          internalTrafficPolicy: 'Cluster',
        },
      },
    },
    {
      why: 'kubectl create service externalname',
      kind: 'Service',
      raw: [...meta('ext', [entry(11, 'app', 'ext')]), ...msg(2, entry(2, 'app', 'ext'), str(3, ''), str(4, 'ExternalName'), str(10, 'db.example.com'), int(12, 0)), ...msg(3, msg(1))],
      want: { apiVersion: 'v1', kind: 'Service', metadata: { name: 'ext', labels: { app: 'ext' } }, spec: { selector: { app: 'ext' }, type: 'ExternalName', externalName: 'db.example.com' } },
    },
    {
      why: 'service status: load-balancer ingress with ports and a condition',
      kind: 'Service',
      raw: [
        ...meta('lb'),
        ...msg(3, msg(1, msg(1, str(1, '198.19.255.10'), str(2, ''), str(3, 'VIP'), msg(4, int(1, 443), str(2, 'TCP'), str(3, 'Pending')))), msg(2, str(1, 'Ready'), str(2, 'True'), int(3, 2), msg(4, int(1, 0), int(2, 5)), str(5, 'Ok'), str(6, ''))),
      ],
      want: {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: 'lb' },
        status: {
          loadBalancer: { ingress: [{ ip: '198.19.255.10', ipMode: 'VIP', ports: [{ port: 443, protocol: 'TCP', error: 'Pending' }] }] },
          conditions: [{ type: 'Ready', status: 'True', observedGeneration: 2, lastTransitionTime: '1970-01-01T00:00:00Z', reason: 'Ok', message: '' }],
        },
      },
    },
    {
      why: 'pod as kubectl run would build it: container, port, env, resources, labels, owner reference',
      kind: 'Pod',
      raw: [
        ...meta('p1', [entry(11, 'app', 'web'), msg(13, str(1, 'ReplicaSet'), str(3, 'rs'), str(4, 'u-1'), str(5, 'apps/v1'), bool(6, true)), msg(17, str(1, 'kubectl'))]),
        ...msg(
          2,
          msg(
            2,
            str(1, 'p1'),
            str(2, 'nginx'),
            str(3, 'sh'),
            str(3, '-c'),
            str(5, ''),
            msg(6, str(1, ''), int(2, 0), int(3, 8080), str(4, ''), str(5, '')),
            msg(7, str(1, 'A'), str(2, 'b')),
            msg(7, str(1, 'POD'), str(2, ''), msg(3, msg(1, str(1, 'v1'), str(2, 'metadata.name')))),
            msg(7, str(1, 'K'), msg(3, msg(3, msg(1, str(1, 'cm')), str(2, 'key')))),
            msg(8, qtyEntry(1, 'cpu', '500m'), qtyEntry(2, 'memory', '64Mi')),
            str(13, ''),
            str(14, ''),
            bool(16, false),
            bool(17, false),
            bool(18, false),
            str(20, ''),
          ),
          str(3, 'Always'),
          int(4, 30),
          str(6, 'ClusterFirst'),
          entry(7, 'disk', 'ssd'),
          str(8, ''),
          str(9, ''),
          str(10, ''),
          bool(11, false),
          bool(12, false),
          bool(13, false),
          str(16, ''),
          str(17, ''),
          str(19, ''),
          msg(22, str(1, 'k'), str(2, 'Exists'), str(3, ''), str(4, 'NoExecute'), int(5, 300)),
          str(24, ''),
        ),
        ...msg(3, str(1, ''), str(3, ''), str(4, ''), str(5, ''), str(6, ''), str(9, ''), str(11, '')),
      ],
      want: {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'p1', labels: { app: 'web' }, ownerReferences: [{ kind: 'ReplicaSet', name: 'rs', uid: 'u-1', apiVersion: 'apps/v1', controller: true }] },
        spec: {
          containers: [
            {
              name: 'p1',
              image: 'nginx',
              command: ['sh', '-c'],
              ports: [{ containerPort: 8080 }],
              env: [
                { name: 'A', value: 'b' },
                { name: 'POD', valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.name' } } },
                { name: 'K', valueFrom: { configMapKeyRef: { name: 'cm', key: 'key' } } },
              ],
              resources: { limits: { cpu: '500m' }, requests: { memory: '64Mi' } },
            },
          ],
          restartPolicy: 'Always',
          terminationGracePeriodSeconds: 30,
          dnsPolicy: 'ClusterFirst',
          nodeSelector: { disk: 'ssd' },
          tolerations: [{ key: 'k', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 }],
        },
      },
    },
    {
      why: 'pod status: phase, IPs, start time, container status',
      kind: 'Pod',
      raw: [
        ...meta('p2'),
        ...msg(
          3,
          str(1, 'Running'),
          msg(2, str(1, 'Ready'), str(2, 'True'), msg(3), msg(4, int(1, 1700000000))),
          str(5, '198.19.255.1'),
          str(6, '198.19.0.5'),
          msg(7, int(1, 1700000000), int(2, 999)),
          msg(8, str(1, 'c'), msg(2, msg(2, msg(1, int(1, 1700000000)))), msg(3), bool(4, true), int(5, 0), str(6, 'nginx'), str(7, ''), str(8, '')),
          msg(12, str(1, '198.19.0.5')),
          msg(16, str(1, '198.19.255.1')),
        ),
      ],
      want: {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'p2' },
        status: {
          phase: 'Running',
          conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: '2023-11-14T22:13:20Z' }],
          hostIP: '198.19.255.1',
          podIP: '198.19.0.5',
          startTime: '2023-11-14T22:13:20Z',
          containerStatuses: [{ name: 'c', state: { running: { startedAt: '2023-11-14T22:13:20Z' } }, ready: true, restartCount: 0, image: 'nginx', imageID: '' }],
          podIPs: [{ ip: '198.19.0.5' }],
          hostIPs: [{ ip: '198.19.255.1' }],
        },
      },
    },
    {
      why: 'endpoints with ready and not-ready addresses and ports',
      kind: 'Endpoints',
      raw: [
        ...meta('web'),
        ...msg(
          2,
          msg(1, str(1, '198.19.0.5'), msg(2, str(1, 'Pod'), str(2, 'default'), str(3, 'p1'), str(4, 'u'), str(5, ''), str(6, ''), str(7, '')), str(3, ''), str(4, 'node-a')),
          msg(2, str(1, '198.19.0.6')),
          msg(3, str(1, 'http'), int(2, 8080), str(3, 'TCP')),
        ),
      ],
      want: {
        apiVersion: 'v1',
        kind: 'Endpoints',
        metadata: { name: 'web' },
        subsets: [
          {
            addresses: [{ ip: '198.19.0.5', targetRef: { kind: 'Pod', namespace: 'default', name: 'p1', uid: 'u' }, nodeName: 'node-a' }],
            notReadyAddresses: [{ ip: '198.19.0.6' }],
            ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
          },
        ],
      },
    },
    {
      why: 'apps/v1 ReplicaSet: matchExpressions, pointer replicas 0 kept, minReadySeconds 0 dropped',
      kind: 'ReplicaSet',
      raw: [
        ...meta('rs'),
        ...msg(
          2,
          int(1, 0),
          msg(2, entry(1, 'app', 'web'), msg(2, str(1, 'tier'), str(2, 'In'), str(3, 'a'), str(3, 'b'))),
          msg(3, meta('', [entry(11, 'app', 'web'), entry(11, 'tier', 'a')]), msg(2, msg(2, str(1, 'c'), str(2, 'busybox'), str(3, 'sleep'), str(4, '60')))),
          int(4, 0),
        ),
        ...msg(3, int(1, 0)),
      ],
      want: {
        apiVersion: 'apps/v1',
        kind: 'ReplicaSet',
        metadata: { name: 'rs' },
        spec: {
          replicas: 0,
          selector: { matchLabels: { app: 'web' }, matchExpressions: [{ key: 'tier', operator: 'In', values: ['a', 'b'] }] },
          template: { metadata: { labels: { app: 'web', tier: 'a' } }, spec: { containers: [{ name: 'c', image: 'busybox', command: ['sleep'], args: ['60'] }] } },
        },
        status: { replicas: 0 },
      },
    },
    {
      why: 'apps/v1 Deployment: strategy with pointer IntOrStrings (0 and a percentage), paused, pointer fields',
      kind: 'Deployment',
      raw: [
        ...meta('d'),
        ...msg(
          2,
          int(1, 3),
          msg(2, entry(1, 'app', 'd')),
          msg(3, msg(1, entry(11, 'app', 'd')), msg(2, msg(2, str(1, 'c'), str(2, 'img')))),
          msg(4, str(1, 'RollingUpdate'), msg(2, intstr(1, 0), intstr(2, '50%'))),
          int(5, 5),
          int(6, 0),
          bool(7, true),
          int(9, 60),
        ),
      ],
      want: {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: 'd' },
        spec: {
          replicas: 3,
          selector: { matchLabels: { app: 'd' } },
          template: { metadata: { labels: { app: 'd' } }, spec: { containers: [{ name: 'c', image: 'img' }] } },
          strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: '50%' } },
          minReadySeconds: 5,
          revisionHistoryLimit: 0,
          paused: true,
          progressDeadlineSeconds: 60,
        },
      },
    },
    {
      why: 'a repeated non-repeated message merges, and the last scalar wins',
      kind: 'Namespace',
      raw: [...meta('first'), ...msg(1, str(1, 'second'), entry(11, 'x', 'y'))],
      want: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'second', labels: { x: 'y' } } },
    },
  ];
  it('kubectl create deployment web3 --image=nginx --replicas=2 --port=80 (bytes captured from kubectl 1.32)', () => {
    const body = Buffer.from(
      '6b3873000a150a07617070732f7631120a4465706c6f796d656e7412bc010a210a047765623312001a0022002a003200380042005a0b0a036170701204776562331288010802120d0a0b0a03617070120477656233' +
        '1a6d0a1d0a0012001a0022002a003200380042005a0b0a03617070120477656233124c122e0a056e67696e7812056e67696e782a00320a0a001000185022002a0042006a007200800100880100900100a2010' +
        '01a00320042004a0052005800600068008201008a01009a0100c2010022020a00280038001a0c0800100018002000280038001a002200',
      'hex',
    );
    const d = def('Deployment');
    const want = {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'web3', labels: { app: 'web3' } },
      spec: {
        replicas: 2,
        selector: { matchLabels: { app: 'web3' } },
        template: { metadata: { labels: { app: 'web3' } }, spec: { containers: [{ name: 'nginx', image: 'nginx', ports: [{ containerPort: 80 }] }] } },
      },
    };
    const obj = decodeProtobufObject(body, d);
    assert.deepEqual(obj, want);
    assert.deepEqual(pruneAndCheck(structuredClone(obj), d, 'Strict').obj, want);
  });

  it('kubectl create configmap and secret generic (bytes captured from kubectl 1.32): Secret data is bytes, base64 in JSON', () => {
    const cm = Buffer.from('6b3873000a0f0a0276311209436f6e6669674d6170121c0a120a02633212001a0022002a0032003800420012060a01611201621a002200', 'hex');
    assert.deepEqual(decodeProtobufObject(cm, def('ConfigMap')), { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c2' }, data: { a: 'b' } });
    const secret = Buffer.from('6b3873000a0c0a0276311206536563726574122b0a120a02733212001a0022002a0032003800420012060a016b1201761a0d6578616d706c652e636f6d2f781a002200', 'hex');
    assert.deepEqual(decodeProtobufObject(secret, def('Secret')), { apiVersion: 'v1', kind: 'Secret', metadata: { name: 's2' }, data: { k: 'dg==' }, type: 'example.com/x' });
    const binary = envelope('Secret', [...meta('b'), ...msg(2, str(1, 'bin'), bytes(2, [0, 255, 10])), ...entry(4, 'plain', 'text'), ...bool(5, true)]);
    assert.deepEqual(decodeProtobufObject(binary, def('Secret')), { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'b' }, data: { bin: 'AP8K' }, stringData: { plain: 'text' }, immutable: true });
  });

  for (const row of rows) {
    it(row.why, () => {
      const d = def(row.kind);
      const obj = decodeProtobufObject(envelope(row.kind, row.raw, d.group ? `${d.group}/${d.version}` : d.version), d);
      assert.deepEqual(obj, row.want);
      // What the server does next with a JSON body must accept the same object unchanged.
      const checked = pruneAndCheck(structuredClone(obj), d, 'Strict');
      assert.deepEqual(checked.obj, row.want);
    });
  }

  const bad: { why: string; kind?: string; body: Buffer; code: number; message: RegExp }[] = [
    { why: 'no magic', body: Buffer.from('{"kind":"Service"}'), code: 400, message: /expected prefix \[107 56 115 0\]/ },
    { why: 'magic only is an empty object of the path kind', body: Buffer.from([0x6b, 0x38, 0x73]), code: 400, message: /does not appear to be a protobuf message/ },
    { why: 'truncated envelope', body: Buffer.from([0x6b, 0x38, 0x73, 0x00, 0x0a, 0x10, 0x0a]), code: 400, message: /unrecognized.*unexpected EOF/ },
    { why: 'unknown envelope field', body: Buffer.from([0x6b, 0x38, 0x73, 0x00, ...str(9, 'x')]), code: 400, message: /unknown field 9 .*runtime\.Unknown/ },
    { why: 'kind mismatch', body: envelope('Namespace', meta('x')), code: 400, message: /the kind in the data \(Namespace\) does not match the expected kind \(Service\)/ },
    { why: 'version mismatch', body: envelope('Service', meta('x'), 'v2'), code: 400, message: /the API version in the data \(v2\) does not match the expected API version \(v1\)/ },
    { why: 'unknown field in ServiceSpec', body: envelope('Service', [...meta('x'), ...msg(2, str(99, 'x'))]), code: 400, message: /Service in version "v1" cannot be handled as a Service: proto: unknown field 99 \(wire type 2\) in message k8s\.io\.api\.core\.v1\.ServiceSpec/ },
    { why: 'unknown field in ObjectMeta', body: envelope('Service', meta('x', [int(40, 1)])), code: 400, message: /unknown field 40 .*meta\.v1\.ObjectMeta/ },
    { why: 'wrong wire type', body: envelope('Service', [...meta('x'), ...msg(2, int(1, 5))]), code: 400, message: /wrong wireType = 0 for field ports/ },
    { why: 'truncated raw object', body: envelope('Service', [0x0a, 0x20, 0x0a]), code: 400, message: /cannot be handled as a Service: unexpected EOF/ },
    { why: 'IntOrString with an unknown type', body: envelope('Service', [...meta('x'), ...msg(2, msg(1, int(3, 80), msg(4, int(1, 7))))]), code: 400, message: /IntOrString type 7/ },
    { why: 'time out of range', body: envelope('Service', meta('x', [msg(9, int(1, 2n ** 62n))])), code: 400, message: /outside the years/ },
    { why: 'content encoding', body: Buffer.from([0x6b, 0x38, 0x73, 0x00, ...msg(1, str(1, 'v1'), str(2, 'Service')), ...str(3, 'gzip')]), code: 400, message: /unsupported content encoding "gzip"/ },
    { why: 'a field this server does not decode (volumes)', kind: 'Pod', body: envelope('Pod', [...meta('x'), ...msg(2, msg(1, str(1, 'v')))]), code: 415, message: /PodSpec\.volumes \(1\)/ },
    {
      why: 'a probe in a Deployment\'s pod template (not decoded here)',
      kind: 'Deployment',
      body: envelope('Deployment', [...meta('x'), ...msg(2, msg(3, msg(2, msg(2, str(1, 'c'), msg(11, int(1, 1))))))], 'apps/v1'),
      code: 415,
      message: /field k8s\.io\.api\.core\.v1\.Container\.readinessProbe \(11\) cannot be decoded from application\/vnd\.kubernetes\.protobuf by this server; send the object as application\/json/,
    },
    { why: 'unknown field in DeploymentSpec', kind: 'Deployment', body: envelope('Deployment', [...meta('x'), ...msg(2, int(8, 1))], 'apps/v1'), code: 400, message: /Deployment in version "v1" cannot be handled as a Deployment: proto: unknown field 8 \(wire type 0\) in message k8s\.io\.api\.apps\.v1\.DeploymentSpec/ },
    { why: 'a kind without a table', kind: 'Lease', body: envelope('Lease', meta('x'), 'coordination.k8s.io/v1'), code: 415, message: /unknown format/ },
  ];
  for (const row of bad) {
    it(`rejects: ${row.why}`, () => {
      const s = statusOf(() => decodeProtobufObject(row.body, def(row.kind ?? 'Service')));
      assert.equal(s.code, row.code);
      assert.match(s.message, row.message);
    });
  }

  it('never fails other than with a Status on truncated or corrupted bodies', () => {
    const d = def('Service');
    const good = envelope('Service', [
      ...meta('web', [entry(11, 'app', 'web')]),
      ...msg(2, msg(1, str(1, '80-8080'), str(2, 'TCP'), int(3, 80), intstr(4, 8080), int(5, 0)), entry(2, 'app', 'web'), str(4, 'ClusterIP')),
      ...msg(3, msg(1)),
    ]);
    const variants: Buffer[] = [];
    for (let n = 0; n < good.length; n++) variants.push(good.subarray(0, n));
    for (let i = 4; i < good.length; i++) {
      for (const v of [0x00, 0x7f, 0x80, 0xff]) {
        const b = Buffer.from(good);
        b[i] = v;
        variants.push(b);
      }
    }
    let rejected = 0;
    for (const b of variants) {
      try {
        decodeProtobufObject(b, d);
      } catch (e) {
        assert.ok(e instanceof StatusError && (e.code === 400 || e.code === 415), `a 400 Status for ${b.toString('hex')}, got ${String(e)}`);
        rejected++;
      }
    }
    assert.ok(rejected > variants.length / 2, `most corruptions are rejected (${rejected} of ${variants.length})`);
  });

  it('has a table for exactly Namespace, Service, Pod, Endpoints, ConfigMap, Secret, Deployment and ReplicaSet', () => {
    const supported = ['Namespace', 'Service', 'Pod', 'Endpoints', 'ConfigMap', 'Secret', 'Deployment', 'ReplicaSet', 'Lease', 'Node', 'EndpointSlice', 'Event'].filter((k) => protobufSupported(def(k)));
    assert.deepEqual(supported, ['Namespace', 'Service', 'Pod', 'Endpoints', 'ConfigMap', 'Secret', 'Deployment', 'ReplicaSet']);
  });

  it('refers only to messages that have tables', () => {
    for (const [name, spec] of MESSAGES) {
      for (const [num, f] of spec.fields) {
        if (typeof f.type === 'object' && 'message' in f.type) assert.ok(MESSAGES.has(f.type.message), `${name}.${f.json} (${num}) -> ${f.type.message}`);
      }
    }
  });
});
