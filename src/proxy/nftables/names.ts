// Kernel object names: deterministic and bounded. Per-service objects are
// `<prefix>-<8 base32 chars of sha256>-<readable ns/svc/proto/port>`, cut to MAX_NAME_LEN; the
// fixed objects have fixed names, the shared endpoint maps are `endpoints-<proto>-<n>`. isOwnedName()
// recognises all three.
import * as crypto from 'node:crypto';
import type { ServicePortInfo } from '../model.js';

export const TABLE_NAME = 'portico';
/** nft allows 256 bytes for chain and set names; stay well below. */
export const MAX_NAME_LEN = 200;

export const FIXED_CHAINS = [
  'filter-prerouting', 'filter-input', 'filter-forward', 'filter-output', 'filter-output-post-dnat',
  'nat-prerouting', 'nat-output', 'nat-postrouting',
  'services', 'endpoints-check', 'firewall-check', 'cluster-ips-check', 'reject-chain',
  'mark-for-masquerade', 'masquerading',
] as const;

export const FIXED_SETS = [
  'service-ips', 'service-nodeports', 'no-endpoint-services', 'no-endpoint-nodeports', 'firewall-ips',
  'cluster-ips', 'hairpin',
] as const;

/** Per-service object kinds: svc (Cluster-policy DNAT), svl (Local-policy DNAT), ext (external entry), fw (source ranges), ep (endpoint, affinity only), aff (affinity set). */
export type ObjectPrefix = 'svc' | 'svl' | 'ext' | 'fw' | 'ep' | 'aff';

const OWNED_RE = /^(svc|svl|ext|fw|ep|aff)-[A-Z2-7]{8}-[A-Za-z0-9/_.-]*$/;
const FIXED = new Set<string>([...FIXED_CHAINS, ...FIXED_SETS, TABLE_NAME]);

const B32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** One-shot sha256 (`crypto.hash`, Node >= 20.12) is ~1.5x cheaper than a Hash object. */
const sha256: (text: string) => Buffer = typeof (crypto as { hash?: unknown }).hash === 'function'
  ? (text) => crypto.hash('sha256', text, 'buffer')
  : (text) => crypto.createHash('sha256').update(text).digest();

/** The last hash made: a service port's chains (svc, svl, ext, fw) all hash the same text, one after the other. */
let lastText: string | undefined;
let lastHash = '';

/** 8 base32 characters (40 bits) of sha256(text). */
export function shortHash(text: string): string {
  if (text === lastText) return lastHash;
  const d = sha256(text);
  let out = '';
  let bits = 0;
  let acc = 0;
  for (let i = 0; out.length < 8; i++) {
    acc = (acc << 8) | d[i]!;
    bits += 8;
    while (bits >= 5 && out.length < 8) {
      out += B32[(acc >> (bits - 5)) & 31];
      bits -= 5;
    }
    acc &= (1 << bits) - 1;
  }
  lastText = text;
  lastHash = out;
  return out;
}

/** `ns/svc/proto/port` with the port name, or the number when the port is unnamed. */
export function readableName(sp: ServicePortInfo): string {
  return `${sp.namespace}/${sp.name}/${sp.protocol.toLowerCase()}/${sp.portName || String(sp.port)}`;
}

function clean(s: string): string {
  return s.replace(/[^A-Za-z0-9/_.-]/g, '_');
}

/** A per-service object name; `extra` (endpoint, affinity timeout) feeds the hash and the readable tail. */
export function objectName(prefix: ObjectPrefix, sp: ServicePortInfo, extra = ''): string {
  const readable = clean(extra ? `${readableName(sp)}/${extra}` : readableName(sp));
  const hash = shortHash(`${sp.key}|${sp.port}|${extra}`);
  return `${prefix}-${hash}-${readable}`.slice(0, MAX_NAME_LEN);
}

/** Endpoint maps shared by service ports: `endpoints-<proto>-<n>` (render.ts). */
const ENDPOINT_MAP_RE = /^endpoints-(tcp|udp|sctp)-(0|[1-9][0-9]{0,8})$/;

/** True for every name Portico gives a table, chain, set or map. */
export function isOwnedName(name: string): boolean {
  return FIXED.has(name) || ENDPOINT_MAP_RE.test(name) || (name.length <= MAX_NAME_LEN && OWNED_RE.test(name));
}
