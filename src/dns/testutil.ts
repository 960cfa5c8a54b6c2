// Fixtures and a `dig` driver shared by the DNS tests (not used by production code).
import { execFile } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import type { Service, ServicePort } from '../registry/kinds/service.js';
import type { EndpointSlice } from '../registry/kinds/endpointslice.js';
import type { Pod } from '../registry/kinds/pod.js';
import { CLASS_IN, FLAG_AA, FLAG_QR, FLAG_RA, TYPE, decodeMessage, encodeMessage, type RR } from './wire.js';

export function svc(ns: string, name: string, spec: NonNullable<Service['spec']>): Service {
  return { apiVersion: 'v1', kind: 'Service', metadata: { namespace: ns, name, resourceVersion: String(Math.random()) }, spec };
}

export interface EpFixture {
  ip: string | string[];
  hostname?: string;
  ready?: boolean;
}

export function slice(ns: string, name: string, service: string, eps: EpFixture[], ports: Array<{ name?: string; port: number; protocol?: string }> = [], addressType = 'IPv4'): EndpointSlice {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { namespace: ns, name, labels: { 'kubernetes.io/service-name': service }, resourceVersion: String(Math.random()) },
    addressType,
    endpoints: eps.map((e) => ({
      addresses: Array.isArray(e.ip) ? e.ip : [e.ip],
      ...(e.hostname ? { hostname: e.hostname } : {}),
      ...(e.ready === undefined ? {} : { conditions: { ready: e.ready } }),
    })),
    ports: ports.map((p) => ({ port: p.port, protocol: p.protocol ?? 'TCP', ...(p.name ? { name: p.name } : {}) })),
  };
}

export function ports(...p: Array<[string | undefined, number, string?]>): ServicePort[] {
  return p.map(([name, port, protocol]) => ({ port, protocol: protocol ?? 'TCP', ...(name ? { name } : {}) }));
}

export function pod(ns: string, name: string, ip: string): Pod {
  return { apiVersion: 'v1', kind: 'Pod', metadata: { namespace: ns, name, resourceVersion: '1' }, status: { podIP: ip, podIPs: [{ ip }] } } as Pod;
}

export interface DigResult {
  status: string;
  flags: string[];
  answer: string[][];
  authority: string[][];
  additional: string[][];
  raw: string;
}

/** Runs the real `dig` against 127.0.0.1:port and parses its output. */
export function dig(port: number, name: string, type: string, ...extra: string[]): Promise<DigResult> {
  return new Promise((resolve, reject) => {
    execFile('dig', ['@127.0.0.1', '-p', String(port), '+tries=1', '+time=3', '+nocookie', ...extra, name, type], { maxBuffer: 1 << 24 }, (err, stdout) => {
      if (err && !stdout) {
        reject(err);
        return;
      }
      resolve(parseDig(stdout));
    });
  });
}

export function parseDig(out: string): DigResult {
  const r: DigResult = { status: '', flags: [], answer: [], authority: [], additional: [], raw: out };
  let section: string[][] | undefined;
  for (const line of out.split('\n')) {
    const st = /status: (\w+)/.exec(line);
    if (st) r.status = st[1]!;
    const fl = /^;; flags: ([^;]*);/.exec(line);
    if (fl) r.flags = fl[1]!.trim().split(/\s+/);
    if (line.startsWith(';; ANSWER SECTION')) section = r.answer;
    else if (line.startsWith(';; AUTHORITY SECTION')) section = r.authority;
    else if (line.startsWith(';; ADDITIONAL SECTION')) section = r.additional;
    else if (line.trim() === '') section = undefined;
    else if (!line.startsWith(';') && section) section.push(line.trim().split(/\s+/));
  }
  return r;
}

/** Answer rdata (column 5 onwards joined) of records of one type. */
export function rdata(rows: string[][], type: string): string[] {
  return rows.filter((x) => x[3] === type).map((x) => x.slice(4).join(' ')).sort();
}

/** A fake upstream resolver on loopback answering from a fixed table; counts queries. */
export class FakeUpstream {
  readonly sock: Socket = createSocket('udp4');
  queries = 0;
  constructor(private readonly table: Record<string, Array<Omit<RR, 'name'>>>) {}

  async start(host = '127.0.0.2'): Promise<number> {
    this.sock.on('message', (msg, rinfo) => {
      this.queries++;
      let q;
      try {
        q = decodeMessage(msg);
      } catch {
        return;
      }
      const question = q.questions[0];
      if (!question) return;
      const rows = this.table[`${question.name} ${TYPE_KEY[question.type] ?? question.type}`];
      const exists = Object.keys(this.table).some((k) => k.startsWith(`${question.name} `));
      const reply = encodeMessage({
        id: q.id, flags: FLAG_QR | FLAG_AA | FLAG_RA, rcode: exists ? 0 : 3, questions: q.questions,
        answers: (rows ?? []).map((rr) => ({ name: question.name, ...rr })), authority: [], additional: [],
      });
      this.sock.send(reply, rinfo.port, rinfo.address);
    });
    await new Promise<void>((res) => this.sock.bind(0, host, () => res()));
    return this.sock.address().port;
  }

  close(): void {
    this.sock.close();
  }
}

const TYPE_KEY: Record<number, string> = { [TYPE.A]: 'A', [TYPE.AAAA]: 'AAAA', [TYPE.TXT]: 'TXT', [TYPE.MX]: 'MX' };

export function aRecord(ip: string, ttl = 300): Omit<RR, 'name'> {
  return { type: TYPE.A, class: CLASS_IN, ttl, data: ip };
}
