// healthCheckNodePort servers: for each LoadBalancer Service with externalTrafficPolicy Local, an
// HTTP server on its health-check node port answers 200 when this node has ready endpoints of the
// Service and the proxy is healthy, else 503 — so an outside load balancer sends traffic only to
// nodes that can serve it locally. Body as kube-proxy's.
import { createServer, type Server } from 'node:http';
import type { Logger } from 'pino';
import type { ProxyModel } from '../proxy/model.js';

interface Entry {
  namespace: string;
  name: string;
  port: number;
  localEndpoints: number;
  servers: Server[];
}

export class HealthCheckServers {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly nodeName: string,
    private readonly nodeIPs: string[],
    private readonly proxyHealthy: () => boolean,
    private readonly log: Logger,
  ) {}

  /** Brings the set of servers in line with the model's Services. */
  async sync(model: ProxyModel): Promise<void> {
    const want = new Map<string, { namespace: string; name: string; port: number; local: Set<string> }>();
    for (const sp of model.services.values()) {
      if (!sp.healthCheckNodePort) continue;
      const key = `${sp.namespace}/${sp.name}`;
      let w = want.get(key);
      if (!w) want.set(key, (w = { namespace: sp.namespace, name: sp.name, port: sp.healthCheckNodePort, local: new Set() }));
      for (const e of sp.endpoints) if (e.nodeName === this.nodeName && e.ready) w.local.add(e.ip);
    }
    for (const [key, e] of this.entries) {
      const w = want.get(key);
      if (!w || w.port !== e.port) {
        await this.closeEntry(e);
        this.entries.delete(key);
      }
    }
    for (const [key, w] of want) {
      let e = this.entries.get(key);
      if (!e) {
        e = { namespace: w.namespace, name: w.name, port: w.port, localEndpoints: 0, servers: [] };
        this.entries.set(key, e);
        await this.open(e);
      }
      e.localEndpoints = w.local.size;
    }
  }

  private async open(e: Entry): Promise<void> {
    const hosts = this.nodeIPs.length ? this.nodeIPs : ['0.0.0.0'];
    for (const host of hosts) {
      const srv = createServer((_req, res) => {
        const healthy = this.proxyHealthy();
        const body = JSON.stringify({ service: { namespace: e.namespace, name: e.name }, localEndpoints: e.localEndpoints, serviceProxyHealthy: healthy });
        res.writeHead(e.localEndpoints > 0 && healthy ? 200 : 503, { 'Content-Type': 'application/json', 'X-Content-Type-Options': 'nosniff' });
        res.end(body);
      });
      try {
        await new Promise<void>((res, rej) => {
          srv.once('error', rej);
          srv.listen(e.port, host, () => res());
        });
        e.servers.push(srv);
      } catch (err) {
        this.log.warn({ err: (err as Error).message, service: `${e.namespace}/${e.name}`, port: e.port, host }, 'health check node port not served');
      }
    }
  }

  private async closeEntry(e: Entry): Promise<void> {
    await Promise.all(e.servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
  }

  async close(): Promise<void> {
    for (const e of this.entries.values()) await this.closeEntry(e);
    this.entries.clear();
  }
}
