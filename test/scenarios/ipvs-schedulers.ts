// IPVS scheduler behaviour, inside the VM, programmed through the agent's own IpvsApplier:
//
//   cli (198.19.2.1-3) ── node (IPVS, portico-ipvs0 with 198.18.0.10) ── srv (198.19.1.1-3)
//
// One TCP server process in srv listens on every address and answers each connection with the
// address it was reached on (the real server IPVS chose), keeping the connection open until the
// client closes it. One client process in cli opens connections from a given source address, in
// order, holding some open, and prints which real server answered each.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Proc, run, runOk } from './plan.js';
import { IpvsApplier } from '../../src/proxy/ipvs/apply.js';
import type { IpvsScheduler } from '../../src/proxy/ipvs/render.js';
import { spawnExec, type Exec } from '../../src/proxy/exec.js';
import { ep, modelOf, sport } from '../../src/proxy/testing.js';

const VIP = '198.18.0.10';
const PORT = 7000;
const REALS = ['198.19.1.1', '198.19.1.2', '198.19.1.3'];
const SOURCES = ['198.19.2.1', '198.19.2.2', '198.19.2.3'];

const SERVER = `
const net = require('net');
net.createServer((s) => { s.on('error', () => {}); s.write(s.localAddress + '\\n'); s.on('data', () => {}); s.on('end', () => s.end()); })
  .listen(${PORT}, '0.0.0.0', () => console.log('listening'));
`;

// argv[1]: JSON [{src, hold}], in order. Prints a JSON array of the answering real servers.
const CLIENT = `
const net = require('net');
const ops = JSON.parse(process.argv[1]);
const held = [];
(async () => {
  const out = [];
  for (const op of ops) {
    out.push(await new Promise((res, rej) => {
      const s = net.connect({ host: '${VIP}', port: ${PORT}, localAddress: op.src });
      s.setEncoding('utf8');
      let buf = '';
      s.on('error', rej);
      s.on('data', (d) => {
        buf += d;
        const nl = buf.indexOf('\\n');
        if (nl < 0) return;
        if (op.hold) held.push(s); else s.end();
        res(buf.slice(0, nl));
      });
      setTimeout(() => rej(new Error('no answer in 10 s')), 10000).unref();
    }));
  }
  console.log(JSON.stringify(out));
  for (const s of held) s.end();
})().catch((e) => { console.error(e.message); process.exit(1); });
`;

export function schedulerTests(): void {
  describe('IPVS schedulers (VM kernel, programmed by the IPVS applier)', () => {
    const id = randomBytes(3).toString('hex');
    const ns = { cli: `pt-${id}-scli`, node: `pt-${id}-snode`, srv: `pt-${id}-ssrv` };
    const procs: Proc[] = [];
    const exec: Exec = (argv, stdin) => spawnExec(['ip', 'netns', 'exec', ns.node, ...argv], stdin);
    const node = { nodeName: 'node-a', nodeIPs: ['198.19.1.254'], nodePortAddresses: [], clusterCIDR: '', masqueradeAll: false };

    before(async () => {
      for (const n of Object.values(ns)) {
        await runOk(['ip', 'netns', 'add', n]);
        await runOk(['ip', '-n', n, 'link', 'set', 'lo', 'up']);
      }
      await runOk(['ip', 'netns', 'exec', ns.node, 'sysctl', '-q', '-w', 'net.ipv4.ip_forward=1']);
      for (const [peer, net] of [[ns.srv, '198.19.1'], [ns.cli, '198.19.2']] as const) {
        const dev = peer === ns.srv ? 'to-srv' : 'to-cli';
        await runOk(['ip', '-n', ns.node, 'link', 'add', dev, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', peer]);
        await runOk(['ip', '-n', ns.node, 'addr', 'add', `${net}.254/24`, 'dev', dev]);
        await runOk(['ip', '-n', ns.node, 'link', 'set', dev, 'up']);
        for (let i = 1; i <= 3; i++) await runOk(['ip', '-n', peer, 'addr', 'add', `${net}.${i}/24`, 'dev', 'eth0']);
        await runOk(['ip', '-n', peer, 'link', 'set', 'eth0', 'up']);
        await runOk(['ip', '-n', peer, 'route', 'add', 'default', 'via', `${net}.254`]);
      }
      const server = new Proc('scheduler test server', ['ip', 'netns', 'exec', ns.srv, process.execPath, '-e', SERVER]);
      procs.push(server);
      await server.waitFor(/listening/);
    });
    after(async () => {
      for (const p of procs) await p.stop();
      await run(['ip', 'netns', 'exec', ns.node, 'ipvsadm', '-C']);
      for (const n of Object.values(ns)) await run(['ip', 'netns', 'del', n]);
    });

    /** Programs the Service with this scheduler and weights, through a fresh applier (a full sync). */
    async function program(scheduler: IpvsScheduler, weights: Record<string, number> = {}): Promise<void> {
      const applier = new IpvsApplier({ exec, scheduler: 'rr', schedulerFor: () => scheduler, weightsFor: () => new Map(Object.entries(weights)) });
      const model = modelOf([sport({ name: 'sched', clusterIP: VIP, port: PORT, endpoints: REALS.map((ip) => ep(ip, PORT)) })]);
      await applier.sync(model, node);
      const listed = await runOk(['ip', 'netns', 'exec', ns.node, 'ipvsadm', '-Ln', '-t', `${VIP}:${PORT}`]);
      assert.match(listed, new RegExp(`TCP\\s+${VIP.replace(/\./g, '\\.')}:${PORT} ${scheduler}\\b`), listed);
    }

    async function connect(ops: Array<{ src: string; hold?: boolean }>): Promise<string[]> {
      const out = await runOk(['ip', 'netns', 'exec', ns.cli, process.execPath, '-e', CLIENT, JSON.stringify(ops)], { boundMs: 120_000 });
      return JSON.parse(out) as string[];
    }

    const count = (xs: string[]) => Object.fromEntries(REALS.map((r) => [r, xs.filter((x) => x === r).length]));

    it('rr: new connections go to each real server in turn', async () => {
      await program('rr');
      const got = await connect(Array.from({ length: 12 }, () => ({ src: SOURCES[0]! })));
      assert.equal(new Set(got.slice(0, 3)).size, 3, `the first three differ: ${got}`);
      got.forEach((g, i) => assert.equal(g, got[i % 3], `connection ${i} breaks the cycle: ${got}`));
    });

    it('wrr: connections follow the weights (3:1:0)', async () => {
      await program('wrr', { [REALS[0]!]: 3, [REALS[1]!]: 1, [REALS[2]!]: 0 });
      const got = await connect(Array.from({ length: 40 }, () => ({ src: SOURCES[0]! })));
      // wrr is deterministic: every 4 connections, 3 to weight 3 and 1 to weight 1, none to weight 0.
      assert.deepEqual(count(got), { [REALS[0]!]: 30, [REALS[1]!]: 10, [REALS[2]!]: 0 }, got.join(' '));
    });

    it('sh: each client address stays on one real server', async () => {
      await program('sh');
      const ops = Array.from({ length: 24 }, (_, i) => ({ src: SOURCES[i % 3]! }));
      const got = await connect(ops);
      for (const src of SOURCES) {
        const mine = got.filter((_, i) => ops[i]!.src === src);
        assert.equal(new Set(mine).size, 1, `client ${src} was spread over ${[...new Set(mine)]}`);
      }
    });

    it('lc: a busy real server gets no new connection while others have fewer', async () => {
      await program('lc');
      // The first connection is held open: its server has an active connection (lc cost 256), the
      // others none; each short one after it adds an inactive connection (cost 1) where it went.
      const got = await connect([{ src: SOURCES[0]!, hold: true }, ...Array.from({ length: 12 }, () => ({ src: SOURCES[1]! }))]);
      const held = got[0]!;
      const later = got.slice(1);
      assert.ok(!later.includes(held), `lc sent a new connection to ${held}, which holds an open connection, while the others were idle: ${later}`);
      assert.deepEqual(new Set(later).size, 2, `the two idle servers share the short connections: ${later}`);
    });
  });
}
