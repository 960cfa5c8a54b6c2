// An in-memory IPVS table for the `ipvsadm` lines the renderer emits (-A -E -D -a -e -d -C, with
// -t/-u/--sctp-service, -s, -p, -r, -m, -w), as `ipvsadm -R` reads them: line by line, stopping at
// the first error (with ipvsadm's wording), earlier lines staying applied. Prints `-Sn` (save) and
// `-Ln` (list, with connection counts a test sets) the way ipvsadm does, so the applier's parsers
// are exercised too.
import { RulesetError } from '../ruleset-error.js';
import { IPVS_SCHEDULERS, type IpvsProto } from './render.js';

export class IpvsError extends RulesetError {
  override name = 'IpvsError';
  readonly code = 'IPVS_REJECTED';
}

interface FakeReal {
  weight: number;
  active: number;
  inactive: number;
}

interface FakeService {
  proto: IpvsProto;
  hostPort: string;
  scheduler: string;
  persistence: number;
  reals: Map<string, FakeReal>;
}

const FLAG_PROTO: Record<string, IpvsProto> = { '-t': 'tcp', '--tcp-service': 'tcp', '-u': 'udp', '--udp-service': 'udp', '--sctp-service': 'sctp' };

export class FakeIpvs {
  private readonly services = new Map<string, FakeService>();
  /** Every line applied, for tests that count commands. */
  readonly applied: string[] = [];

  /** Applies `ipvsadm -R` input; throws IpvsError at the first bad line (earlier lines stay). */
  restore(text: string): void {
    text.split('\n').forEach((raw, i) => {
      const line = raw.trim();
      if (line === '' || line.startsWith('#')) return;
      try {
        this.one(line);
      } catch (err) {
        throw new IpvsError((err as Error).message, i + 1);
      }
      this.applied.push(line);
    });
  }

  private one(line: string): void {
    const t = line.split(/\s+/);
    const op = t[0];
    if (op === '-C') {
      this.services.clear();
      return;
    }
    const pi = t.findIndex((x) => x in FLAG_PROTO);
    if (pi < 0 || !t[pi + 1]) throw new Error('Illegal virtual server address');
    const proto = FLAG_PROTO[t[pi]!]!;
    const hp = t[pi + 1]!;
    const key = `${proto} ${hp}`;
    const opt = (...names: string[]) => {
      const i = t.findIndex((x) => names.includes(x));
      return i >= 0 ? t[i + 1] : undefined;
    };
    const svc = this.services.get(key);
    const scheduler = opt('-s', '--scheduler') ?? 'wlc';
    if ((op === '-A' || op === '-E') && !(IPVS_SCHEDULERS as readonly string[]).includes(scheduler)) throw new Error(`Scheduler not found: ip_vs_${scheduler}.ko`);
    const persistence = t.includes('-p') || t.includes('--persistent') ? Number(opt('-p', '--persistent') ?? 300) : 0;
    switch (op) {
      case '-A':
        if (svc) throw new Error('Service already exists');
        this.services.set(key, { proto, hostPort: hp, scheduler, persistence, reals: new Map() });
        return;
      case '-E':
        if (!svc) throw new Error('No such service');
        svc.scheduler = scheduler;
        svc.persistence = persistence;
        return;
      case '-D':
        if (!svc) throw new Error('No such service');
        this.services.delete(key);
        return;
      case '-a':
      case '-e':
      case '-d': {
        if (!svc) throw new Error('Service not defined');
        const r = opt('-r', '--real-server');
        if (!r) throw new Error('Illegal real server address');
        const real = svc.reals.get(r);
        if (op === '-d') {
          if (!real) throw new Error('No such destination');
          svc.reals.delete(r);
          return;
        }
        if (!t.includes('-m') && !t.includes('--masquerading')) throw new Error('fake: only masquerading (-m) real servers are modelled');
        const w = Number(opt('-w', '--weight') ?? 1);
        if (!Number.isInteger(w) || w < 0 || w > 2147483647) throw new Error('Illegal weight specified');
        if (op === '-a') {
          if (real) throw new Error('Destination already exists');
          svc.reals.set(r, { weight: w, active: 0, inactive: 0 });
        } else {
          if (!real) throw new Error('No such destination');
          real.weight = w;
        }
        return;
      }
      default:
        throw new Error(`unsupported ipvsadm command ${op}`);
    }
  }

  /** Sets a real server's connection counts (what traffic would do). */
  setConnections(vsKey: string, real: string, active: number, inactive = 0): void {
    const r = this.services.get(vsKey)?.reals.get(real);
    if (!r) throw new Error(`no real server ${real} in ${vsKey}`);
    r.active = active;
    r.inactive = inactive;
  }

  private sorted(): FakeService[] {
    return [...this.services.values()].sort((a, b) => (a.proto + a.hostPort).localeCompare(b.proto + b.hostPort));
  }

  /** `ipvsadm -Sn`. */
  save(): string {
    const flag: Record<IpvsProto, string> = { tcp: '-t', udp: '-u', sctp: '--sctp-service' };
    let out = '';
    for (const s of this.sorted()) {
      out += `-A ${flag[s.proto]} ${s.hostPort} -s ${s.scheduler}${s.persistence ? ` -p ${s.persistence}` : ''}\n`;
      for (const [r, x] of [...s.reals].sort()) out += `-a ${flag[s.proto]} ${s.hostPort} -r ${r} -m -w ${x.weight}\n`;
    }
    return out;
  }

  /** `ipvsadm -Ln`. */
  list(): string {
    let out = 'IP Virtual Server version 1.2.1 (size=4096)\nProt LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n';
    for (const s of this.sorted()) {
      out += `${s.proto.toUpperCase().padEnd(5)}${s.hostPort} ${s.scheduler}${s.persistence ? ` persistent ${s.persistence}` : ''}\n`;
      for (const [r, x] of [...s.reals].sort()) out += `  -> ${r.padEnd(28)} Masq    ${String(x.weight).padEnd(6)} ${String(x.active).padEnd(10)} ${x.inactive}\n`;
    }
    return out;
  }

  get size(): number {
    return this.services.size;
  }
}
