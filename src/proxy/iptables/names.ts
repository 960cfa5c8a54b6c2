// Chain names: deterministic and bounded. iptables allows 28 characters in a chain name, so a
// per-service chain is `PORTICO-<KIND>-<16 base32 chars of sha256>` (12 + 16 = 28 at most), the
// hash taken over the service-port key (plus `ip:port` for endpoint chains). The readable
// `ns/svc:port` goes into `-m comment` instead. The fixed chains have fixed names; isOwnedChain()
// recognises both.
import { createHash } from 'node:crypto';
import type { ServicePortInfo } from '../model.js';

/** Longest chain name iptables accepts (XT_EXTENSION_MAXNAMELEN - 1). */
export const MAX_CHAIN_LEN = 28;
export const PREFIX = 'PORTICO';

export const CH = {
  SERVICES: 'PORTICO-SERVICES',
  NODEPORTS: 'PORTICO-NODEPORTS',
  POSTROUTING: 'PORTICO-POSTROUTING',
  MARK_MASQ: 'PORTICO-MARK-MASQ',
  EXTERNAL: 'PORTICO-EXTERNAL-SERVICES',
  FIREWALL: 'PORTICO-PROXY-FIREWALL',
  FORWARD: 'PORTICO-FORWARD',
} as const;

/** Fixed chains per table. PORTICO-SERVICES and PORTICO-NODEPORTS exist in both. */
export const FIXED_CHAINS = {
  nat: [CH.SERVICES, CH.NODEPORTS, CH.POSTROUTING, CH.MARK_MASQ],
  filter: [CH.SERVICES, CH.NODEPORTS, CH.EXTERNAL, CH.FIREWALL, CH.FORWARD],
} as const;

/** Per-service chain kinds: SVC (Cluster-policy endpoints), SVL (Local-policy endpoints), EXT (external entry), FW (source ranges), SEP (one endpoint). */
export type ChainKind = 'SVC' | 'SVL' | 'EXT' | 'FW' | 'SEP';

const OWNED_RE = /^PORTICO-(SVC|SVL|EXT|FW|SEP)-[A-Z2-7]{16}$/;
const FIXED = new Set<string>([...FIXED_CHAINS.nat, ...FIXED_CHAINS.filter]);

const B32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** 16 base32 characters (80 bits) of sha256(text). */
export function hash16(text: string): string {
  const d = createHash('sha256').update(text).digest();
  let out = '';
  let bits = 0;
  let acc = 0;
  for (let i = 0; out.length < 16; i++) {
    acc = ((acc << 8) | d[i]!) & 0xffff;
    bits += 8;
    while (bits >= 5 && out.length < 16) {
      out += B32[(acc >> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  return out;
}

/** A per-service chain name; `endpoint` (`ip:port`) is given for SEP chains. */
export function chainName(kind: ChainKind, sp: ServicePortInfo, endpoint = ''): string {
  return `${PREFIX}-${kind}-${hash16(endpoint ? `${sp.key}|${endpoint}` : sp.key)}`;
}

/** True for every chain name Portico creates (fixed or per service). */
export function isOwnedChain(name: string): boolean {
  return FIXED.has(name) || OWNED_RE.test(name);
}

/** `ns/svc:portName` (or `ns/svc` for an unnamed port): the comment that names a service port. */
export function serviceComment(sp: ServicePortInfo): string {
  return `${sp.namespace}/${sp.name}${sp.portName ? ':' + sp.portName : ''}`;
}
