// Content negotiation: which representation a client asked for in its Accept header.
// kubectl asks for Tables (`as=Table;g=meta.k8s.io;v=v1`) when printing and for aggregated
// discovery (`as=APIGroupDiscoveryList;g=apidiscovery.k8s.io;v=v2`) when discovering.

export type Representation =
  | { kind: 'object' }
  | { kind: 'table'; version: 'v1' }
  | { kind: 'partial-metadata' }
  | { kind: 'discovery-v2' };

interface MediaRange {
  type: string;
  params: Record<string, string>;
}

export function parseAccept(header: string | undefined): MediaRange[] {
  if (!header) return [{ type: '*/*', params: {} }];
  const out: MediaRange[] = [];
  for (const part of header.split(',')) {
    const [typeRaw, ...paramParts] = part.split(';');
    const type = (typeRaw ?? '').trim().toLowerCase();
    if (!type) continue;
    const params: Record<string, string> = {};
    for (const p of paramParts) {
      const eq = p.indexOf('=');
      if (eq < 0) continue;
      params[p.slice(0, eq).trim().toLowerCase()] = p.slice(eq + 1).trim();
    }
    if (params.q === '0') continue;
    out.push({ type, params });
  }
  return out;
}

/** Parsed Accept headers: clients repeat theirs on every request (bounded; starts over when full). */
let parsedAccept = new Map<string, readonly MediaRange[]>();

function parseAcceptCached(header: string | undefined): readonly MediaRange[] {
  if (!header) return parseAccept(header);
  let m = parsedAccept.get(header);
  if (!m) {
    if (parsedAccept.size >= 256) parsedAccept = new Map();
    m = parseAccept(header);
    parsedAccept.set(header, m);
  }
  return m;
}

const jsonish = (t: string) => t === 'application/json' || t === '*/*' || t === 'application/*' || t === 'application/yaml';

/**
 * Picks the first representation the client accepts that this endpoint can produce.
 * `allowed` lists the special forms the endpoint supports; plain JSON is always possible.
 * Returns undefined when nothing acceptable (406).
 */
export function negotiate(header: string | undefined, allowed: { table?: boolean; discovery?: boolean; metadata?: boolean }): Representation | undefined {
  for (const m of parseAcceptCached(header)) {
    if (!jsonish(m.type)) continue;
    const as = m.params.as;
    if (!as) return { kind: 'object' };
    if (as === 'Table' && allowed.table && m.params.g === 'meta.k8s.io' && (m.params.v === 'v1' || m.params.v === 'v1beta1')) return { kind: 'table', version: 'v1' };
    if (as === 'APIGroupDiscoveryList' && allowed.discovery && m.params.g === 'apidiscovery.k8s.io' && m.params.v === 'v2') return { kind: 'discovery-v2' };
    if ((as === 'PartialObjectMetadata' || as === 'PartialObjectMetadataList') && allowed.metadata && m.params.g === 'meta.k8s.io' && m.params.v === 'v1') return { kind: 'partial-metadata' };
  }
  return undefined;
}
