// The IPVS data plane's tests need a kernel with IP_VS, which this machine's is not: on the host
// this file boots a VM (test/vm/qemu.ts, Debian's kernel under qemu) once and runs itself inside,
// replaying the inner results as subtests. When the VM cannot run, the host test fails and says why.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { IN_VM, mirrorInVm } from '../vm/mirror.js';
import { Proc, run, runOk } from './plan.js';
import { scenarioSuite } from './topology.js';
import { schedulerTests } from './ipvs-schedulers.js';
import { ipv6Tests } from './ipv6.js';

if (!IN_VM) {
  mirrorInVm('IPVS tests inside a VM (Debian kernel under qemu)', fileURLToPath(import.meta.url), { timeoutMs: 20 * 60_000 });
} else {
  schedulerTests();
  ipv6Tests({ mode: 'ipvs' });
  scenarioSuite('ipvs');

  describe('the VM kernel', () => {
    const id = randomBytes(3).toString('hex');
    const node = `pt-${id}-node`;
    const srv = `pt-${id}-srv`;
    const procs: Proc[] = [];
    after(async () => {
      for (const p of procs) await p.stop();
      for (const ns of [srv, node]) await run(['ip', 'netns', 'del', ns]);
    });

    it('IPVS forwards a connection to a virtual IP to a real server in another namespace', async () => {
      for (const ns of [node, srv]) {
        await runOk(['ip', 'netns', 'add', ns]);
        await runOk(['ip', '-n', ns, 'link', 'set', 'lo', 'up']);
      }
      await runOk(['ip', '-n', node, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', srv]);
      await runOk(['ip', '-n', node, 'addr', 'add', '198.19.255.1/24', 'dev', 'eth0']);
      await runOk(['ip', '-n', srv, 'addr', 'add', '198.19.255.2/24', 'dev', 'eth0']);
      for (const ns of [node, srv]) await runOk(['ip', '-n', ns, 'link', 'set', 'eth0', 'up']);
      // A connection from the node itself leaves with the virtual IP as its source: replies must route back.
      await runOk(['ip', '-n', srv, 'route', 'add', 'default', 'via', '198.19.255.1']);
      await runOk(['ip', '-n', node, 'link', 'add', 'vips', 'type', 'dummy']);
      await runOk(['ip', '-n', node, 'addr', 'add', '198.18.0.1/32', 'dev', 'vips']);
      const server = new Proc('server', ['ip', 'netns', 'exec', srv, process.execPath, '-e',
        "require('http').createServer((q, s) => s.end('real server ' + q.socket.remoteAddress)).listen(8080, () => console.log('listening'))"]);
      procs.push(server);
      await server.waitFor(/listening/);
      await runOk(['ip', 'netns', 'exec', node, 'ipvsadm', '-A', '-t', '198.18.0.1:80', '-s', 'rr']);
      await runOk(['ip', 'netns', 'exec', node, 'ipvsadm', '-a', '-t', '198.18.0.1:80', '-r', '198.19.255.2:8080', '-m']);
      const body = await runOk(['ip', 'netns', 'exec', node, 'curl', '-sS', '-m', '10', 'http://198.18.0.1/']);
      assert.match(body, /^real server /);
      // The connection table, not --stats: the kernel folds per-CPU counters into the totals only every 2 s.
      const conns = await runOk(['ip', 'netns', 'exec', node, 'ipvsadm', '-Lnc']);
      assert.match(conns, /TCP\s+\S+\s+\S+\s+\S+\s+198\.18\.0\.1:80\s+198\.19\.255\.2:8080/, conns);
    });
  });
}
