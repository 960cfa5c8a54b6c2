// Stale UDP conntrack cleanup: UDP has no connection teardown, so a client keeps talking to an
// endpoint that is gone for as long as its conntrack entry lives. After each sync, entries whose
// original destination is a Service address (or node port) and whose reply source is an endpoint
// that no longer serves that Service port are deleted (kube-proxy's conntrack reconciler). TCP is
// left alone: its connections end by themselves.
import type { ProxyModel, ServicePortInfo } from '../proxy/model.js';
import type { Exec } from '../proxy/exec.js';

export interface ConntrackDeletion {
  /** The Service address (cluster, external or LB IP), or '' for a node-port entry. */
  dst: string;
  port: number;
  endpointIP: string;
}

/** What to delete between two models: UDP service ports whose endpoint IPs shrank (pure). */
export function staleUDPEntries(prev: ProxyModel | undefined, next: ProxyModel): ConntrackDeletion[] {
  if (!prev) return [];
  const out: ConntrackDeletion[] = [];
  for (const key of next.changed) {
    const before = prev.services.get(key);
    if (!before || before.protocol !== 'UDP') continue;
    const after = next.services.get(key);
    const serving = new Set((after?.endpoints ?? []).filter((e) => e.ready || e.serving).map((e) => e.ip));
    const gone = new Set(before.endpoints.map((e) => e.ip).filter((ip) => !serving.has(ip)));
    for (const ip of gone) out.push(...deletionsFor(before, ip));
  }
  return out;
}

function deletionsFor(sp: ServicePortInfo, endpointIP: string): ConntrackDeletion[] {
  const out: ConntrackDeletion[] = [];
  for (const dst of [...sp.clusterIPs, ...sp.externalIPs, ...sp.loadBalancerIPs]) out.push({ dst, port: sp.port, endpointIP });
  if (sp.nodePort) out.push({ dst: '', port: sp.nodePort, endpointIP });
  return out;
}

/** argv for `conntrack -D` of one deletion. */
export function conntrackArgv(d: ConntrackDeletion): string[] {
  const argv = ['conntrack', '-D', '-p', 'udp'];
  if (d.dst) argv.push('--orig-dst', d.dst);
  argv.push('--orig-port-dst', String(d.port), '--reply-src', d.endpointIP);
  return argv;
}

/** Runs the deletions; conntrack exits 1 when nothing matched, which is not a failure. */
export async function deleteStaleUDP(exec: Exec, deletions: ConntrackDeletion[]): Promise<{ failed: number }> {
  let failed = 0;
  for (const d of deletions) {
    const r = await exec(conntrackArgv(d), '');
    if (r.code !== 0 && !/0 flow entries have been deleted/.test(r.stderr)) failed++;
  }
  return { failed };
}
