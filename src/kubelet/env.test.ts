import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Pod, Container } from '../registry/kinds/pod.js';
import type { Service } from '../registry/kinds/service.js';
import { EnvError, containerArgv, containerEnv, envSourceNames, expand, fieldRefValue, serviceEnv, type EnvSources } from './env.js';

const svc = (ns: string, name: string, clusterIP: string, ports: Array<{ name?: string; port: number; protocol?: string }>): Service =>
  ({ metadata: { namespace: ns, name }, spec: { clusterIP, ports } }) as Service;
const pod = (extra: Partial<NonNullable<Pod['spec']>> = {}): Pod =>
  ({ metadata: { name: 'web-0', namespace: 'shop', uid: 'u-1', labels: { app: 'web' } }, spec: { nodeName: 'n1', containers: [], ...extra } }) as Pod;
const facts = { podIP: '198.19.1.2', hostIP: '198.19.255.11' };

describe('serviceEnv', () => {
  const services = [
    svc('shop', 'redis-primary', '198.18.0.20', [{ name: 'redis', port: 6379 }, { name: 'metrics', port: 9121, protocol: 'UDP' }]),
    svc('shop', 'headless', 'None', [{ port: 80 }]),
    svc('other', 'elsewhere', '198.18.0.30', [{ port: 80 }]),
    svc('default', 'kubernetes', '198.18.0.1', [{ name: 'https', port: 443 }]),
  ];
  const env = new Map(serviceEnv(pod(), services));
  const rows: Array<[string, string, string | undefined]> = [
    ['host of a Service in the namespace, dashes become underscores', 'REDIS_PRIMARY_SERVICE_HOST', '198.18.0.20'],
    ['the first port is the SERVICE_PORT', 'REDIS_PRIMARY_SERVICE_PORT', '6379'],
    ['each named port', 'REDIS_PRIMARY_SERVICE_PORT_METRICS', '9121'],
    ['docker link of the first port', 'REDIS_PRIMARY_PORT', 'tcp://198.18.0.20:6379'],
    ['docker link per port, lower-case protocol', 'REDIS_PRIMARY_PORT_9121_UDP', 'udp://198.18.0.20:9121'],
    ['docker link _PROTO', 'REDIS_PRIMARY_PORT_6379_TCP_PROTO', 'tcp'],
    ['docker link _PORT', 'REDIS_PRIMARY_PORT_6379_TCP_PORT', '6379'],
    ['docker link _ADDR', 'REDIS_PRIMARY_PORT_6379_TCP_ADDR', '198.18.0.20'],
    ['the master service from default is always there', 'KUBERNETES_SERVICE_HOST', '198.18.0.1'],
    ['a headless Service gives nothing', 'HEADLESS_SERVICE_HOST', undefined],
    ['a Service of another namespace gives nothing', 'ELSEWHERE_SERVICE_HOST', undefined],
  ];
  for (const [why, name, want] of rows) it(why, () => assert.equal(env.get(name), want));

  it('enableServiceLinks: false keeps only the master service', () => {
    const names = serviceEnv(pod({ enableServiceLinks: false }), services).map(([k]) => k);
    assert.ok(names.includes('KUBERNETES_SERVICE_HOST'));
    assert.ok(!names.includes('REDIS_PRIMARY_SERVICE_HOST'));
  });

  it('IPv6 addresses are bracketed in links', () => {
    const e = new Map(serviceEnv(pod(), [svc('shop', 'v6', 'fd00::10', [{ port: 80 }])]));
    assert.equal(e.get('V6_PORT'), 'tcp://[fd00::10]:80');
  });
});

describe('expand', () => {
  const vars = new Map([['A', 'x'], ['B', 'y']]);
  const rows: Array<[string, string, string]> = [
    ['a defined variable', '$(A)-$(B)', 'x-y'],
    ['an undefined one stays as written', '$(C)', '$(C)'],
    ['$$ escapes', '$$(A)', '$(A)'],
    ['a lone $ stays', 'cost $5', 'cost $5'],
    ['an unclosed reference stays', '$(A', '$(A'],
  ];
  for (const [why, input, want] of rows) it(why, () => assert.equal(expand(input, (n) => vars.get(n)), want));
});

describe('containerEnv', () => {
  const c: Container = {
    name: 'app',
    command: ['sh', '-c', 'echo $(GREETING)'],
    args: ['$(MY_POD)'],
    env: [
      { name: 'MY_POD', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
      { name: 'MY_NS', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
      { name: 'MY_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
      { name: 'APP', valueFrom: { fieldRef: { fieldPath: "metadata.labels['app']" } } },
      { name: 'GREETING', value: 'hi $(MY_POD) at $(MY_IP)' },
      { name: 'K8S', value: '$(KUBERNETES_SERVICE_HOST)' },
    ],
  };
  const env = containerEnv(pod(), c, [svc('default', 'kubernetes', '198.18.0.1', [{ port: 443 }])], facts, [['PATH', '/bin']]);
  const m = new Map(env);
  const rows: Array<[string, string, string | undefined]> = [
    ['fieldRef metadata.name', 'MY_POD', 'web-0'],
    ['fieldRef metadata.namespace', 'MY_NS', 'shop'],
    ['fieldRef status.podIP', 'MY_IP', '198.19.1.2'],
    ['fieldRef of a label', 'APP', 'web'],
    ['$(VAR) of earlier variables', 'GREETING', 'hi web-0 at 198.19.1.2'],
    ['$(VAR) of a Service variable', 'K8S', '198.18.0.1'],
    ['extra variables are kept', 'PATH', '/bin'],
  ];
  for (const [why, name, want] of rows) it(why, () => assert.equal(m.get(name), want));

  it('expands the command line from the environment', () => {
    assert.deepEqual(containerArgv(c, env), ['sh', '-c', 'echo hi web-0 at 198.19.1.2', 'web-0']);
  });
  it('has no command line without a command', () => {
    assert.equal(containerArgv({ name: 'x', image: 'nginx', args: ['a'] }, env), undefined);
  });
  const bad: Array<[string, Container, RegExp]> = [
    ['a secretKeyRef to a missing Secret', { name: 'x', env: [{ name: 'S', valueFrom: { secretKeyRef: { name: 's', key: 'k' } } }] }, /^secret "s" not found$/],
    ['envFrom a missing ConfigMap', { name: 'x', envFrom: [{ configMapRef: { name: 'c' } }] }, /^configmap "c" not found$/],
    ['a resourceFieldRef', { name: 'x', env: [{ name: 'S', valueFrom: { resourceFieldRef: { resource: 'limits.cpu' } } }] }, /resourceFieldRef is not supported/],
    ['an unknown fieldPath', { name: 'x', env: [{ name: 'S', valueFrom: { fieldRef: { fieldPath: 'spec.nope' } } }] }, /unsupported fieldRef\.fieldPath "spec\.nope"/],
  ];
  for (const [why, cont, message] of bad) {
    it(`refuses ${why} with CreateContainerConfigError`, () => assert.throws(() => containerEnv(pod(), cont, [], facts), (e: unknown) => e instanceof EnvError && e.code === 'CreateContainerConfigError' && message.test(e.message)));
  }
  it('reads spec.nodeName and status.hostIP', () => {
    assert.deepEqual([fieldRefValue(pod(), facts, 'spec.nodeName'), fieldRefValue(pod(), facts, 'status.hostIP')], ['n1', '198.19.255.11']);
  });
});

describe('containerEnv with ConfigMaps and Secrets', () => {
  const sources: EnvSources = {
    configMaps: new Map<string, Record<string, string> | undefined>([
      ['settings', { MODE: 'fast', 'log.level': 'debug', '1bad': 'x' }],
      ['gone', undefined],
    ]),
    secrets: new Map<string, Record<string, string> | undefined>([['creds', { user: 'admin', password: 's3cret' }]]),
  };
  const run = (c: Partial<Container>) => new Map(containerEnv(pod(), { name: 'x', ...c } as Container, [], facts, [], sources));

  it('envFrom: every valid key (with the prefix), ConfigMap and Secret; keys that are no variable names are skipped', () => {
    const env = run({ envFrom: [{ configMapRef: { name: 'settings' } }, { prefix: 'DB_', secretRef: { name: 'creds' } }] });
    assert.deepEqual(
      [...env].filter(([k]) => !k.startsWith('KUBERNETES')),
      [['MODE', 'fast'], ['log.level', 'debug'], ['DB_user', 'admin'], ['DB_password', 's3cret']],
    );
  });

  it('env overrides envFrom; configMapKeyRef and secretKeyRef read one key; $(VAR) sees them', () => {
    const env = run({
      envFrom: [{ configMapRef: { name: 'settings' } }],
      env: [
        { name: 'MODE', value: 'slow' },
        { name: 'LEVEL', valueFrom: { configMapKeyRef: { name: 'settings', key: 'log.level' } } },
        { name: 'PASS', valueFrom: { secretKeyRef: { name: 'creds', key: 'password' } } },
        { name: 'DSN', value: 'user:$(PASS)@db' },
      ],
    });
    assert.deepEqual([env.get('MODE'), env.get('LEVEL'), env.get('PASS'), env.get('DSN')], ['slow', 'debug', 's3cret', 'user:s3cret@db']);
  });

  it('optional sources and keys that are missing are left out', () => {
    const env = run({
      envFrom: [{ configMapRef: { name: 'gone', optional: true } }],
      env: [
        { name: 'A', valueFrom: { configMapKeyRef: { name: 'gone', key: 'k', optional: true } } },
        { name: 'B', valueFrom: { secretKeyRef: { name: 'creds', key: 'nope', optional: true } } },
      ],
    });
    assert.deepEqual([env.has('A'), env.has('B')], [false, false]);
  });

  it("a missing key that is not optional: kubelet's error", () => {
    assert.throws(
      () => run({ env: [{ name: 'A', valueFrom: { configMapKeyRef: { name: 'settings', key: 'nope' } } }] }),
      (e: unknown) => e instanceof EnvError && e.message === "couldn't find key nope in ConfigMap shop/settings",
    );
  });

  it('names the sources a container refers to', () => {
    const names = envSourceNames({
      name: 'x',
      envFrom: [{ configMapRef: { name: 'a' } }, { secretRef: { name: 'b' } }],
      env: [{ name: 'X', valueFrom: { configMapKeyRef: { name: 'c', key: 'k' } } }, { name: 'Y', valueFrom: { secretKeyRef: { name: 'b', key: 'k' } } }],
    } as Container);
    assert.deepEqual([[...names.configMaps], [...names.secrets]], [['a', 'c'], ['b']]);
  });
});
