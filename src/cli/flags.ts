// Flag parsing shared by the commands: node's parseArgs in strict mode, so an unknown flag or a
// missing value is a usage error (exit 2), plus parsers for the range flags.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { isIP } from 'node:net';
import { UsageError } from '../util/errors.js';

export type FlagSpec = NonNullable<ParseArgsConfig['options']>;

export function parseFlags<T extends FlagSpec>(argv: string[], spec: T, usage: string): Record<keyof T, string | boolean | undefined> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(usage + '\n');
    process.exit(0);
  }
  try {
    const { values, positionals } = parseArgs({ args: argv, options: spec, strict: true, allowPositionals: true });
    if (positionals.length) throw new UsageError(`unexpected argument "${positionals[0]}"`);
    return values as unknown as Record<keyof T, string | boolean | undefined>;
  } catch (err) {
    if (err instanceof UsageError) throw err;
    throw new UsageError((err as Error).message.split('\n')[0]!);
  }
}

/** `HOST:PORT` or `[v6]:PORT`. */
export function parseHostPort(flag: string, v: string): { host: string; port: number } {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(v) ?? /^([^:]*):(\d+)$/.exec(v);
  if (!m) throw new UsageError(`--${flag}: invalid value "${v}": want HOST:PORT`);
  const port = Number(m[2]);
  if (port > 65535) throw new UsageError(`--${flag}: invalid port ${port}: must be between 0 and 65535, inclusive`);
  const host = m[1] || '0.0.0.0';
  if (!isIP(host) && host !== 'localhost') throw new UsageError(`--${flag}: invalid host "${host}": want an IP address`);
  return { host: host === 'localhost' ? '127.0.0.1' : host, port };
}

/** `30000-32767` (kube's --service-node-port-range). */
export function parsePortRange(flag: string, v: string): { base: number; size: number } {
  const m = /^(\d+)-(\d+)$/.exec(v) ?? /^(\d+)\+(\d+)$/.exec(v);
  if (!m) throw new UsageError(`--${flag}: invalid value "${v}": want FROM-TO, e.g. 30000-32767`);
  const a = Number(m[1]);
  const b = v.includes('+') ? a + Number(m[2]) : Number(m[2]);
  if (a < 1 || b > 65535 || b < a) throw new UsageError(`--${flag}: invalid range "${v}": ports must be 1-65535 and FROM <= TO`);
  return { base: a, size: b - a + 1 };
}

/** Go-style durations: `500ms`, `2s`, `5m`, `1h`. */
export function parseDuration(flag: string, v: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(v);
  if (!m) throw new UsageError(`--${flag}: invalid duration "${v}": want e.g. 500ms, 2s, 5m`);
  const n = Number(m[1]);
  const mult = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as 'ms' | 's' | 'm' | 'h'];
  return n * mult;
}
