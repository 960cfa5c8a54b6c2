// The anchor: a kube-proxy-shaped nftables ruleset (kube-proxy's nftables mode, v1.31+) for the same
// model, generated here as plain text for `nft -f`. One chain per service port, one chain per
// endpoint, `numgen random mod N vmap { i : goto endpoint-... }` in the service chain, verdict maps
// `service-ips` and `service-nodeports` dispatching from `services`, an `external-` chain per node
// port, elements one per line as kube-proxy's knftables writes them.
import { createHash } from 'node:crypto';
import type { ProxyModel } from '../../src/proxy/model.js';

const T = 'ip kube-proxy';

function hashName(prefix: string, base: string): string {
  const h = createHash('sha256').update(base).digest('base64url').replace(/[-_]/g, 'X').slice(0, 8).toUpperCase();
  return `${prefix}-${h}-${base}`.slice(0, 200);
}

/** The whole ruleset for `nft -f -` (deletes and recreates the table, as a kube-proxy full sync does). */
export function anchorText(model: ProxyModel, clusterCIDR: string): string {
  const out: string[] = [
    `add table ${T} { comment "rules for kube-proxy" ; }`,
    `delete table ${T}`,
    `add table ${T} { comment "rules for kube-proxy" ; }`,
    `add chain ${T} mark-for-masquerade`,
    `add chain ${T} masquerading`,
    `add chain ${T} services`,
    `add chain ${T} nat-prerouting { type nat hook prerouting priority -100 ; }`,
    `add chain ${T} nat-output { type nat hook output priority -100 ; }`,
    `add chain ${T} nat-postrouting { type nat hook postrouting priority 100 ; }`,
    `add set ${T} cluster-ips { type ipv4_addr ; comment "Active ClusterIPs" ; }`,
    `add map ${T} service-ips { type ipv4_addr . inet_proto . inet_service : verdict ; comment "ClusterIP, ExternalIP and LoadBalancer IP traffic" ; }`,
    `add map ${T} service-nodeports { type inet_proto . inet_service : verdict ; comment "NodePort traffic" ; }`,
  ];
  const rules: string[] = [
    `add rule ${T} mark-for-masquerade mark set mark or 0x4000`,
    `add rule ${T} masquerading mark and 0x4000 == 0 return`,
    `add rule ${T} masquerading mark set mark xor 0x4000`,
    `add rule ${T} masquerading masquerade fully-random`,
    `add rule ${T} services ip daddr . meta l4proto . th dport vmap @service-ips`,
    `add rule ${T} services fib daddr type local ip daddr != 127.0.0.0/8 meta l4proto . th dport vmap @service-nodeports`,
    `add rule ${T} nat-prerouting jump services`,
    `add rule ${T} nat-output jump services`,
    `add rule ${T} nat-postrouting jump masquerading`,
  ];
  const elements: string[] = [];
  const nodePorts = new Set<string>();
  for (const sp of model.services.values()) {
    const proto = sp.protocol.toLowerCase();
    const base = `${sp.namespace}/${sp.name}/${proto}/${sp.portName}`;
    const svc = hashName('service', base);
    const eps = sp.endpoints.filter((e) => e.ready);
    out.push(`add chain ${T} ${svc}`);
    const epChains = eps.map((e) => {
      const c = hashName('endpoint', `${base}__${e.ip}/${e.port}`);
      out.push(`add chain ${T} ${c}`);
      rules.push(`add rule ${T} ${c} ip saddr ${e.ip} jump mark-for-masquerade`);
      rules.push(`add rule ${T} ${c} meta l4proto ${proto} dnat to ${e.ip}:${e.port}`);
      return c;
    });
    for (const ip of sp.clusterIPs) {
      rules.push(`add rule ${T} ${svc} ip daddr ${ip} ${proto} dport ${sp.port} ip saddr != ${clusterCIDR} jump mark-for-masquerade`);
      elements.push(`add element ${T} cluster-ips { ${ip} }`);
      elements.push(`add element ${T} service-ips { ${ip} . ${proto} . ${sp.port} : goto ${svc} }`);
    }
    if (epChains.length) rules.push(`add rule ${T} ${svc} numgen random mod ${epChains.length} vmap { ${epChains.map((c, i) => `${i} : goto ${c}`).join(' , ')} }`);
    // generatedModel reuses node ports above 27,680 services; the first owner keeps it, as in Portico.
    if (sp.nodePort > 0 && !nodePorts.has(`${proto}/${sp.nodePort}`)) {
      nodePorts.add(`${proto}/${sp.nodePort}`);
      const ext = hashName('external', base);
      out.push(`add chain ${T} ${ext}`);
      rules.push(`add rule ${T} ${ext} jump mark-for-masquerade`, `add rule ${T} ${ext} goto ${svc}`);
      elements.push(`add element ${T} service-nodeports { ${proto} . ${sp.nodePort} : goto ${ext} }`);
    }
  }
  return [...out, ...rules, ...elements].join('\n') + '\n';
}
