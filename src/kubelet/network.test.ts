import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { allocateLoopbackIP, allocatePodIP, gatewayOf, hostsFile, podNetnsName, podVethName, resolvConf } from './network.js';
import { containerCommand, terminationOf } from './process.js';

describe('pod addresses', () => {
  const rows: Array<[string, string, string[], string | undefined]> = [
    ['the first pod takes .2 (.1 is the bridge)', '198.19.1.0/24', [], '198.19.1.2'],
    ['addresses in use are skipped', '198.19.1.0/24', ['198.19.1.2', '198.19.1.3'], '198.19.1.4'],
    ['a freed address is taken again', '198.19.1.0/24', ['198.19.1.3'], '198.19.1.2'],
    ['never the broadcast address', '198.19.1.0/30', ['198.19.1.2'], undefined],
  ];
  for (const [why, cidr, used, want] of rows) it(why, () => assert.equal(allocatePodIP(cidr, new Set(used)), want));
  it('the bridge holds the first address with the range prefix', () => assert.deepEqual(gatewayOf('198.19.7.0/24'), { ip: '198.19.7.1', prefix: 24 }));
  it('loopback identities start at 127.0.0.2', () => assert.equal(allocateLoopbackIP(new Set(['127.0.0.2'])), '127.0.0.3'));
  it('names are bounded and deterministic', () => {
    assert.equal(podNetnsName('pt-', 'uid-1'), podNetnsName('pt-', 'uid-1'));
    assert.notEqual(podNetnsName('pt-', 'uid-1'), podNetnsName('pt-', 'uid-2'));
    assert.ok(podVethName('a-very-long-uid-0000-1111-2222').length <= 15);
  });
});

describe('resolv.conf', () => {
  const dns = { nameservers: ['198.18.0.10'], domain: 'cluster.local' };
  const rows: Array<[string, object, string]> = [
    ['ClusterFirst: cluster DNS, the search path and ndots:5', { metadata: { namespace: 'shop' }, spec: {} }, 'nameserver 198.18.0.10\nsearch shop.svc.cluster.local svc.cluster.local cluster.local\noptions ndots:5\n'],
    ['dnsConfig adds servers, searches and options', { metadata: { namespace: 'a' }, spec: { dnsConfig: { nameservers: ['198.19.0.53'], searches: ['corp.example'], options: [{ name: 'ndots', value: '2' }, { name: 'edns0' }] } } }, 'nameserver 198.18.0.10\nnameserver 198.19.0.53\nsearch a.svc.cluster.local svc.cluster.local cluster.local corp.example\noptions ndots:2 edns0\n'],
    ['None: dnsConfig alone', { metadata: { namespace: 'a' }, spec: { dnsPolicy: 'None', dnsConfig: { nameservers: ['198.19.0.53'] } } }, 'nameserver 198.19.0.53\n'],
    ['Default: the node\'s own', { metadata: { namespace: 'a' }, spec: { dnsPolicy: 'Default' } }, 'nameserver 127.0.0.53\n'],
  ];
  for (const [why, pod, want] of rows) it(why, () => assert.equal(resolvConf(pod, dns, 'nameserver 127.0.0.53\n'), want));
  it('hosts names the pod, with its FQDN under a subdomain', () => {
    assert.match(hostsFile('198.19.1.2', 'web-0', 'web-0.web.shop.svc.cluster.local'), /^198\.19\.1\.2\tweb-0\.web\.shop\.svc\.cluster\.local\tweb-0$/m);
  });
});

describe('container processes', () => {
  it('as root: the pod netns, a UTS namespace, the wrapper, then the command', () => {
    const argv = containerCommand({ argv: ['node', 'app.js'], exitFile: '/s/0.exit', netns: 'pt-abc', hostname: 'web-0' });
    assert.deepEqual(argv.slice(0, 8), ['ip', 'netns', 'exec', 'pt-abc', 'unshare', '--uts', '--', 'sh']);
    assert.deepEqual(argv.slice(-5), ['portico-container', 'web-0', '/s/0.exit', 'node', 'app.js']);
  });
  it('without a netns: the wrapper only, hostname untouched', () => {
    const argv = containerCommand({ argv: ['x'], exitFile: '/e', hostname: 'web-0' });
    assert.deepEqual([argv[0], ...argv.slice(-4)], ['sh', 'portico-container', '', '/e', 'x']);
  });
  const rows: Array<[string, number | undefined, string, number, number | undefined]> = [
    ['exit 0 is Completed', 0, 'Completed', 0, undefined],
    ['a non-zero exit is Error', 3, 'Error', 3, undefined],
    ['128+15 is SIGTERM', 143, 'Error', 143, 15],
    ['no status written: killed', undefined, 'Error', 137, 9],
  ];
  for (const [why, st, reason, code, sig] of rows) {
    it(why, () => {
      const t = terminationOf(st);
      assert.deepEqual([t.reason, t.exitCode, t.signal], [reason, code, sig]);
    });
  }
});
