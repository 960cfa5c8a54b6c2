// IPv6 Services through the iptables and IPVS data planes (the shared suite's topology is IPv4):
// a node namespace with a pod namespace behind it and a client namespace on another link, all
// IPv6 (fd00::/8, addresses without duplicate address detection so they are usable at once). The
// applier programs the node directly (root), then connections to IPv6 cluster IPs must reach the
// IPv6 endpoints, from the node itself and from the client through the node, and a dual-stack
// Service must answer on both families. Cleanup must leave no Portico rule in ip6tables.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { IptApplier, type Variant } from '../../src/proxy/iptables/apply.js';
import { IpvsApplier } from '../../src/proxy/ipvs/apply.js';
import type { Exec } from '../../src/proxy/exec.js';
import type { NodeState } from '../../src/proxy/model.js';
import { ep, modelOf, sport } from '../../src/proxy/testing.js';
import { Proc, run, runOk } from './plan.js';

export type Ipv6Plane = { mode: 'iptables'; variant: Variant } | { mode: 'ipvs' };

export function ipv6Tests(plane: Ipv6Plane): void {
  const label = plane.mode === 'ipvs' ? 'ipvs' : `iptables-${plane.variant}`;
  describe(`IPv6 Services (${label})`, () => {
    const id = randomBytes(3).toString('hex');
    const NS = { node: `p6-${id}-node`, pod: `p6-${id}-pod`, cli: `p6-${id}-cli` };
    const procs: Proc[] = [];
    after(async () => {
      for (const p of procs) await p.stop();
      for (const ns of Object.values(NS)) await run(['ip', 'netns', 'del', ns]);
    });
    const exec: Exec = async (argv, stdin) => {
      const r = await run(['ip', 'netns', 'exec', NS.node, ...argv], { input: stdin, boundMs: 120_000 });
      return { code: r.code ?? 1, stdout: r.stdout, stderr: r.stderr };
    };
    const ip = (ns: string, args: string) => runOk(['ip', '-n', ns, ...args.split(' ')]);
    const curl = (ns: string, url: string) => runOk(['ip', 'netns', 'exec', ns, 'curl', '-g', '-sS', '-m', '10', url]);

    it('IPv6 cluster IPs reach IPv6 endpoints from the node and through it; a dual-stack Service answers on both families', async () => {
      for (const ns of Object.values(NS)) {
        await runOk(['ip', 'netns', 'add', ns]);
        await ip(ns, 'link set lo up');
      }
      await runOk(['ip', '-n', NS.node, 'link', 'add', 'pods', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', NS.pod]);
      await runOk(['ip', '-n', NS.node, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', NS.cli]);
      await ip(NS.node, 'addr add fd00:19::ffff/64 dev pods nodad');
      await ip(NS.node, 'addr add 198.19.1.254/24 dev pods');
      await ip(NS.node, 'addr add fd00:255::1/64 dev eth0 nodad');
      await ip(NS.pod, 'addr add fd00:19::1/64 dev eth0 nodad');
      await ip(NS.pod, 'addr add fd00:19::2/64 dev eth0 nodad');
      await ip(NS.pod, 'addr add 198.19.1.1/24 dev eth0');
      await ip(NS.cli, 'addr add fd00:255::2/64 dev eth0 nodad');
      for (const [ns, dev] of [[NS.node, 'pods'], [NS.node, 'eth0'], [NS.pod, 'eth0'], [NS.cli, 'eth0']] as const) await ip(ns, `link set ${dev} up`);
      await ip(NS.pod, 'route add default via fd00:19::ffff');
      await ip(NS.pod, 'route add default via 198.19.1.254');
      await ip(NS.cli, 'route add fd00:18::/112 via fd00:255::1');
      // As on a real node: a default route, so the node's own connections to a cluster IP that is
      // not local (iptables mode) are routed before OUTPUT's DNAT rewrites them.
      await ip(NS.node, '-6 route add default via fd00:255::2');
      await ip(NS.node, 'route add default dev eth0');
      await runOk(['ip', 'netns', 'exec', NS.node, 'sysctl', '-q', '-w', 'net.ipv6.conf.all.forwarding=1', 'net.ipv4.ip_forward=1']);

      const server = new Proc('server', ['ip', 'netns', 'exec', NS.pod, process.execPath, '-e',
        "require('http').createServer((q, s) => s.end('served by ' + q.socket.localAddress)).listen(8080, '::', () => console.log('listening'))"]);
      procs.push(server);
      await server.waitFor(/listening/);

      const node: NodeState = { nodeName: 'node-a', nodeIPs: ['198.19.1.254', 'fd00:255::1'], nodePortAddresses: [], clusterCIDR: '198.19.0.0/16', masqueradeAll: false };
      const model = modelOf([
        sport({ name: 'v6', clusterIPs: ['fd00:18::10'], endpoints: [ep('fd00:19::1', 8080), ep('fd00:19::2', 8080)] }),
        sport({ name: 'dual', clusterIPs: ['198.18.0.20', 'fd00:18::20'], endpoints: [ep('198.19.1.1', 8080), ep('fd00:19::1', 8080)] }),
      ]);
      const ipt = plane.mode === 'iptables' ? new IptApplier({ exec, variant: plane.variant }) : new IptApplier({ exec });
      const ipvs = plane.mode === 'ipvs' ? new IpvsApplier({ exec, scheduler: 'rr' }) : undefined;
      if (ipvs) await ipvs.sync(model, node);
      else await ipt.sync(model, node);

      const seen = new Set<string>();
      for (let i = 0; i < 6; i++) {
        const body = await curl(NS.node, 'http://[fd00:18::10]/');
        assert.match(body, /^served by fd00:19::[12]$/, 'from the node');
        seen.add(body);
      }
      assert.equal(seen.size, 2, `both IPv6 endpoints are used: ${[...seen].join(', ')}`);
      assert.match(await curl(NS.cli, 'http://[fd00:18::10]/'), /^served by fd00:19::[12]$/, 'from another host through the node');
      assert.equal(await curl(NS.node, 'http://[fd00:18::20]/'), 'served by fd00:19::1', 'dual-stack, IPv6');
      assert.match(await curl(NS.node, 'http://198.18.0.20/'), /^served by (::ffff:)?198\.19\.1\.1$/, 'dual-stack, IPv4');
      if (ipvs) {
        const list = await runOk(['ip', 'netns', 'exec', NS.node, 'ipvsadm', '-Ln']);
        assert.match(list, /TCP\s+\[fd00:18::10\]:80 rr\n\s+-> \[fd00:19::1\]:8080\s+Masq/);
        assert.match(await runOk(['ip', 'netns', 'exec', NS.node, 'ipset', 'list', '-n']), /^PORTICO-6-CLUSTER-IP$/m);
      }
      const save6 = await runOk(['ip', 'netns', 'exec', NS.node, plane.mode === 'iptables' && plane.variant === 'legacy' ? 'ip6tables-legacy-save' : 'ip6tables-save']);
      assert.match(save6, /PORTICO-SERVICES/, 'ip6tables holds the rules');

      // Cleanup (as the agent's --cleanup: the iptables part first, it references the sets).
      await ipt.cleanup();
      if (ipvs) await ipvs.cleanupIpvs();
      const after6 = await runOk(['ip', 'netns', 'exec', NS.node, plane.mode === 'iptables' && plane.variant === 'legacy' ? 'ip6tables-legacy-save' : 'ip6tables-save']);
      assert.doesNotMatch(after6, /PORTICO/);
      if (ipvs) assert.equal((await runOk(['ip', 'netns', 'exec', NS.node, 'ipvsadm', '-Sn'])).trim(), '');
    });
  });
}
