// IP addresses and CIDRs as plain values (family + bigint), shared by validation and the allocators.
// Parsing follows Go's net.ParseIP as k8s.io/utils/net's ParseIPSloppy uses it: IPv4 octets may carry
// leading zeros (read as decimal), IPv4-mapped IPv6 (::ffff:a.b.c.d) counts as IPv4, zones are refused.

export type IPFamily = 4 | 6;

export interface IP {
  family: IPFamily;
  /** The address as an unsigned integer (32 or 128 bits). */
  value: bigint;
}

export interface CIDR {
  family: IPFamily;
  /** Network address (host bits cleared). */
  base: bigint;
  prefix: number;
  /** The address as written before the slash (may have host bits set). */
  ip: bigint;
}

const V4_MAPPED_PREFIX = 0xffffn << 32n;

export function bitsOf(family: IPFamily): number {
  return family === 4 ? 32 : 128;
}

function parseIPv4(s: string): bigint | null {
  const parts = s.split('.');
  if (parts.length !== 4) return null;
  let v = 0n;
  for (const p of parts) {
    if (!/^[0-9]{1,3}$/.test(p)) return null;
    const n = Number(p);
    if (n > 255) return null;
    v = (v << 8n) | BigInt(n);
  }
  return v;
}

function parseIPv6(s: string): bigint | null {
  if (s.length === 0 || s.includes('%')) return null;
  let tail: bigint | null = null;
  let text = s;
  // An embedded IPv4 address fills the last 32 bits.
  const lastColon = s.lastIndexOf(':');
  if (lastColon >= 0 && s.indexOf('.', lastColon) > 0) {
    tail = parseIPv4(s.slice(lastColon + 1));
    if (tail === null) return null;
    text = s.slice(0, lastColon + 1) + '0:0';
  }
  const halves = text.split('::');
  if (halves.length > 2) return null;
  const parseGroups = (h: string): number[] | null => {
    if (h === '') return [];
    const out: number[] = [];
    for (const g of h.split(':')) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return null;
      out.push(parseInt(g, 16));
    }
    return out;
  };
  const head = parseGroups(halves[0]!);
  if (head === null) return null;
  let groups: number[];
  if (halves.length === 2) {
    const rest = parseGroups(halves[1]!);
    if (rest === null) return null;
    const missing = 8 - head.length - rest.length;
    if (missing < 1) return null;
    groups = [...head, ...new Array<number>(missing).fill(0), ...rest];
  } else {
    if (head.length !== 8) return null;
    groups = head;
  }
  let v = 0n;
  for (const g of groups) v = (v << 16n) | BigInt(g);
  if (tail !== null) v = (v & ~0xffffffffn) | tail;
  return v;
}

/** Parses an IPv4 or IPv6 address; null when it is not one. */
export function parseIP(s: string): IP | null {
  if (typeof s !== 'string') return null;
  if (s.includes(':')) {
    const v = parseIPv6(s);
    if (v === null) return null;
    // Go treats IPv4-mapped IPv6 as IPv4 (To4() != nil), and so does Kubernetes.
    if (v >> 32n === 0xffffn) return { family: 4, value: v & 0xffffffffn };
    return { family: 6, value: v };
  }
  const v = parseIPv4(s);
  return v === null ? null : { family: 4, value: v };
}

export function isValidIP(s: string): boolean {
  return parseIP(s) !== null;
}

/** 4, 6, or null for something that is not an address. */
export function ipFamilyOf(s: string): IPFamily | null {
  return parseIP(s)?.family ?? null;
}

/** Canonical text: dotted quad, or RFC 5952 for IPv6. */
export function formatIP(ip: IP): string {
  if (ip.family === 4) {
    const v = ip.value;
    return [24n, 16n, 8n, 0n].map((sh) => String((v >> sh) & 0xffn)).join('.');
  }
  const groups: number[] = [];
  for (let i = 7; i >= 0; i--) groups.push(Number((ip.value >> BigInt(i * 16)) & 0xffffn));
  // Longest run of two or more zero groups, first one on a tie.
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (g: number[]) => g.map((x) => x.toString(16)).join(':');
  if (bestStart < 0) return hex(groups);
  return `${hex(groups.slice(0, bestStart))}::${hex(groups.slice(bestStart + bestLen))}`;
}

/** Parses `addr/prefix` (Go's ParseCIDR, sloppy about IPv4 leading zeros); null when invalid. */
export function parseCIDR(s: string): CIDR | null {
  if (typeof s !== 'string') return null;
  const slash = s.indexOf('/');
  if (slash < 0) return null;
  const addrText = s.slice(0, slash);
  const prefixText = s.slice(slash + 1);
  if (!/^[0-9]{1,3}$/.test(prefixText)) return null;
  const prefix = Number(prefixText);
  // The family comes from the text: "::ffff:1.2.3.0/120" is an IPv6 prefix.
  let family: IPFamily;
  let value: bigint | null;
  if (addrText.includes(':')) {
    family = 6;
    value = parseIPv6(addrText);
  } else {
    family = 4;
    value = parseIPv4(addrText);
  }
  if (value === null || prefix > bitsOf(family)) return null;
  return { family, base: value & maskOf(family, prefix), prefix, ip: value };
}

export function isValidCIDR(s: string): boolean {
  return parseCIDR(s) !== null;
}

function maskOf(family: IPFamily, prefix: number): bigint {
  const bits = BigInt(bitsOf(family));
  const all = (1n << bits) - 1n;
  return all ^ ((1n << (bits - BigInt(prefix))) - 1n);
}

export function formatCIDR(c: CIDR): string {
  return `${formatIP({ family: c.family, value: c.base })}/${c.prefix}`;
}

/** Number of addresses in the CIDR (2^(bits - prefix)). */
export function cidrSize(c: CIDR): bigint {
  return 1n << BigInt(bitsOf(c.family) - c.prefix);
}

export function cidrContains(c: CIDR, ip: IP | string): boolean {
  const a = typeof ip === 'string' ? parseIP(ip) : ip;
  if (!a || a.family !== c.family) return false;
  return (a.value & maskOf(c.family, c.prefix)) === c.base;
}

/** The n-th address of the CIDR (0 = network address); null when out of range. */
export function cidrAddress(c: CIDR, n: bigint | number): IP | null {
  const off = BigInt(n);
  if (off < 0n || off >= cidrSize(c)) return null;
  return { family: c.family, value: c.base + off };
}

/** Offset of ip inside the CIDR, or null when it is outside. */
export function cidrOffset(c: CIDR, ip: IP | string): bigint | null {
  const a = typeof ip === 'string' ? parseIP(ip) : ip;
  if (!a || !cidrContains(c, a)) return null;
  return a.value - c.base;
}

// ---- special ranges, as Go's net.IP methods define them ----

export function isUnspecified(ip: IP): boolean {
  return ip.value === 0n;
}

export function isLoopback(ip: IP): boolean {
  return ip.family === 4 ? ip.value >> 24n === 127n : ip.value === 1n;
}

export function isLinkLocalUnicast(ip: IP): boolean {
  return ip.family === 4 ? ip.value >> 16n === 0xa9fen : ip.value >> 118n === 0x3fan;
}

export function isLinkLocalMulticast(ip: IP): boolean {
  // 224.0.0.0/24; ff02::/16 with any flag bits (Go checks ip[1]&0x0f == 0x02).
  return ip.family === 4 ? ip.value >> 8n === 0xe00000n : ip.value >> 120n === 0xffn && ((ip.value >> 112n) & 0x0fn) === 0x02n;
}

export function isMulticast(ip: IP): boolean {
  return ip.family === 4 ? ip.value >> 28n === 0xen : ip.value >> 120n === 0xffn;
}

/** Address as IPv4-mapped IPv6 value, for code that wants one 128-bit space. */
export function toV6Value(ip: IP): bigint {
  return ip.family === 4 ? V4_MAPPED_PREFIX | ip.value : ip.value;
}
