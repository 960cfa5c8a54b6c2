// The long fuzz run of issue 5: at least 1,000,000 random and mutated packets against a live
// server process (bench/dns/serve.js), most over UDP and a share as TCP frames, then a
// correctness check with real queries. A crash is the server process (or one of its UDP workers)
// exiting; a hang is a real query that goes unanswered between two batches.
// Usage: node dist/bench/dns/fuzz.js [--packets 1000000] [--tcp-share 0.05] [--workers 1]
//        [--deadline-s 600] [--seed 1]    Writes bench/dns/fuzz-results-<date>-w<workers>.json.
import { spawn } from 'node:child_process';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { connect } from 'node:net';
import { readFileSync, writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { RCODE, TYPE, buildQuery, decodeMessage, reverseName, type Message } from '../../src/dns/wire.js';

const { values: args } = parseArgs({
  options: {
    packets: { type: 'string', default: '1000000' },
    'tcp-share': { type: 'string', default: '0.05' },
    workers: { type: 'string', default: '1' },
    'deadline-s': { type: 'string', default: '600' },
    seed: { type: 'string', default: '1' },
  },
});
const TOTAL = Number(args.packets);
const TCP_SHARE = Number(args['tcp-share']);
const DEADLINE_MS = Number(args['deadline-s']) * 1000;
const UDP_BATCH = 100;
const TCP_BATCH = 200;

// xorshift32: the same packets for the same seed.
let state = Number(args.seed) >>> 0 || 1;
function rnd(n: number): number {
  state ^= state << 13;
  state >>>= 0;
  state ^= state >>> 17;
  state ^= state << 5;
  state >>>= 0;
  return state % n;
}

const ZONE_NAMES = ['svc-7.bench.svc.cluster.local', '_http._tcp.svc-7.bench.svc.cluster.local', reverseName('198.18.0.7')!, 'nope.bench.svc.cluster.local', 'cluster.local', 'dns-version.cluster.local', 'bench.svc.cluster.local', '198-19-0-1.bench.pod.cluster.local'];
const TYPES = [TYPE.A, TYPE.AAAA, TYPE.SRV, TYPE.PTR, TYPE.TXT, TYPE.SOA, TYPE.NS, TYPE.CNAME, TYPE.ANY, TYPE.AXFR, TYPE.IXFR, TYPE.OPT, 0, 65535];

function validQuery(): Buffer {
  return buildQuery(rnd(65536), ZONE_NAMES[rnd(ZONE_NAMES.length)]!, TYPES[rnd(TYPES.length)]!, rnd(4) === 0 ? rnd(70000) : 1232);
}

/** A header (QR clear, one question unless told) followed by `body`. */
function withHeader(body: Buffer, counts: [number, number, number, number] = [1, 0, 0, 0], flags = 0x0100): Buffer {
  const h = Buffer.alloc(12);
  h.writeUInt16BE(rnd(65536), 0);
  h.writeUInt16BE(flags, 2);
  counts.forEach((c, i) => h.writeUInt16BE(c, 4 + 2 * i));
  return Buffer.concat([h, body]);
}

const QTAIL = Buffer.from([0, 1, 0, 1]);
const KINDS = ['random', 'mutated', 'truncated', 'compression', 'labels', 'counts', 'opt', 'valid'] as const;
type Kind = (typeof KINDS)[number];

function opt(udp: number, version: number, rdlen: number, rdata: Buffer, name = Buffer.from([0])): Buffer {
  const b = Buffer.alloc(10);
  b.writeUInt16BE(TYPE.OPT, 0);
  b.writeUInt16BE(udp, 2);
  b.writeUInt8(0, 4);
  b.writeUInt8(version, 5);
  b.writeUInt16BE(rnd(65536) & 0x8000, 6);
  b.writeUInt16BE(rdlen, 8);
  return Buffer.concat([name, b, rdata]);
}

function packet(kind: Kind): Buffer {
  switch (kind) {
    case 'random': {
      const p = Buffer.alloc(rnd(600));
      for (let j = 0; j < p.length; j++) p[j] = rnd(256);
      if (p.length >= 3 && rnd(8) !== 0) p[2] = p[2]! & 0x7f; // mostly "queries", to get past the QR check
      return p;
    }
    case 'mutated': {
      const p = validQuery();
      for (let k = rnd(6) + 1; k > 0; k--) p[rnd(p.length)] = rnd(256);
      return p;
    }
    case 'truncated': {
      const p = validQuery();
      return p.subarray(0, rnd(p.length));
    }
    case 'compression': {
      switch (rnd(5)) {
        case 0: return withHeader(Buffer.concat([Buffer.from([0xc0, 12]), QTAIL])); // points at itself
        case 1: return withHeader(Buffer.concat([Buffer.from([1, 0x61, 0xc0, 12]), QTAIL])); // loops through a label
        case 2: return withHeader(Buffer.concat([Buffer.from([0xc0, 16, 0, 0, 0xc0, 12]), QTAIL])); // forward pointer
        case 3: return withHeader(Buffer.concat([Buffer.from([0xc0 | rnd(64), rnd(256)]), QTAIL])); // anywhere
        default: { // answer-section name pointing at itself
          const q = buildQuery(rnd(65536), ZONE_NAMES[0]!, TYPE.A, 0).subarray(0, -11);
          q.writeUInt16BE(1, 6);
          q.writeUInt16BE(0, 10);
          const at = q.length;
          const rr = Buffer.from([0xc0 | (at >> 8), at & 255, 0, 1, 0, 1, 0, 0, 0, 30, 0, 4, 1, 2, 3, 4]);
          return Buffer.concat([q, rr]);
        }
      }
    }
    case 'labels': {
      switch (rnd(4)) {
        case 0: return withHeader(Buffer.concat([Buffer.from([63 + rnd(2), 0x61, 0x62]), QTAIL])); // length past the end
        case 1: return withHeader(Buffer.concat([Buffer.from([0x40 | rnd(64), 0x61]), Buffer.from([0]), QTAIL])); // reserved 01 type
        case 2: return withHeader(Buffer.concat([Buffer.from([0x80 | rnd(64), 0x61]), Buffer.from([0]), QTAIL])); // reserved 10 type
        default: { // a name longer than 255 octets
          const parts: Buffer[] = [];
          for (let i = 0; i < 5; i++) parts.push(Buffer.from([63]), Buffer.alloc(63, 0x61));
          return withHeader(Buffer.concat([...parts, Buffer.from([0]), QTAIL]));
        }
      }
    }
    case 'counts': {
      const p = validQuery();
      p.writeUInt16BE(rnd(3) === 0 ? 65535 : rnd(65536), 4 + 2 * rnd(4));
      return p;
    }
    case 'opt': {
      const q = buildQuery(rnd(65536), ZONE_NAMES[rnd(ZONE_NAMES.length)]!, TYPE.A, 0).subarray(0, -11); // without its OPT
      const body = q.subarray(12);
      switch (rnd(7)) {
        case 0: return withHeader(Buffer.concat([body, opt(1232, 0, 0, Buffer.alloc(0)), opt(1232, 0, 0, Buffer.alloc(0))]), [1, 0, 0, 2]); // two OPTs
        case 1: return withHeader(Buffer.concat([body, opt(1232, 0, 0, Buffer.alloc(0), Buffer.from([1, 0x61, 0]))]), [1, 0, 0, 1]); // non-root owner
        case 2: return withHeader(Buffer.concat([body, opt(1232, 0, 40, Buffer.alloc(4))]), [1, 0, 0, 1]); // rdlen past the end
        case 3: return withHeader(Buffer.concat([body, opt(1232, 1 + rnd(255), 0, Buffer.alloc(0))]), [1, 0, 0, 1]); // EDNS version > 0
        case 4: return withHeader(Buffer.concat([body, opt(rnd(512), 0, 0, Buffer.alloc(0))]), [1, 0, 0, 1]); // tiny UDP size
        case 5: return withHeader(Buffer.concat([body, opt(1232, 0, 0, Buffer.alloc(0))]), [1, 1, 0, 0]); // OPT in the answer section
        default: return withHeader(Buffer.concat([body, opt(1232, 0, 8, Buffer.from([0, 10, 0, 40, 1, 2, 3, 4]))]), [1, 0, 0, 1]); // option longer than rdata
      }
    }
    case 'valid':
      return validQuery();
  }
}

function ask(sock: UdpSocket, port: number, q: Buffer, timeoutMs: number): Promise<Buffer | undefined> {
  const id = q.readUInt16BE(0);
  return new Promise((resolve) => {
    const onMsg = (m: Buffer): void => {
      if (m.length >= 2 && m.readUInt16BE(0) === id) done(m);
    };
    const t = setTimeout(() => done(undefined), timeoutMs);
    const done = (m: Buffer | undefined): void => {
      clearTimeout(t);
      sock.off('message', onMsg);
      resolve(m);
    };
    sock.on('message', onMsg);
    sock.send(q, port, '127.0.0.1');
  });
}

/** A real query that must come back; three tries of 2 s each before calling it a hang. */
async function sentinel(sock: UdpSocket, port: number): Promise<boolean> {
  for (let i = 0; i < 3; i++) {
    const ans = await ask(sock, port, buildQuery(0xbeef, 'svc-7.bench.svc.cluster.local', TYPE.A), 2000);
    if (ans) return true;
  }
  return false;
}

function tcpExchange(port: number, frames: Buffer[], wantId: number): Promise<{ replies: number; sawSentinel: boolean }> {
  return new Promise((resolve) => {
    let replies = 0;
    let acc = Buffer.alloc(0);
    let saw = false;
    const c = connect(port, '127.0.0.1');
    const t = setTimeout(() => c.destroy(), 10000);
    c.on('connect', () => {
      // Mixed framing: most frames in one write, some split across writes.
      const whole = Buffer.concat(frames);
      const cut = rnd(whole.length);
      c.write(whole.subarray(0, cut));
      c.end(whole.subarray(cut)); // the server closes once it has answered what it could frame
    });
    c.on('data', (d: Buffer) => {
      acc = Buffer.concat([acc, d]);
      while (acc.length >= 2 && acc.length >= 2 + acc.readUInt16BE(0)) {
        const len = acc.readUInt16BE(0);
        replies++;
        if (len >= 2 && acc.readUInt16BE(2) === wantId) saw = true;
        acc = acc.subarray(2 + len);
      }
    });
    c.on('error', () => undefined);
    c.on('close', () => {
      clearTimeout(t);
      resolve({ replies, sawSentinel: saw });
    });
  });
}

function frame(p: Buffer): Buffer {
  const f = Buffer.alloc(p.length + 2);
  f.writeUInt16BE(p.length, 0);
  p.copy(f, 2);
  return f;
}

function udpRcvbufErrors(): number {
  const lines = readFileSync('/proc/net/snmp', 'utf8').split('\n').filter((l) => l.startsWith('Udp:'));
  const [names, vals] = [lines[0]?.split(/\s+/) ?? [], lines[1]?.split(/\s+/) ?? []];
  const i = names.indexOf('RcvbufErrors');
  return i >= 0 ? Number(vals[i]) : NaN;
}

function check(m: Message | undefined, rcode: number, pred: (m: Message) => boolean): boolean {
  return m !== undefined && m.rcode === rcode && pred(m);
}

async function correctness(sock: UdpSocket, port: number): Promise<Record<string, boolean>> {
  const q = async (name: string, type: number): Promise<Message | undefined> => {
    const a = await ask(sock, port, buildQuery(rnd(65536), name, type), 2000);
    return a ? decodeMessage(a) : undefined;
  };
  const tcpA = await tcpExchange(port, [frame(buildQuery(0x1234, 'svc-9.bench.svc.cluster.local', TYPE.A))], 0x1234);
  return {
    'A svc-7 = 198.18.0.7': check(await q('svc-7.bench.svc.cluster.local', TYPE.A), RCODE.NOERROR, (m) => m.answers.length === 1 && m.answers[0]?.data === '198.18.0.7'),
    'SRV _http._tcp.svc-7': check(await q('_http._tcp.svc-7.bench.svc.cluster.local', TYPE.SRV), RCODE.NOERROR, (m) => JSON.stringify(m.answers[0]?.data).includes('svc-7.bench.svc.cluster.local') && m.additional.some((r) => r.data === '198.18.0.7')),
    'PTR 198.18.0.7': check(await q(reverseName('198.18.0.7')!, TYPE.PTR), RCODE.NOERROR, (m) => m.answers[0]?.data === 'svc-7.bench.svc.cluster.local'),
    'NXDOMAIN for an unknown service': check(await q('nope.bench.svc.cluster.local', TYPE.A), RCODE.NXDOMAIN, (m) => m.authority.length === 1),
    'dns-version TXT': check(await q('dns-version.cluster.local', TYPE.TXT), RCODE.NOERROR, (m) => m.answers.length === 1),
    'A over TCP': tcpA.sawSentinel,
  };
}

async function main(): Promise<void> {
  const serve = fileURLToPath(new URL('./serve.js', import.meta.url));
  const child = spawn(process.execPath, [serve, '0', '1000', String(args.workers)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let exited: string | undefined;
  let stderr = '';
  child.on('exit', (code, signal) => {
    exited = `code ${code} signal ${signal}`;
  });
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  let udpIo = '';
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /ready (\d+) (\S+)\n/.exec(out);
      if (m) {
        udpIo = m[2]!;
        resolve(Number(m[1]));
      }
    });
    child.on('exit', () => reject(new Error(`server exited before ready: ${stderr}`)));
  });

  const sock = createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
  let udpReplies = 0;
  sock.on('message', () => udpReplies++);
  const byKind: Record<string, number> = Object.fromEntries(KINDS.map((k) => [k, 0]));
  let sent = 0;
  let udpSent = 0;
  let tcpSent = 0;
  let tcpReplies = 0;
  let hang = false;
  const drops0 = udpRcvbufErrors();
  const t0 = performance.now();
  const deadline = t0 + DEADLINE_MS;
  let nextReport = 100000;
  while (sent < TOTAL && !exited && performance.now() < deadline) {
    const overTcp = rnd(1_000_000) < TCP_SHARE * 1_000_000;
    const n = Math.min(overTcp ? TCP_BATCH : UDP_BATCH, TOTAL - sent);
    const batch: Buffer[] = [];
    for (let i = 0; i < n; i++) {
      const kind = KINDS[rnd(KINDS.length)]!;
      byKind[kind]!++;
      batch.push(packet(kind));
    }
    if (overTcp) {
      // Some frames claim more bytes than follow; the connection's last frame is the sentinel.
      const frames = batch.map((p) => (rnd(50) === 0 ? Buffer.concat([Buffer.from([(p.length + 7) >> 8, (p.length + 7) & 255]), p]) : frame(p)));
      const bad = frames.some((f) => f.readUInt16BE(0) !== f.length - 2);
      frames.push(frame(buildQuery(0xabcd, 'svc-7.bench.svc.cluster.local', TYPE.A)));
      const r = await tcpExchange(port, frames, 0xabcd);
      tcpReplies += r.replies;
      if (!r.sawSentinel && !bad && !(await sentinel(sock, port))) hang = true;
      tcpSent += n;
    } else {
      for (const p of batch) sock.send(p, port, '127.0.0.1');
      udpSent += n;
      // The sentinel queues behind the batch, so its answer also paces the sender to the server.
      if (!(await sentinel(sock, port))) hang = true;
    }
    sent += n;
    if (hang) break;
    if (sent >= nextReport) {
      process.stderr.write(`  ${sent} packets, ${Math.round(sent / ((performance.now() - t0) / 1000))}/s\n`);
      nextReport += 100000;
    }
  }
  const secs = (performance.now() - t0) / 1000;
  const drops = udpRcvbufErrors() - drops0;
  const checks = exited ? {} : await correctness(sock, port);
  const workerDeaths = (stderr.match(/worker exited/g) ?? []).length;
  const crashes = (exited ? 1 : 0) + workerDeaths;
  const ok = crashes === 0 && !hang && sent >= TOTAL && Object.values(checks).length > 0 && Object.values(checks).every(Boolean);
  const result = {
    date: new Date().toISOString(), loadavg: readFileSync('/proc/loadavg', 'utf8').trim(), workers: Number(args.workers), udp_io: udpIo, seed: Number(args.seed),
    packets: sent, udp: udpSent, tcp: tcpSent, by_kind: byKind, seconds: Number(secs.toFixed(1)), packets_per_s: Math.round(sent / secs),
    udp_replies: udpReplies, tcp_replies: tcpReplies, udp_rcvbuf_errors_during_run: drops,
    crashes, server_exit: exited ?? null, hang, post_fuzz_checks: checks, ok,
  };
  sock.close();
  child.kill('SIGTERM');
  const out = fileURLToPath(new URL(`../../../bench/dns/fuzz-results-${result.date.slice(0, 10)}-w${result.workers}.json`, import.meta.url));
  writeFileSync(out, JSON.stringify(result, null, 2) + '\n');
  process.stdout.write(`${JSON.stringify(result, null, 2)}\nwrote ${out}\n`);
  process.exitCode = ok ? 0 : 1;
}

await main();
